// The webhook's own SQL (the ledger does the rest): record the event id once and lock its bill.
import type { SqlClient, Statement } from "../../db/sql";

export interface WebhookEventRecord {
  id: string;
  type: string;
  paymentId: string;
  reference: string;
  amount: string;
  currency: string;
}

export interface ClaimedEvent {
  /** False when this event id was recorded before: a duplicate delivery. */
  claimed: boolean;
  /** The payment request the event is about (by payment id, else by our reference), if any. */
  requestId: string | null;
  /** Its bill, now row-locked. */
  billId: string | null;
}

/**
 * Records the event id, with the payment request it names (by payment id, else by our reference),
 * and row-locks that request's bill, in one statement. A concurrent delivery of the same id waits on
 * the unique index and then finds it taken; events for one bill wait on its row lock, so they apply
 * one at a time.
 */
export async function claimEventAndLockBill(tx: SqlClient, event: WebhookEventRecord): Promise<ClaimedEvent> {
  const [row] = await tx.query<{ claimed: boolean; request_id: string | null; bill_id: string | null; locked: string | number }>(
    `WITH request AS (
       SELECT r.id, r.bill_id FROM payment_requests r
       WHERE r.payment_id = $3 OR r.reference = $6
       ORDER BY (r.payment_id IS NOT DISTINCT FROM $3) DESC
       LIMIT 1),
     claimed AS (
       INSERT INTO payment_events (id, type, payment_id, amount, currency, outcome, payment_request_id)
       SELECT $1, $2, $3, $4::numeric, $5, 'received', (SELECT id FROM request)
       ON CONFLICT (id) DO NOTHING
       RETURNING id),
     locked AS (
       SELECT b.id FROM bills b WHERE EXISTS (SELECT 1 FROM claimed) AND b.id = (SELECT bill_id FROM request) FOR UPDATE)
     SELECT EXISTS (SELECT 1 FROM claimed) AS claimed,
            (SELECT id FROM request) AS request_id,
            (SELECT bill_id FROM request) AS bill_id,
            (SELECT count(*) FROM locked) AS locked`,
    [event.id, event.type, event.paymentId, event.amount, event.currency, event.reference],
  );
  // The lock is what makes the read after it safe: never go on without it.
  if (row.claimed && row.request_id && Number(row.locked) !== 1) throw new Error(`the bill of payment request ${row.request_id} was not locked`);
  return { claimed: row.claimed, requestId: row.request_id, billId: row.bill_id };
}

/** What the event did; the claim already recorded which request it names. */
export function eventOutcomeStatement(eventId: string, outcome: string, detail: string | null): Statement {
  return { text: "UPDATE payment_events SET outcome = $2, detail = $3 WHERE id = $1", values: [eventId, outcome, detail?.slice(0, 500) ?? null] };
}
