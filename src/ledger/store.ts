// The ledger's SQL: lock a bill, read its whole money state in one statement, and write a
// decision's changes in one statement (data-modifying CTEs with their rows as JSON). The texts are
// fixed, so each is prepared once per connection (db/sql.ts).
import Decimal from "decimal.js";
import { v7 as uuidv7 } from "uuid";
import { calendarDate, jsonColumn, type SqlClient } from "../db/sql";
import { insertEventsCte, type NewBillEvent } from "../events/events.store";
import type { PlannedNotification } from "./ports";
import type { Changes, LedgerBill, LedgerParticipant, LedgerRequest, LedgerState } from "./model";

/** Row-locks the bill (and only the user's own, when a user is given); false when there is none. */
export async function lockBill(tx: SqlClient, billId: string, userId: string | null): Promise<boolean> {
  const rows = await tx.query("SELECT id FROM bills WHERE id = $1::uuid AND ($2::text IS NULL OR creator_id = $2::text) FOR UPDATE", [billId, userId]);
  return rows.length === 1;
}

const READ_STATE = `
  SELECT b.id, b.creator_id, b.status::text AS status, b.total_amount::text AS total_amount, b.currency,
         b.split_method::text AS split_method, b.needs_resplit, b.merchant_name, to_char(b.bill_date, 'YYYY-MM-DD') AS bill_date, b.note,
         b.user_set_fields, b.line_items, b.completed_at, b.cancelled_at,
         COALESCE((SELECT json_agg(json_build_object(
                    'id', p.id, 'name', p.name, 'userId', p.user_id, 'phone', p.phone, 'email', p.email,
                    'isBankCustomer', p.is_cake_user, 'isCreator', p.is_creator, 'aiFaceId', p.ai_face_id,
                    'share', p.amount_to_pay::text, 'percentage', p.percentage::text, 'weight', p.share_weight::text,
                    'status', p.payment_status, 'paid', p.paid_amount::text, 'outstanding', p.outstanding_amount::text,
                    'refundDue', p.refund_due::text, 'paidAt', p.paid_at, 'paymentMethod', p.payment_method,
                    'paymentNote', p.payment_note, 'createdAt', p.created_at, 'removedAt', p.removed_at,
                    'removedReason', p.removed_reason) ORDER BY p.created_at, p.id)
                    FROM participants p WHERE p.bill_id = b.id), '[]') AS participants,
         COALESCE((SELECT json_agg(json_build_object(
                    'id', r.id, 'participantId', r.participant_id, 'amount', r.amount::text, 'currency', r.currency,
                    'channel', r.channel, 'status', r.status, 'reference', r.reference, 'payToken', r.pay_token,
                    'paymentId', r.payment_id, 'paymentLink', r.payment_link, 'qrCode', r.qr_code, 'qrCodeUrl', r.qr_code_url,
                    'statusReason', r.status_reason, 'statusReasonCode', r.status_reason_code, 'closedAt', r.closed_at, 'retryCount', r.retry_count,
                    'expiryDate', r.expiry_date, 'paidAt', r.paid_at, 'createdAt', r.created_at,
                    'counted', EXISTS (SELECT 1 FROM payments x WHERE x.bill_id = b.id AND x.payment_request_id = r.id)) ORDER BY r.created_at, r.id)
                    FROM payment_requests r
                   WHERE r.bill_id = b.id AND (r.status IN ('pending', 'sent') OR r.id = ANY($2::uuid[]))), '[]') AS requests,
         COALESCE((SELECT json_object_agg(x.participant_id, x.n)
                     FROM (SELECT participant_id, count(*) AS n FROM payment_requests
                            WHERE bill_id = b.id AND status IN ('failed', 'expired') GROUP BY participant_id) x), '{}') AS unpaid_counts
    FROM bills b
   WHERE b.id = $1::uuid`;

interface StateRow {
  id: string;
  creator_id: string;
  status: LedgerBill["status"];
  total_amount: string | null;
  currency: string | null;
  split_method: LedgerBill["splitMethod"];
  needs_resplit: boolean;
  merchant_name: string | null;
  bill_date: string | null;
  note: string | null;
  user_set_fields: string[];
  line_items: unknown;
  completed_at: Date | null;
  cancelled_at: Date | null;
  participants: unknown;
  requests: unknown;
  unpaid_counts: unknown;
}

type Json<T> = {
  [K in keyof T]: T[K] extends Decimal
    ? string
    : T[K] extends Decimal | null
      ? string | null
      : T[K] extends Date
        ? string
        : T[K] extends Date | null
          ? string | null
          : T[K];
};

