// The SQL of live events (table bill_events, channel chillbill_bill_events): write a bill's events
// and NOTIFY them in the caller's transaction, read them back by id, and delete old ones.
//
// Why the ids can be trusted as a stream position: every writer appends a bill's events while it
// holds that bill's row lock (`lockBill` / the webhook's claim, both FOR UPDATE), and takes the ids
// from the bigserial after taking the lock. The next transaction on the bill waits for that lock,
// so it takes its ids after this one committed: within one bill, id order is commit order. PostgreSQL
// delivers notifications in commit order too. So a stream of one bill that has delivered id N has
// seen every event of the bill up to N, and "id > N" is exactly what it has not seen, whichever
// instance wrote it. (Across bills ids may commit out of order; no stream spans bills.)
import { jsonColumn, type SqlClient } from "../db/sql";

export const BILL_EVENTS_CHANNEL = "chillbill_bill_events";

/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more; a bigger event is sent as its id. */
export const MAX_NOTIFY_BYTES = 7999;

export type BillEventType = "bill.status" | "payment.received" | "payment.failed" | "ai.result";

export interface NewBillEvent {
  type: BillEventType;
  data: Record<string, unknown>;
}

export interface BillEvent extends NewBillEvent {
  /** The table's id: the stream position (SSE `id:`), the same on every instance. */
  id: number;
  billId: string;
  at: string;
}

/**
 * Two CTE parts for a statement's WITH list: `ev_ins` inserts the bill's events (a JSON array of
 * {type, data}, ids in array order) and `ev_sent` sends each with pg_notify, in id order. The caller's
 * final SELECT must read `ev_sent` (a SELECT in a CTE runs only when read), e.g.
 * `(SELECT count(*) FROM ev_sent)`. The arguments are the placeholders of the bill id, the events
 * and their time. No trigger: the migration runner cannot create a PL/pgSQL function (it splits
 * scripts on semicolons), and one statement keeps the write and its notices in one round trip.
 */
export function insertEventsCte(billId: string, events: string, at: string): string {
  return `ev_ins AS (
  INSERT INTO bill_events (bill_id, type, data, created_at)
  SELECT ${billId}::uuid, x.e->>'type', x.e->'data', ${at}::timestamptz
    FROM jsonb_array_elements(${events}::jsonb) WITH ORDINALITY AS x(e, n)
   ORDER BY x.n
  RETURNING id, bill_id, type, data, created_at),
ev_sent AS (
  SELECT e.id, pg_notify('${BILL_EVENTS_CHANNEL}', CASE WHEN octet_length(e.payload) <= ${MAX_NOTIFY_BYTES} THEN e.payload
                                              ELSE json_build_object('id', e.id, 'billId', e.bill_id)::text END)
    FROM (SELECT i.id, i.bill_id, json_build_object('id', i.id, 'billId', i.bill_id, 'type', i.type, 'at', i.created_at, 'data', i.data)::text AS payload
            FROM ev_ins i ORDER BY i.id) e)`;
}

const APPEND = `WITH ${insertEventsCte("$1", "$2", "$3")}
SELECT count(*)::int AS sent FROM ev_sent`;

/**
 * Writes a bill's events and notifies them, in the caller's transaction: they are sent when it
 * commits, and never when it rolls back. The caller must hold the bill's row lock (see above).
 */
export async function appendEvents(tx: SqlClient, billId: string, events: readonly NewBillEvent[], at: Date): Promise<void> {
  if (events.length === 0) return;
  await tx.query(APPEND, [billId, JSON.stringify(events), at]);
}

/** What a notification carries: the whole event, or only its id when the event is too big. */
export type Notified = { kind: "event"; event: BillEvent } | { kind: "id"; id: number; billId: string };

export function parseNotification(payload: string): Notified | undefined {
  try {
    const p = JSON.parse(payload) as { id?: unknown; billId?: unknown; type?: unknown; at?: unknown; data?: unknown };
    if (typeof p.id !== "number" || typeof p.billId !== "string") return undefined;
    if (typeof p.type !== "string") return { kind: "id", id: p.id, billId: p.billId };
    return { kind: "event", event: toEvent(p as EventRow) };
  } catch {
    return undefined;
  }
}

interface EventRow {
  id: number | string;
  billId: string;
  type: string;
  at: Date | string;
  data: unknown;
}

function toEvent(row: EventRow): BillEvent {
  return {
    id: Number(row.id),
    billId: row.billId,
    type: row.type as BillEventType,
    at: new Date(row.at).toISOString(),
    data: jsonColumn(row.data as Record<string, unknown> | string),
  };
}

/** The bill's events after `afterId`, oldest first, at most `limit`. */
export async function readEventsAfter(sql: SqlClient, billId: string, afterId: number, limit: number): Promise<BillEvent[]> {
  const rows = await sql.query<EventRow>(
    `SELECT id, bill_id AS "billId", type, created_at AS at, data FROM bill_events
      WHERE bill_id = $1::uuid AND id > $2::bigint ORDER BY id LIMIT $3`,
    [billId, afterId, limit],
  );
  return rows.map(toEvent);
}

/** The id of the bill's latest event, 0 when it has none. */
export async function latestEventId(sql: SqlClient, billId: string): Promise<number> {
  const [row] = await sql.query<{ id: string | number | null }>("SELECT max(id) AS id FROM bill_events WHERE bill_id = $1::uuid", [billId]);
  return Number(row?.id ?? 0);
}

/** Deletes up to `limit` events written before `before`, oldest first; returns how many. */
export async function deleteEventsBefore(sql: SqlClient, before: Date, limit: number): Promise<number> {
  const [row] = await sql.query<{ deleted: number }>(
    `WITH doomed AS (SELECT id FROM bill_events WHERE created_at < $1::timestamptz ORDER BY id LIMIT $2),
          gone AS (DELETE FROM bill_events e USING doomed d WHERE e.id = d.id RETURNING 1)
     SELECT count(*)::int AS deleted FROM gone`,
    [before, limit],
  );
  return row.deleted;
}
