// Plain-SQL writes for notifications (db/sql.ts): the outbox rows written in the transaction of
// the change that causes them, and the delivery results the notification job writes.
import type { SqlClient, Statement } from "../../db/sql";
import type { PlannedNotification } from "../../ledger/ports";

/** One message to one address on one channel, as its Notifications row (planned by the ledger). */
export type { PlannedNotification };

const COLUMNS = 9;

/** Inserts the rows as pending; their delivery job is enqueued in the same transaction. */
export function insertPendingStatement(rows: readonly PlannedNotification[]): Statement {
  const values = rows.flatMap((n) => [n.id, n.billId, n.participantId, n.recipientUserId, n.type, n.channel, n.recipient, n.message, n.createdAt]);
  const tuples = rows.map((_, i) => {
    const at = (k: number) => `$${i * COLUMNS + k}`;
    return `(${at(1)}::uuid, ${at(2)}::uuid, ${at(3)}::uuid, ${at(4)}, ${at(5)}::notification_type, ${at(6)}::notification_channel, ${at(7)}, ${at(8)}, 'pending', 0, ${at(9)}::timestamptz, ${at(9)}::timestamptz)`;
  });
  return {
    text: `INSERT INTO notifications (id, bill_id, participant_id, recipient_user_id, type, channel, recipient, message, status, attempts, created_at, updated_at)
           VALUES ${tuples.join(", ")}`,
    values,
  };
}

// A send's result (the notification job, modules/notifications), with the time of the change in
// updated_at. A row already sent stays sent.
export async function markSent(sql: SqlClient, ids: readonly string[], at: Date): Promise<void> {
  if (ids.length === 0) return;
  await sql.query(
    "UPDATE notifications SET status = 'sent', sent_at = $2::timestamptz, error = NULL, updated_at = $2::timestamptz WHERE id = ANY($1::uuid[]) AND status <> 'sent'",
    [ids, at],
  );
}

export async function markFailed(sql: SqlClient, id: string, error: string, at: Date): Promise<void> {
  await sql.query("UPDATE notifications SET status = 'failed', error = $2, updated_at = $3::timestamptz WHERE id = $1::uuid AND status <> 'sent'", [
    id,
    error.slice(0, 500),
    at,
  ]);
}