const dec = (v: string | null) => (v === null ? null : new Decimal(v));
const date = (v: string | null) => (v === null ? null : new Date(v));

/**
 * The bill's money state; read after its lock, so it sees every earlier change. `requestIds`: closed
 * requests to include too (those a payment event or a hand-over names).
 */
export async function readState(tx: SqlClient, billId: string, requestIds: readonly string[] = []): Promise<LedgerState> {
  const state = await findState(tx, billId, requestIds);
  if (!state) throw new Error(`bill ${billId} vanished while locked`);
  return state;
}

/** The same read without a lock (a preview), or undefined when there is no such bill. */
export async function findState(client: SqlClient, billId: string, requestIds: readonly string[] = []): Promise<LedgerState | undefined> {
  const [row] = await client.query<StateRow>(READ_STATE, [billId, requestIds]);
  if (!row) return undefined;
  return {
    bill: {
      id: row.id,
      creatorUserId: row.creator_id,
      status: row.status,
      total: dec(row.total_amount),
      currency: row.currency,
      splitMethod: row.split_method,
      needsResplit: row.needs_resplit,
      merchantName: row.merchant_name,
      billDate: calendarDate(row.bill_date),
      note: row.note,
      userSetFields: row.user_set_fields ?? [],
      lineItems: row.line_items === null ? null : jsonColumn(row.line_items),
      completedAt: row.completed_at,
      cancelledAt: row.cancelled_at,
    },
    participants: jsonColumn(row.participants as Json<LedgerParticipant>[] | string).map((p) => ({
      ...p,
      share: dec(p.share),
      percentage: dec(p.percentage),
      weight: dec(p.weight),
      paid: new Decimal(p.paid),
      outstanding: new Decimal(p.outstanding),
      refundDue: new Decimal(p.refundDue),
      paidAt: date(p.paidAt),
      createdAt: new Date(p.createdAt),
      removedAt: date(p.removedAt),
    })),
    requests: jsonColumn(row.requests as Json<LedgerRequest>[] | string).map((r) => ({
      ...r,
      amount: new Decimal(r.amount),
      expiryDate: new Date(r.expiryDate),
      paidAt: date(r.paidAt),
      closedAt: date(r.closedAt),
      createdAt: new Date(r.createdAt),
    })),
    unpaidRequestCounts: Object.fromEntries(Object.entries(jsonColumn(row.unpaid_counts as Record<string, number> | string)).map(([k, v]) => [k, Number(v)])),
  };
}

