// Writes StatusHistory rows. Every transition of a bill, participant or payment request goes
// through here, inside the transaction that makes the transition.
import { v7 as uuidv7 } from "uuid";
import type { Tx } from "../../db/database";
import type { Statement } from "../../db/sql";

export type ChangedBy = string; // a user id, or "webhook" / "system"

export interface StatusChange {
  billId: string;
  participantId?: string | null;
  entityType: "bill" | "participant" | "payment_request";
  previousStatus: string | null;
  newStatus: string;
  changedBy: ChangedBy;
  reason?: string;
}

export async function recordStatusChange(tx: Tx, change: StatusChange, at?: Date): Promise<void> {
  await tx.statusHistory.create({
    data: {
      id: uuidv7(),
      billId: change.billId,
      participantId: change.participantId ?? null,
      entityType: change.entityType,
      previousStatus: change.previousStatus,
      newStatus: change.newStatus,
      changedBy: change.changedBy,
      reason: change.reason?.slice(0, 500),
      ...(at ? { createdAt: at } : {}),
    },
  });
}

/** The same row as recordStatusChange, as a statement for a plain-SQL batch (db/sql.ts). */
export function statusChangeStatement(change: StatusChange): Statement {
  return {
    text: `INSERT INTO status_history (id, bill_id, participant_id, entity_type, previous_status, new_status, changed_by, reason, created_at)
      VALUES ($1::uuid, $2::uuid, $3::uuid, $4::status_entity, $5, $6, $7, $8, $9::timestamptz)`,
    values: [
      uuidv7(),
      change.billId,
      change.participantId ?? null,
      change.entityType,
      change.previousStatus,
      change.newStatus,
      change.changedBy,
      change.reason?.slice(0, 500) ?? null,
      new Date(),
    ],
  };
}
