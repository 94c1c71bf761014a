// Queries for payment requests, participants' payment state and webhook events. Prisma for the
// use cases; plain SQL (db/sql.ts) for the webhook, whose throughput is bounded by statements.
import type { Tx } from "../../db/database";
import { jsonColumn, type SqlClient, type Statement } from "../../db/sql";
import type { PaymentRequestStatus } from "../../domain/payment-status";
import type { Prisma } from "../../generated/prisma/client";

export type PaymentRequestRow = Prisma.PaymentRequestGetPayload<object>;

export function openRequestsOf(tx: Tx, participantId: string) {
  return tx.paymentRequest.findMany({ where: { participantId, status: { in: ["pending", "sent"] } }, orderBy: { createdAt: "asc" } });
}

// ---------------------------------------------------------------------------------------------
// The webhook, in plain SQL

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
}

/**
 * Records the event id, with the payment request it names (by payment id, else by our reference),
 * and row-locks that request's bill, in one statement. A concurrent delivery of the same id waits on
 * the unique index and then finds it taken; events for one bill wait on its row lock, so they apply
 * one at a time.
 */
export async function claimEventAndLockBill(tx: SqlClient, event: WebhookEventRecord): Promise<ClaimedEvent> {
  const [row] = await tx.query<{ claimed: boolean; request_id: string | null; locked: string | number }>(
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
            (SELECT count(*) FROM locked) AS locked`,
    [event.id, event.type, event.paymentId, event.amount, event.currency, event.reference],
  );
  // The lock is what makes the read after it safe: never go on without it.
  if (row.claimed && row.request_id && Number(row.locked) !== 1) throw new Error(`the bill of payment request ${row.request_id} was not locked`);
  return { claimed: row.claimed, requestId: row.request_id };
}

export interface PaymentState {
  request: {
    id: string;
    billId: string;
    participantId: string;
    status: PaymentRequestStatus;
    amount: string;
    currency: string;
    paymentId: string | null;
  };
  participant: { id: string; name: string; paymentStatus: string };
  bill: { id: string; status: string; merchantName: string | null; creatorUserId: string };
  /** Every participant of the bill, for the completion rule. */
  participants: { id: string; paymentStatus: string; amountToPay: string | null }[];
  /** The participant's other requests still pending or sent. */
  otherOpenRequests: number;
}

/** What applying an event needs, read after the bill's lock so it sees every earlier change. */
export async function readPaymentState(tx: SqlClient, requestId: string): Promise<PaymentState> {
  const [row] = await tx.query<{
    id: string;
    bill_id: string;
    participant_id: string;
    status: PaymentRequestStatus;
    amount: string;
    currency: string;
    payment_id: string | null;
    participant_name: string;
    participant_status: string;
    bill_status: string;
    merchant_name: string | null;
    creator_user_id: string;
    participants: PaymentState["participants"] | string;
    other_open_requests: number;
  }>(
    `SELECT r.id, r.bill_id, r.participant_id, r.status::text AS status, r.amount::text AS amount, r.currency, r.payment_id,
            p.name AS participant_name, p.payment_status::text AS participant_status,
            b.status::text AS bill_status, b.merchant_name, b.creator_user_id,
            (SELECT json_agg(json_build_object('id', o.id, 'paymentStatus', o.payment_status, 'amountToPay', o.amount_to_pay::text))
               FROM participants o WHERE o.bill_id = r.bill_id) AS participants,
            (SELECT count(*)::int FROM payment_requests o
               WHERE o.participant_id = r.participant_id AND o.id <> r.id AND o.status IN ('pending', 'sent')) AS other_open_requests
       FROM payment_requests r
       JOIN participants p ON p.id = r.participant_id
       JOIN bills b ON b.id = r.bill_id
      WHERE r.id = $1::uuid`,
    [requestId],
  );
  if (!row) throw new Error(`payment request ${requestId} vanished while its bill was locked`);
  return {
    request: { id: row.id, billId: row.bill_id, participantId: row.participant_id, status: row.status, amount: row.amount, currency: row.currency, paymentId: row.payment_id },
    participant: { id: row.participant_id, name: row.participant_name, paymentStatus: row.participant_status },
    bill: { id: row.bill_id, status: row.bill_status, merchantName: row.merchant_name, creatorUserId: row.creator_user_id },
    participants: jsonColumn(row.participants),
    otherOpenRequests: Number(row.other_open_requests),
  };
}

/** What the event did; the claim already recorded which request it names. */
export function eventOutcomeStatement(eventId: string, outcome: string, detail: string | null): Statement {
  return { text: "UPDATE payment_events SET outcome = $2, detail = $3 WHERE id = $1", values: [eventId, outcome, detail?.slice(0, 500) ?? null] };
}

export function updateRequestStatement(
  requestId: string,
  change: { status: PaymentRequestStatus; paymentId: string; paidAt: Date | null; reason: string; now: Date },
): Statement {
  return {
    text: `UPDATE payment_requests
              SET status = $2::payment_request_status, payment_id = COALESCE(payment_id, $3), paid_at = COALESCE($4::timestamptz, paid_at),
                  status_reason = $5, updated_at = $6::timestamptz
            WHERE id = $1::uuid`,
    values: [requestId, change.status, change.paymentId, change.paidAt, change.reason.slice(0, 300), change.now],
  };
}

export function cancelOtherOpenRequestsStatement(participantId: string, keepRequestId: string, reason: string, now: Date): Statement {
  return {
    text: `UPDATE payment_requests SET status = 'cancelled', status_reason = $3, updated_at = $4::timestamptz
            WHERE participant_id = $1::uuid AND id <> $2::uuid AND status IN ('pending', 'sent')`,
    values: [participantId, keepRequestId, reason, now],
  };
}

export function participantPaidStatement(participantId: string, amount: string, method: string, now: Date): Statement {
  return {
    text: `UPDATE participants SET payment_status = 'paid', paid_amount = $2::numeric, paid_at = $3::timestamptz, payment_method = $4, updated_at = $3::timestamptz
            WHERE id = $1::uuid`,
    values: [participantId, amount, now, method],
  };
}

export function participantStatusStatement(participantId: string, status: string, now: Date): Statement {
  return {
    text: "UPDATE participants SET payment_status = $2::participant_payment_status, updated_at = $3::timestamptz WHERE id = $1::uuid",
    values: [participantId, status, now],
  };
}

export function billCompletedStatement(billId: string, now: Date): Statement {
  return {
    text: "UPDATE bills SET status = 'completed', completed_at = $2::timestamptz, updated_at = $2::timestamptz WHERE id = $1::uuid",
    values: [billId, now],
  };
}