// Every change of a decision in one statement. Each part is a data-modifying CTE over a JSON array
// of rows (empty when there is nothing to do); no two parts touch the same row (decide() makes sure).
const WRITE = `
WITH
bill_upd AS (
  UPDATE bills b SET status = x.status::bill_status, total_amount = x.total_amount::numeric, currency = x.currency,
         split_method = x.split_method::split_method, needs_resplit = x.needs_resplit, merchant_name = x.merchant_name,
         bill_date = x.bill_date::date, note = x.note,
         user_set_fields = ARRAY(SELECT json_array_elements_text(x.user_set_fields)),
         completed_at = x.completed_at, cancelled_at = x.cancelled_at, updated_at = $9::timestamptz
    FROM json_to_recordset($1::json) AS x(id uuid, status text, total_amount text, currency text, split_method text, needs_resplit boolean,
         merchant_name text, bill_date text, note text, user_set_fields json, completed_at timestamptz, cancelled_at timestamptz)
   WHERE b.id = x.id),
p_ins AS (
  INSERT INTO participants (id, bill_id, user_id, name, phone, email, is_cake_user, is_creator, ai_face_id, amount_to_pay, percentage,
         share_weight, payment_status, paid_amount, outstanding_amount, refund_due, paid_at, payment_method, payment_note, created_at, updated_at)
  SELECT x.id, $10::uuid, x.user_id, x.name, x.phone, x.email, x.is_cake_user, x.is_creator, x.ai_face_id, x.share::numeric, x.percentage::numeric,
         x.weight::numeric, x.status::participant_payment_status, x.paid::numeric, x.outstanding::numeric, x.refund_due::numeric, x.paid_at,
         x.payment_method, x.payment_note, x.created_at, $9::timestamptz
    FROM json_to_recordset($2::json) AS x(id uuid, user_id text, name text, phone text, email text, is_cake_user boolean, is_creator boolean,
         ai_face_id text, share text, percentage text, weight text, status text, paid text, outstanding text, refund_due text, paid_at timestamptz,
         payment_method text, payment_note text, created_at timestamptz)),
p_upd AS (
  UPDATE participants p SET user_id = x.user_id, name = x.name, phone = x.phone, email = x.email, is_cake_user = x.is_cake_user,
         amount_to_pay = x.share::numeric, percentage = x.percentage::numeric, share_weight = x.weight::numeric,
         payment_status = x.status::participant_payment_status, paid_amount = x.paid::numeric, outstanding_amount = x.outstanding::numeric,
         refund_due = x.refund_due::numeric, paid_at = x.paid_at, payment_method = x.payment_method, payment_note = x.payment_note,
         removed_at = x.removed_at, removed_reason = x.removed_reason, updated_at = $9::timestamptz
    FROM json_to_recordset($3::json) AS x(id uuid, user_id text, name text, phone text, email text, is_cake_user boolean,
         share text, percentage text, weight text, status text, paid text, outstanding text, refund_due text, paid_at timestamptz,
         payment_method text, payment_note text, removed_at timestamptz, removed_reason text)
   WHERE p.id = x.id AND p.bill_id = $10::uuid),
r_ins AS (
  INSERT INTO payment_requests (id, bill_id, participant_id, amount, currency, channel, reference, pay_token, status, expiry_date, retry_count,
         created_at, updated_at)
  SELECT x.id, $10::uuid, x.participant_id, x.amount::numeric, x.currency, x.channel::payment_channel, x.reference, x.pay_token,
         x.status::payment_request_status, x.expiry_date, x.retry_count, x.created_at, $9::timestamptz
    FROM json_to_recordset($4::json) AS x(id uuid, participant_id uuid, amount text, currency text, channel text, reference text, pay_token text,
         status text, expiry_date timestamptz, retry_count int, created_at timestamptz)),
r_upd AS (
  UPDATE payment_requests r SET status = x.status::payment_request_status, status_reason = x.status_reason,
         status_reason_code = x.status_reason_code, closed_at = x.closed_at,
         payment_id = COALESCE(r.payment_id, x.payment_id), payment_link = COALESCE(r.payment_link, x.payment_link),
         qr_code = COALESCE(r.qr_code, x.qr_code), qr_code_url = COALESCE(r.qr_code_url, x.qr_code_url),
         paid_at = COALESCE(x.paid_at, r.paid_at), updated_at = $9::timestamptz
    FROM json_to_recordset($5::json) AS x(id uuid, status text, status_reason text, status_reason_code text, closed_at timestamptz,
         payment_id text, payment_link text, qr_code text, qr_code_url text, paid_at timestamptz)
   WHERE r.id = x.id AND r.bill_id = $10::uuid),
pay_ins AS (
  INSERT INTO payments (id, bill_id, participant_id, payment_request_id, amount, currency, source, event_id, method, note, created_at)
  SELECT x.id, $10::uuid, x.participant_id, x.payment_request_id, x.amount::numeric, x.currency, x.source, x.event_id, x.method, x.note, $9::timestamptz
    FROM json_to_recordset($6::json) AS x(id uuid, participant_id uuid, payment_request_id uuid, amount text, currency text, source text,
         event_id text, method text, note text)),
h_ins AS (
  INSERT INTO status_history (id, bill_id, participant_id, participant_name, entity_type, previous_status, new_status, changed_by, reason,
         reason_code, created_at)
  SELECT x.id, $10::uuid, x.participant_id, x.participant_name, x.entity_type::status_entity, x.previous_status, x.new_status, $11::text,
         x.reason, x.reason_code, x.created_at
    FROM json_to_recordset($7::json) AS x(id uuid, participant_id uuid, participant_name text, entity_type text, previous_status text,
         new_status text, reason text, reason_code text, created_at timestamptz)),
n_ins AS (
  INSERT INTO notifications (id, bill_id, participant_id, recipient_user_id, type, channel, recipient, message, status, attempts, created_at,
         updated_at)
  SELECT x.id, $10::uuid, x.participant_id, x.recipient_user_id, x.type::notification_type, x.channel::notification_channel, x.recipient,
         x.message, 'pending', 0, x.created_at, x.created_at
    FROM json_to_recordset($8::json) AS x(id uuid, participant_id uuid, recipient_user_id text, type text, channel text, recipient text,
         message text, created_at timestamptz)),
e_upd AS (
  UPDATE payment_events SET outcome = $13, detail = $14 WHERE id = $12 AND $12::text IS NOT NULL),
-- The live events, sent with NOTIFY when this commits (events/events.store.ts).
${insertEventsCte("$10", "$15", "$9")}
SELECT (SELECT count(*) FROM ev_sent) AS events_sent`;

const s = (v: Decimal | null) => (v === null ? null : v.toFixed());

