// The payments module's own SQL (the ledger writes money state): the webhook's claim of an event
// and its bill's lock, the pay page's read of a request with its participant's balances, and
// reconciliation's choice of the requests to ask the payment system about.
import { calendarDate, type SqlClient, type Statement } from "../../db/sql";
import type { PaymentRequestStatus } from "../../domain/payment-status";
import type { PayPageView } from "./pay-page-state";

/**
 * A payment request as its pay page shows it: the request, its participant's balances and bill, and
 * the participant's current open request (what pay-page-state.ts decides on).
 */
export interface PayableRequest extends PayPageView {
  reference: string;
  paymentId: string | null;
  payToken: string;
  paymentLink: string | null;
  qrCode: string | null;
  participant: PayPageView["participant"] & { name: string; paymentStatus: string };
  bill: PayPageView["bill"] & { merchantName: string | null; billDate: Date | null };
}

/**
 * The request with this pay token, in one statement: the request, its participant's balances (as
 * the ledger wrote them), its bill, and the participant's other open request (pending or sent; the
 * ledger keeps at most one), the newest should there ever be two.
 */
export async function findByPayToken(sql: SqlClient, token: string): Promise<PayableRequest | undefined> {
  const [row] = await sql.query<{
    status: PaymentRequestStatus;
    status_reason_code: string | null;
    amount: string;
    currency: string;
    reference: string;
    payment_id: string | null;
    pay_token: string;
    payment_link: string | null;
    qr_code: string | null;
    participant_name: string;
    participant_status: string;
    paid_amount: string;
    outstanding_amount: string;
    refund_due: string;
    removed_at: Date | string | null;
    merchant_name: string | null;
    bill_date: string | null;
    bill_status: string;
    bill_currency: string | null;
    current_pay_token: string | null;
    current_amount: string | null;
    current_currency: string | null;
  }>(
    `SELECT r.status::text AS status, r.status_reason_code, r.amount::text AS amount, r.currency, r.reference, r.payment_id, r.pay_token,
            r.payment_link, r.qr_code,
            p.name AS participant_name, p.payment_status::text AS participant_status, p.paid_amount::text AS paid_amount,
            p.outstanding_amount::text AS outstanding_amount, p.refund_due::text AS refund_due, p.removed_at,
            b.merchant_name, to_char(b.bill_date, 'YYYY-MM-DD') AS bill_date, b.status::text AS bill_status, b.currency AS bill_currency,
            c.pay_token AS current_pay_token, c.amount::text AS current_amount, c.currency AS current_currency
       FROM payment_requests r
       JOIN participants p ON p.id = r.participant_id
       JOIN bills b ON b.id = r.bill_id
       LEFT JOIN LATERAL (
         SELECT o.pay_token, o.amount, o.currency FROM payment_requests o
          WHERE o.participant_id = r.participant_id AND o.id <> r.id AND o.status IN ('pending', 'sent') AND o.pay_token IS NOT NULL
          ORDER BY o.created_at DESC, o.id DESC LIMIT 1) c ON true
      WHERE r.pay_token = $1`,
    [token],
  );
  if (!row) return undefined;
  return {
    status: row.status,
    statusReasonCode: row.status_reason_code,
    amount: row.amount,
    currency: row.currency,
    reference: row.reference,
    paymentId: row.payment_id,
    payToken: row.pay_token,
    paymentLink: row.payment_link,
    qrCode: row.qr_code,
    participant: {
      name: row.participant_name,
      paymentStatus: row.participant_status,
      paid: row.paid_amount,
      outstanding: row.outstanding_amount,
      refundDue: row.refund_due,
      removedAt: row.removed_at === null ? null : new Date(row.removed_at),
    },
    bill: { merchantName: row.merchant_name, billDate: calendarDate(row.bill_date), status: row.bill_status, currency: row.bill_currency },
    current: row.current_pay_token ? { payToken: row.current_pay_token, amount: row.current_amount!, currency: row.current_currency! } : null,
  };
}

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

// Worth asking about: a request the payment system has (payment id) that is still sent, or that
// closed here with no payment counted (superseded, cancelled, expired, failed) less than the
// window ago: its webhook may have been lost before or while it closed. Paid ones were heard of.
const UNHEARD = `payment_id IS NOT NULL AND COALESCE(reconciled_at, updated_at) < $1::timestamptz
        AND (status = 'sent' OR (status IN ('cancelled', 'expired', 'failed') AND closed_at > $2::timestamptz
             AND NOT EXISTS (SELECT 1 FROM payments x WHERE x.payment_request_id = payment_requests.id)))`;

/**
 * Requests that nothing has been heard of since `before` (no webhook applied, and not asked about
 * by reconciliation), the longest-unheard first: sent ones, and those closed since `closedSince`.
 */
export async function findUnheardRequests(sql: SqlClient, scope: { before: Date; closedSince: Date; billId?: string; limit: number }): Promise<string[]> {
  const rows = await sql.query<{ id: string }>(
    `SELECT id FROM payment_requests
      WHERE ${UNHEARD} AND ($3::uuid IS NULL OR bill_id = $3::uuid)
      ORDER BY COALESCE(reconciled_at, updated_at), id LIMIT $4`,
    [scope.before, scope.closedSince, scope.billId ?? null, scope.limit],
  );
  return rows.map((r) => r.id);
}

/**
 * Records that reconciliation asks about a request now, and returns its payment id; undefined when
 * the request has no payment id, or (with `unheard`) is no longer worth asking about (UNHEARD):
 * another run or instance took it, or a webhook closed it. Not money state.
 */
export async function claimForReconciliation(
  sql: SqlClient,
  requestId: string,
  now: Date,
  unheard: { before: Date; closedSince: Date } | null,
): Promise<{ paymentId: string } | undefined> {
  const [row] = await sql.query<{ payment_id: string }>(
    unheard
      ? `UPDATE payment_requests SET reconciled_at = $3::timestamptz WHERE id = $4::uuid AND ${UNHEARD} RETURNING payment_id`
      : "UPDATE payment_requests SET reconciled_at = $1::timestamptz WHERE id = $2::uuid AND payment_id IS NOT NULL RETURNING payment_id",
    unheard ? [unheard.before, unheard.closedSince, now, requestId] : [now, requestId],
  );
  return row ? { paymentId: row.payment_id } : undefined;
}