/** Writes a decision's changes (and the outcome of the event that caused them) in one statement. */
export async function writeChanges(
  tx: SqlClient,
  billId: string,
  changedBy: string,
  changes: Changes,
  extra: {
    notifications?: readonly PlannedNotification[];
    event?: { id: string; outcome: string; detail: string | null };
    /** Live events: the bill is locked, so their ids follow its commit order (events.store.ts). */
    events?: readonly NewBillEvent[];
    now: Date;
  },
): Promise<void> {
  const b = changes.bill;
  const participantRow = (p: LedgerParticipant) => ({
    id: p.id,
    user_id: p.userId,
    name: p.name,
    phone: p.phone,
    email: p.email,
    is_cake_user: p.isBankCustomer,
    is_creator: p.isCreator,
    ai_face_id: p.aiFaceId,
    share: s(p.share),
    percentage: s(p.percentage),
    weight: s(p.weight),
    status: p.status,
    paid: s(p.paid),
    outstanding: s(p.outstanding),
    refund_due: s(p.refundDue),
    paid_at: p.paidAt,
    payment_method: p.paymentMethod,
    payment_note: p.paymentNote,
    created_at: p.createdAt,
    removed_at: p.removedAt,
    removed_reason: p.removedReason,
  });
  // History rows in the order they were decided: uuid v7 ids and the command's time (the injected clock) keep that order.
  const at = extra.now;
  const values = [
    JSON.stringify(
      b
        ? [
            {
              id: b.id,
              status: b.status,
              total_amount: s(b.total),
              currency: b.currency,
              split_method: b.splitMethod,
              needs_resplit: b.needsResplit,
              merchant_name: b.merchantName,
              bill_date: b.billDate ? b.billDate.toISOString().slice(0, 10) : null,
              note: b.note,
              user_set_fields: b.userSetFields,
              completed_at: b.completedAt,
              cancelled_at: b.cancelledAt,
            },
          ]
        : [],
    ),
    JSON.stringify(changes.insertParticipants.map(participantRow)),
    JSON.stringify(changes.updateParticipants.map(participantRow)),
    JSON.stringify(
      changes.insertRequests.map((r) => ({
        id: r.id,
        participant_id: r.participantId,
        amount: s(r.amount),
        currency: r.currency,
        channel: r.channel,
        reference: r.reference,
        pay_token: r.payToken,
        status: r.status,
        expiry_date: r.expiryDate,
        retry_count: r.retryCount,
        created_at: r.createdAt,
      })),
    ),
    JSON.stringify(
      changes.updateRequests.map((r) => ({
        id: r.id,
        status: r.status,
        status_reason: r.statusReason,
        status_reason_code: r.statusReasonCode,
        closed_at: r.closedAt,
        payment_id: r.paymentId,
        payment_link: r.paymentLink,
        qr_code: r.qrCode,
        qr_code_url: r.qrCodeUrl,
        paid_at: r.paidAt,
      })),
    ),
    JSON.stringify(
      changes.payments.map((p) => ({
        id: p.id,
        participant_id: p.participantId,
        payment_request_id: p.paymentRequestId,
        amount: s(p.amount),
        currency: p.currency,
        source: p.source,
        event_id: p.eventId,
        method: p.method,
        note: p.note,
      })),
    ),
    JSON.stringify(
      changes.history.map((h) => ({
        id: uuidv7(),
        participant_id: h.participantId,
        participant_name: h.participantName,
        entity_type: h.entityType,
        previous_status: h.previousStatus,
        new_status: h.newStatus,
        reason: h.reason.slice(0, 500),
        reason_code: h.reasonCode,
        created_at: at,
      })),
    ),
    JSON.stringify(
      (extra.notifications ?? []).map((n) => ({
        id: n.id,
        participant_id: n.participantId,
        recipient_user_id: n.recipientUserId,
        type: n.type,
        channel: n.channel,
        recipient: n.recipient,
        message: n.message,
        created_at: n.createdAt,
      })),
    ),
    extra.now,
    billId,
    changedBy,
    extra.event?.id ?? null,
    extra.event?.outcome ?? null,
    extra.event?.detail?.slice(0, 500) ?? null,
    JSON.stringify(extra.events ?? []),
  ];
  await tx.query(WRITE, values);
}

/** True when a decision changes nothing (a refused or ignored command writes nothing but its event). */
export function isEmpty(changes: Changes): boolean {
  return (
    !changes.bill &&
    changes.insertParticipants.length === 0 &&
    changes.updateParticipants.length === 0 &&
    changes.insertRequests.length === 0 &&
    changes.updateRequests.length === 0 &&
    changes.payments.length === 0 &&
    changes.history.length === 0
  );
}
