// The money rules of docs/money.md as a checker any test can run after any step:
//
//   const state = await assertMoneyInvariants(t, { billId, token });
//
// It reads the bill's whole money state in ONE statement (readMoneyState), checks it against the
// rules (checkMoneyState: pure, no I/O), then checks that the API's figures (status, unpaid list,
// CSV export, bill details, history, and optionally the creator's summary) agree with the database
// (checkMoneyApi). Every broken rule is a Violation with a code naming the rule:
//
//   schema            a column or table of the ledger's schema is missing
//   1.split-sum       an applied split does not add up to the total
//   2.paid            paid_amount is not the sum of the participant's payments
//   2.outstanding     outstanding_amount is not max(share - paid, 0) (0: cancelled, creator, no share)
//   2.refund          refund_due is not max(paid - share, 0) (everything paid on a cancelled bill)
//   3.request-amount  an open request does not ask exactly the participant's outstanding amount
//   3.one-open        a participant has more than one open request
//   3.closed-bill     an open request on a cancelled or completed bill
//   3.orphan          an open request for someone who is not on the bill (a removed participant's tombstone included)
//   8.removed         a removed participant (tombstone) owes something, or is not owed back all they paid
//   3.currency        an open request in another currency than the bill's
//   4.balance         received != applied + refund due, or payments the participants do not add up to
//   4.status, 4.unpaid, 4.csv, 4.summary
//                     a report disagrees with the database sums
//   4.details         the bill's details disagree with the database (status, shares, payment status)
//   5.completed       the bill is completed when it should not be, or not when it should
//   6.chain, 6.current, 6.repeat, 6.removed, 6.name, 6.api
//                     the status history of the bill or of a participant is inconsistent
//   7.status          a participant's payment status contradicts their balance or open requests
//                     (docs/money.md, state diagram; not cancelled bills)
//   events.once       two payments recorded for one payment-system event
//   9.collectable     a payment the payment system can still collect whose request here is not open
//                     asking that amount with that payment, and no job is queued that will make it so
//                     (checkPaymentSystem, given what the payment system holds)
//   9.collected       a payment the payment system collected that is not counted here once, for its
//                     request's participant, with the amount collected; or one counted it never collected
//
// Amounts are compared as exact decimals (decimal.js), never as floats or strings.
import Decimal from "decimal.js";
import type { SqlClient } from "../../src/db/sql";
import request from "supertest";
import { API, as } from "./http";
import type { TestApp } from "./test-app";

// ---------------------------------------------------------------------------------------------
// The state

export interface BillState {
  id: string;
  status: string;
  total_amount: string | null;
  currency: string | null;
  split_method: string | null;
  needs_resplit: boolean;
  creator_id: string;
}

export interface ParticipantState {
  id: string;
  name: string;
  is_creator: boolean;
  /** Set on a removed participant's tombstone (read into MoneyState.removedParticipants). */
  removed_at?: string | null;
  payment_status: string;
  amount_to_pay: string | null;
  paid_amount: string | null;
  outstanding_amount: string | null;
  refund_due: string | null;
}

export interface RequestState {
  id: string;
  participant_id: string;
  amount: string;
  currency: string;
  status: string;
  payment_id: string | null;
  reference: string;
  status_reason: string | null;
}

export interface PaymentState {
  id: string;
  participant_id: string | null;
  payment_request_id: string | null;
  amount: string;
  currency: string | null;
  source: string | null;
  event_id: string | null;
}

export interface HistoryState {
  id: string;
  participant_id: string | null;
  participant_name: string | null;
  entity_type: string;
  previous_status: string | null;
  new_status: string;
  changed_by: string;
  reason: string | null;
  created_at: string;
}

export interface EventState {
  id: string;
  type: string;
  outcome: string;
  payment_request_id: string | null;
}

export interface MoneyState {
  /** Columns and tables of the ledger's schema that the database does not have (read as null / empty). */
  missing: string[];
  bill: BillState;
  /** The people on the bill, in its order: created_at, id. */
  participants: ParticipantState[];
  /** Removed participants' tombstones: they owe nothing, and all they paid is refund due. */
  removedParticipants: ParticipantState[];
  requests: RequestState[];
  payments: PaymentState[];
  /** Insertion order: created_at, id (uuid v7). */
  history: HistoryState[];
  /** payment_events naming one of the bill's requests or recorded as one of its payments. */
  events: EventState[];
}

export interface Violation {
  code: string;
  message: string;
}

/** A participant no longer on the bill, with every name they had (history rows keep the name). */
export interface RemovedParticipant {
  id: string;
  names: string[];
}

// ---------------------------------------------------------------------------------------------
// Reading it: one statement. The statement is built once per database from the columns it has, so
// the checker runs (and reports `schema`) before the ledger's migration exists.

const EXPECTED: Record<string, string[]> = {
  bills: ["id", "status", "total_amount", "currency", "split_method", "needs_resplit", "creator_id"],
  participants: ["id", "bill_id", "name", "is_creator", "payment_status", "amount_to_pay", "paid_amount", "outstanding_amount", "refund_due", "created_at"],
  payment_requests: ["id", "bill_id", "participant_id", "amount", "currency", "status", "payment_id", "reference", "status_reason", "created_at"],
  payments: ["id", "bill_id", "participant_id", "payment_request_id", "amount", "currency", "source", "event_id", "created_at"],
  status_history: ["id", "bill_id", "participant_id", "participant_name", "entity_type", "previous_status", "new_status", "changed_by", "reason", "created_at"],
  payment_events: ["id", "type", "outcome", "payment_request_id"],
};

interface StateQuery {
  text: string;
  missing: string[];
}

const queries = new WeakMap<object, Promise<StateQuery>>();

async function stateQuery(sql: SqlClient): Promise<StateQuery> {
  let query = queries.get(sql);
  if (!query) {
    query = buildStateQuery(sql);
    queries.set(sql, query);
    query.catch(() => queries.delete(sql));
  }
  return query;
}

async function buildStateQuery(sql: SqlClient): Promise<StateQuery> {
  const rows = await sql.query<{ table_name: string; column_name: string }>(
    `SELECT table_name::text AS table_name, column_name::text AS column_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = ANY($1::text[])`,
    [Object.keys(EXPECTED)],
  );
  const has = new Set(rows.map((r) => `${r.table_name}.${r.column_name}`));
  const tables = new Set(rows.map((r) => r.table_name));
  const missing: string[] = [];
  for (const [table, columns] of Object.entries(EXPECTED)) {
    if (!tables.has(table)) missing.push(`table ${table}`);
    else for (const c of columns) if (!has.has(`${table}.${c}`)) missing.push(`column ${table}.${c}`);
  }
  // A column as text (exact numerics, enum labels), or NULL when the database does not have it.
  const col = (table: string, alias: string, column: string) =>
    has.has(`${table}.${column}`) ? `${alias}.${column}::text AS ${column}` : `NULL::text AS ${column}`;
  const raw = (table: string, alias: string, column: string, fallback: string) =>
    has.has(`${table}.${column}`) ? `${alias}.${column}` : `${fallback} AS ${column}`;
  const list = (from: string, columns: string, order: string) =>
    `(SELECT coalesce(json_agg(x ORDER BY ${order}), '[]'::json) FROM (SELECT ${columns} FROM ${from}) x)`;
  const payments =
    tables.has("payments") && has.has("payments.bill_id")
      ? list(
          "payments y WHERE y.bill_id = $1::uuid",
          ["id", "participant_id", "payment_request_id", "amount", "currency", "source", "event_id"].map((c) => col("payments", "y", c)).join(", ") +
            `, ${has.has("payments.created_at") ? "y.created_at" : "NULL::timestamptz AS created_at"}`,
          "x.created_at, x.id",
        )
      : "'[]'::json";
  // Two index lookups (by request, by event id) rather than one OR that scans every event.
  const paymentEventIds =
    tables.has("payments") && has.has("payments.event_id") && has.has("payments.bill_id")
      ? " UNION SELECT * FROM payment_events WHERE id IN (SELECT event_id FROM payments WHERE bill_id = $1::uuid AND event_id IS NOT NULL)"
      : "";
  const text = `
    SELECT
      (SELECT row_to_json(x) FROM (
         SELECT b.id::text AS id, b.status::text AS status, b.total_amount::text AS total_amount, b.currency::text AS currency,
                b.split_method::text AS split_method, b.needs_resplit, b.creator_id::text AS creator_id
           FROM bills b WHERE b.id = $1::uuid) x) AS bill,
      ${list(
        "participants p WHERE p.bill_id = $1::uuid",
        [
          "p.id::text AS id",
          "p.name",
          "p.is_creator",
          "p.payment_status::text AS payment_status",
          col("participants", "p", "amount_to_pay"),
          col("participants", "p", "paid_amount"),
          col("participants", "p", "outstanding_amount"),
          col("participants", "p", "refund_due"),
          raw("participants", "p", "removed_at", "NULL::timestamptz"),
          "p.created_at",
        ].join(", "),
        "x.created_at, x.id",
      )} AS participants,
      ${list(
        "payment_requests r WHERE r.bill_id = $1::uuid",
        "r.id::text AS id, r.participant_id::text AS participant_id, r.amount::text AS amount, r.currency::text AS currency, r.status::text AS status, r.payment_id, r.reference, " +
          `${col("payment_requests", "r", "status_reason")}, r.created_at`,
        "x.created_at, x.id",
      )} AS requests,
      ${payments} AS payments,
      ${list(
        "status_history h WHERE h.bill_id = $1::uuid",
        "h.id::text AS id, h.participant_id::text AS participant_id, " +
          `${col("status_history", "h", "participant_name")}, h.entity_type::text AS entity_type, h.previous_status, h.new_status, h.changed_by, h.reason, h.created_at`,
        "x.created_at, x.id",
      )} AS history,
      ${list(
        `(SELECT * FROM payment_events WHERE payment_request_id IN (SELECT id FROM payment_requests WHERE bill_id = $1::uuid)${paymentEventIds}) e`,
        `e.id, e.type, ${raw("payment_events", "e", "outcome", "NULL::text")}, e.payment_request_id::text AS payment_request_id`,
        "x.id",
      )} AS events`;
  return { text, missing };
}

const json = <T>(v: unknown): T => (typeof v === "string" ? (JSON.parse(v) as T) : (v as T));

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The bill's whole money state, in one statement. `inline` writes the bill id into the text instead
 * of binding it: on PGlite a bound parameter costs more than the whole query (use it there only; on
 * PostgreSQL each distinct text would become a prepared statement of its own).
 */
export async function readMoneyState(sql: SqlClient, billId: string, options: { inline?: boolean } = {}): Promise<MoneyState> {
  const { text, missing } = await stateQuery(sql);
  if (!UUID.test(billId)) throw new Error(`readMoneyState: ${billId} is not a uuid`);
  const [row] = options.inline
    ? await sql.query<Record<string, unknown>>(text.replaceAll("$1::uuid", `'${billId}'::uuid`))
    : await sql.query<Record<string, unknown>>(text, [billId]);
  const bill = json<BillState | null>(row?.bill ?? null);
  if (!bill) throw new Error(`readMoneyState: no bill ${billId}`);
  const everyone = json<(ParticipantState & { created_at?: unknown })[]>(row.participants).map(({ created_at: _, ...p }) => p);
  const participants = everyone.filter((p) => !p.removed_at).map(({ removed_at: _, ...p }) => p);
  const removedParticipants = everyone.filter((p) => p.removed_at);
  const requests = json<(RequestState & { created_at?: unknown })[]>(row.requests).map(({ created_at: _, ...r }) => r);
  const payments = json<(PaymentState & { created_at?: unknown })[]>(row.payments).map(({ created_at: _, ...p }) => p);
  const history = json<HistoryState[]>(row.history).map((h) => ({ ...h, created_at: String(h.created_at) }));
  const events = json<EventState[]>(row.events);
  return { missing, bill, participants, removedParticipants, requests, payments, history, events };
}

/** A canonical text of the state: equal texts, nothing changed. */
export function moneySnapshot(state: MoneyState, options: { withEvents?: boolean } = {}): string {
  const { missing: _, events, ...rest } = state;
  return JSON.stringify(options.withEvents === false ? rest : { ...rest, events });
}

/** What differs between two snapshots of the same bill, briefly (for failure messages). */
export function describeChange(before: MoneyState, after: MoneyState): string {
  const lines: string[] = [];
  const keys: (keyof MoneyState)[] = ["bill", "participants", "removedParticipants", "requests", "payments", "history", "events"];
  for (const key of keys) {
    const a = JSON.stringify(before[key]);
    const b = JSON.stringify(after[key]);
    if (a === b) continue;
    if (Array.isArray(before[key]) && Array.isArray(after[key])) {
      const old = new Set((before[key] as unknown[]).map((x) => JSON.stringify(x)));
      const now = new Set((after[key] as unknown[]).map((x) => JSON.stringify(x)));
      for (const x of old) if (!now.has(x)) lines.push(`  ${key} - ${x}`);
      for (const x of now) if (!old.has(x)) lines.push(`  ${key} + ${x}`);
    } else {
      lines.push(`  ${key}: ${a} -> ${b}`);
    }
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// The rules, on the database state (pure)

const ZERO = new Decimal(0);
const dec = (v: string | null | undefined): Decimal | null => (v === null || v === undefined ? null : new Decimal(v));
const max0 = (d: Decimal) => (d.isNegative() ? ZERO : d);
const sum = (values: Decimal[]) => values.reduce((a, b) => a.plus(b), ZERO);
const show = (d: Decimal | null) => (d === null ? "null" : d.toFixed());
const isOpen = (status: string) => status === "pending" || status === "sent";

/** What the rules say each participant's figures must be, from the share and the payments. */
export interface ExpectedBalance {
  participant: ParticipantState;
  share: Decimal | null;
  /** Sum of the payments recorded for them. */
  received: Decimal;
  outstanding: Decimal;
  refundDue: Decimal;
  applied: Decimal;
}

export function splitApplied(state: MoneyState): boolean {
  const { bill, participants } = state;
  return bill.split_method !== null && !bill.needs_resplit && participants.length > 0 && participants.every((p) => p.amount_to_pay !== null);
}

export function expectedBalances(state: MoneyState): ExpectedBalance[] {
  const cancelled = state.bill.status === "cancelled";
  return state.participants.map((p) => {
    const share = dec(p.amount_to_pay);
    const received = sum(state.payments.filter((x) => x.participant_id === p.id).map((x) => new Decimal(x.amount)));
    const outstanding = cancelled || p.is_creator || share === null ? ZERO : max0(share.minus(received));
    const refundDue = cancelled && !p.is_creator ? received : max0(received.minus(share ?? ZERO));
    return { participant: p, share, received, outstanding, refundDue, applied: received.minus(refundDue) };
  });
}

/** The bill's figures as the database's columns give them (what every report must show). */
export interface BillFigures {
  received: Decimal;
  applied: Decimal;
  appliedExcludingCreator: Decimal;
  creatorShare: Decimal;
  outstanding: Decimal;
  refundDue: Decimal;
}

/** The people on the bill and the removed ones' tombstones: money counts for both. */
export function everyone(state: MoneyState): ParticipantState[] {
  return [...state.participants, ...(state.removedParticipants ?? [])];
}

export function billFigures(state: MoneyState): BillFigures {
  const paid = (p: ParticipantState) => dec(p.paid_amount) ?? ZERO;
  const refund = (p: ParticipantState) => dec(p.refund_due) ?? ZERO;
  return {
    received: sum(state.payments.map((x) => new Decimal(x.amount))),
    applied: sum(everyone(state).map((p) => paid(p).minus(refund(p)))),
    appliedExcludingCreator: sum(
      everyone(state)
        .filter((p) => !p.is_creator)
        .map((p) => paid(p).minus(refund(p))),
    ),
    creatorShare: sum(state.participants.filter((p) => p.is_creator).map((p) => dec(p.amount_to_pay) ?? ZERO)),
    outstanding: sum(everyone(state).map((p) => dec(p.outstanding_amount) ?? ZERO)),
    refundDue: sum(everyone(state).map(refund)),
  };
}

export interface CheckOptions {
  /** Participants removed from the bill: their history must end in "removed". */
  removed?: RemovedParticipant[];
}

export function checkMoneyState(state: MoneyState, options: CheckOptions = {}): Violation[] {
  const out: Violation[] = [];
  const v = (code: string, message: string) => out.push({ code, message });
  const { bill, participants, requests, payments } = state;
  const who = (p: ParticipantState) => `${p.name} (${p.id.slice(-6)})`;
  const byId = new Map(participants.map((p) => [p.id, p]));
  const has = (column: string) => !state.missing.includes(`column ${column}`) && !state.missing.includes(`table ${column.split(".")[0]}`);

  for (const m of state.missing) v("schema", `${m} is missing (the ledger's schema, docs/money.md)`);

  // 1. An applied split adds up to the total.
  const applied = splitApplied(state);
  if (applied) {
    const shares = sum(participants.map((p) => new Decimal(p.amount_to_pay!)));
    const total = dec(bill.total_amount);
    if (total === null || !shares.equals(total)) {
      v(
        "1.split-sum",
        `the ${bill.split_method} split gives ${shares.toFixed()} of a total of ${show(total)}: ${participants.map((p) => `${who(p)} ${p.amount_to_pay}`).join(", ")}`,
      );
    }
  }

  // 2. Each participant's figures follow from their share and their payments.
  const expected = expectedBalances(state);
  for (const e of expected) {
    const p = e.participant;
    const paid = dec(p.paid_amount);
    if (has("participants.paid_amount") && (paid === null || !paid.equals(e.received))) {
      v("2.paid", `${who(p)}: paid_amount ${show(paid)}, but their payments sum to ${e.received.toFixed()}`);
    }
    const outstanding = dec(p.outstanding_amount);
    if (has("participants.outstanding_amount") && (outstanding === null || !outstanding.equals(e.outstanding))) {
      v(
        "2.outstanding",
        `${who(p)}: outstanding_amount ${show(outstanding)}, expected ${e.outstanding.toFixed()} (share ${show(e.share)}, received ${e.received.toFixed()}, bill ${bill.status}${p.is_creator ? ", creator" : ""})`,
      );
    }
    const refund = dec(p.refund_due);
    if (has("participants.refund_due") && (refund === null || !refund.equals(e.refundDue))) {
      v(
        "2.refund",
        `${who(p)}: refund_due ${show(refund)}, expected ${e.refundDue.toFixed()} (share ${show(e.share)}, received ${e.received.toFixed()}, bill ${bill.status})`,
      );
    }
  }
  const expectedOf = new Map(expected.map((e) => [e.participant.id, e]));

  // 3. Open requests ask exactly what is owed; one at most; none on a closed bill.
  const closed = bill.status === "cancelled" || bill.status === "completed";
  const openBy = new Map<string, RequestState[]>();
  for (const r of requests) {
    // A request closed before the bill's currency changed stays in the old one (superseded).
    if (!isOpen(r.status)) continue;
    if (bill.currency && r.currency !== bill.currency)
      v("3.currency", `request ${r.id.slice(-6)} is ${r.status} in ${r.currency}, the bill in ${bill.currency}`);
    openBy.set(r.participant_id, [...(openBy.get(r.participant_id) ?? []), r]);
    if (closed) v("3.closed-bill", `request ${r.id.slice(-6)} (${r.amount}) is still ${r.status} on a ${bill.status} bill`);
    const p = byId.get(r.participant_id);
    if (!p) {
      v("3.orphan", `request ${r.id.slice(-6)} is ${r.status} for participant ${r.participant_id}, who is not on the bill`);
      continue;
    }
    const owed = has("participants.outstanding_amount") ? dec(p.outstanding_amount) : expectedOf.get(p.id)!.outstanding;
    if (owed === null || !new Decimal(r.amount).equals(owed) || owed.isZero()) {
      v("3.request-amount", `request ${r.id.slice(-6)} (${r.status}) asks ${who(p)} for ${new Decimal(r.amount).toFixed()}, who owes ${show(owed)}`);
    }
  }
  for (const [pid, open] of openBy) {
    if (open.length > 1)
      v(
        "3.one-open",
        `${byId.get(pid) ? who(byId.get(pid)!) : pid} has ${open.length} open requests: ${open.map((r) => `${r.amount} ${r.status}`).join(", ")}`,
      );
  }

  // 4. The bill: received = applied + refund due, and no payment outside the participants' balances.
  const figures = billFigures(state);
  const paidSum = sum(everyone(state).map((p) => dec(p.paid_amount) ?? ZERO));
  // 8. A removed participant's tombstone owes nothing and is owed back all it received.
  for (const p of state.removedParticipants ?? []) {
    const received = sum(payments.filter((x) => x.participant_id === p.id).map((x) => new Decimal(x.amount)));
    if (!(dec(p.paid_amount) ?? ZERO).equals(received))
      v("2.paid", `removed ${who(p)}: paid_amount ${p.paid_amount}, but their payments sum to ${received.toFixed()}`);
    if (!(dec(p.outstanding_amount) ?? ZERO).isZero()) v("8.removed", `removed ${who(p)} still owes ${p.outstanding_amount}`);
    if (!(dec(p.refund_due) ?? ZERO).equals(received)) v("8.removed", `removed ${who(p)}: refund_due ${p.refund_due}, but they paid ${received.toFixed()}`);
  }
  if (!figures.received.equals(figures.applied.plus(figures.refundDue)) || !figures.received.equals(paidSum)) {
    v(
      "4.balance",
      `received ${figures.received.toFixed()} (payments), paid_amount sums to ${paidSum.toFixed()}, applied ${figures.applied.toFixed()} + refund due ${figures.refundDue.toFixed()}`,
    );
  }
  for (const x of payments) {
    if (!x.participant_id || !everyone(state).some((p) => p.id === x.participant_id))
      v("4.balance", `payment ${x.id.slice(-6)} of ${x.amount} belongs to ${x.participant_id ?? "nobody"}, not a participant of the bill`);
    if (bill.currency && x.currency && x.currency !== bill.currency)
      v("4.balance", `payment ${x.id.slice(-6)} is in ${x.currency}, the bill in ${bill.currency}`);
    if (!new Decimal(x.amount).isPositive() || new Decimal(x.amount).isZero()) v("4.balance", `payment ${x.id.slice(-6)} of ${x.amount}`);
    if (x.source !== null && x.source !== "payment_system" && x.source !== "offline") v("4.balance", `payment ${x.id.slice(-6)} has source ${x.source}`);
  }
  const seenEvents = new Map<string, number>();
  for (const x of payments) if (x.event_id) seenEvents.set(x.event_id, (seenEvents.get(x.event_id) ?? 0) + 1);
  for (const [id, n] of seenEvents) if (n > 1) v("events.once", `event ${id} was applied ${n} times`);

  // 5. Completed exactly when not cancelled, split applied, and nobody owes anything.
  const owing = participants.filter((p) =>
    (has("participants.outstanding_amount") ? (dec(p.outstanding_amount) ?? ZERO) : expectedOf.get(p.id)!.outstanding).greaterThan(0),
  );
  const shouldComplete = bill.status !== "cancelled" && applied && owing.length === 0;
  if (shouldComplete !== (bill.status === "completed")) {
    v(
      "5.completed",
      shouldComplete
        ? `the bill is ${bill.status}, but its ${bill.split_method} split is applied and nobody owes anything`
        : `the bill is completed, but ${!applied ? "its split is not applied" : `${owing.map(who).join(", ")} still owe(s)`}`,
    );
  }

  // 6. History chains.
  checkHistory(state, options, v);

  // 7. Payment status agrees with the balance and the open requests (not on a cancelled bill).
  if (bill.status !== "cancelled") {
    for (const e of expected) {
      const p = e.participant;
      const open = openBy.get(p.id) ?? [];
      if (!p.is_creator && e.share !== null) {
        if (p.payment_status === "paid" && e.outstanding.greaterThan(0))
          v("7.status", `${who(p)} is paid but owes ${e.outstanding.toFixed()} (share ${e.share.toFixed()}, received ${e.received.toFixed()})`);
        if (p.payment_status !== "paid" && e.share.greaterThan(0) && e.received.greaterThanOrEqualTo(e.share))
          v("7.status", `${who(p)} is ${p.payment_status} but received ${e.received.toFixed()} of a share of ${e.share.toFixed()}`);
      }
      if (open.length > 0 && p.payment_status !== "requested")
        v("7.status", `${who(p)} is ${p.payment_status} with an open request (${open.map((r) => `${r.amount} ${r.status}`).join(", ")})`);
      if (open.length === 0 && p.payment_status === "requested") v("7.status", `${who(p)} is requested but has no open request`);
    }
  }
  return out;
}

function checkHistory(state: MoneyState, options: CheckOptions, v: (code: string, message: string) => void): void {
  const rows = state.history;
  const chain = (label: string, entityRows: HistoryState[], current: string | null) => {
    if (entityRows.length === 0) {
      v("6.chain", `${label} has no history row`);
      return;
    }
    const first = entityRows[0];
    if (first.previous_status !== null)
      v("6.chain", `${label}: the first row is ${first.previous_status} -> ${first.new_status} (expected a null previous status)`);
    for (let i = 1; i < entityRows.length; i += 1) {
      const a = entityRows[i - 1];
      const b = entityRows[i];
      if (b.previous_status !== a.new_status)
        v("6.chain", `${label}: row ${i + 1} goes ${b.previous_status} -> ${b.new_status} after ${a.previous_status} -> ${a.new_status} ("${b.reason ?? ""}")`);
      // The same transition twice in a row is a double write; the one self-transition the states
      // allow is requested -> requested (superseded by a request for a new amount).
      if (a.previous_status === b.previous_status && a.new_status === b.new_status && !(b.previous_status === "requested" && b.new_status === "requested")) {
        v("6.repeat", `${label}: ${b.previous_status} -> ${b.new_status} recorded twice in a row ("${a.reason ?? ""}", "${b.reason ?? ""}")`);
      }
    }
    for (const r of entityRows) {
      if (r.previous_status !== null && r.previous_status === r.new_status && r.new_status !== "requested")
        v("6.repeat", `${label}: a ${r.new_status} -> ${r.new_status} row ("${r.reason ?? ""}")`);
    }
    const last = entityRows[entityRows.length - 1];
    if (current !== null && last.new_status !== current) v("6.current", `${label} is ${current}, its last history row says ${last.new_status}`);
  };

  chain(
    "the bill",
    rows.filter((r) => r.entity_type === "bill"),
    state.bill.status,
  );
  for (const p of state.participants) {
    chain(
      `participant ${p.name} (${p.id.slice(-6)})`,
      rows.filter((r) => r.entity_type === "participant" && r.participant_id === p.id),
      p.payment_status,
    );
  }
  const living = new Set(state.participants.map((p) => p.id));
  for (const removed of options.removed ?? []) {
    if (living.has(removed.id)) {
      v("6.removed", `participant ${removed.names.at(-1)} (${removed.id.slice(-6)}) was removed but is still on the bill`);
      continue;
    }
    const own = rows.filter(
      (r) =>
        r.entity_type === "participant" &&
        (r.participant_id === removed.id || (r.participant_id === null && r.participant_name !== null && removed.names.includes(r.participant_name))),
    );
    const label = `removed participant ${removed.names.at(-1)} (${removed.id.slice(-6)})`;
    if (own.length === 0) {
      v("6.removed", `${label}: no history row names them any more (by id or by name)`);
      continue;
    }
    chain(label, own, null);
    if (own[own.length - 1].new_status !== "removed") v("6.removed", `${label}: the last history row says ${own[own.length - 1].new_status}, not removed`);
  }
  if (!state.missing.includes("column status_history.participant_name")) {
    for (const r of rows) {
      if ((r.entity_type === "participant" || r.entity_type === "payment_request") && !r.participant_name) {
        v("6.name", `a ${r.entity_type} history row (${r.previous_status} -> ${r.new_status}, "${r.reason ?? ""}") does not keep the participant's name`);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The payment system agrees with the ledger (docs/money.md, "The ledger's edges")

/** A payment as the payment system holds it. */
export interface PaymentSystemPayment {
  id: string;
  /** Our payment request id, its key there. */
  requestId: string;
  amount: string;
  currency: string;
  status: "pending" | "succeeded" | "failed" | "expired" | "cancelled";
  /** A payer can still pay it (pending and not past its expiry). */
  collectable: boolean;
  /** What it collected (succeeded). */
  collected?: string;
}

/** Work queued that will bring the payment system in line: payment-cancel jobs (by payment id), hand-over jobs or answers still on their way (by request id). */
export interface PaymentSystemWork {
  cancels: ReadonlySet<string>;
  handOvers: ReadonlySet<string>;
}

/**
 * What the payment system can still collect belongs to an open request here asking that amount,
 * with that payment recorded, unless queued work will see to it (a payment-cancel job for it, or
 * its request's hand-over still to be answered); with no work queued (`work` empty: the jobs have
 * run), exactly. Every payment it collected is counted here once, for its request's participant,
 * with the amount it collected (money in a currency the bill no longer has is left to a person:
 * docs/money.md); and nothing is counted from the payment system that it did not collect. Only the
 * payments of this bill's requests are looked at.
 */
export function checkPaymentSystem(
  state: MoneyState,
  held: readonly PaymentSystemPayment[],
  work: PaymentSystemWork = { cancels: new Set(), handOvers: new Set() },
): Violation[] {
  const out: Violation[] = [];
  const v = (code: string, message: string) => out.push({ code, message });
  const requests = new Map(state.requests.map((r) => [r.id, r]));
  const ours = held.filter((p) => requests.has(p.requestId));
  for (const p of ours) {
    const r = requests.get(p.requestId)!;
    const label = `payment ${p.id} (${p.amount} ${p.currency}) of request ${r.id.slice(-6)}`;
    if (p.collectable) {
      const recorded = r.payment_id === p.id || (r.payment_id === null && work.handOvers.has(r.id));
      const fits = isOpen(r.status) && new Decimal(r.amount).equals(p.amount) && recorded;
      if (!fits && !work.cancels.has(p.id) && !work.handOvers.has(r.id)) {
        v(
          "9.collectable",
          `${label} can still be collected, but the request is ${r.status} for ${r.amount} with payment ${r.payment_id ?? "none"}, and no job will cancel it`,
        );
      }
    }
    const counted = state.payments.filter((x) => x.payment_request_id === r.id && x.source !== "offline");
    // Collected in a currency the bill no longer has: a mismatch, left to a person (not counted).
    if (p.status === "succeeded" && p.currency !== state.bill.currency) {
      if (counted.length)
        v(
          "9.collected",
          `${label} was collected in ${p.currency}, but the bill is in ${state.bill.currency}, and ${counted.map((x) => x.amount).join(", ")} is counted for it`,
        );
    } else if (p.status === "succeeded") {
      const ok = counted.length === 1 && new Decimal(counted[0].amount).equals(p.collected ?? p.amount) && counted[0].participant_id === r.participant_id;
      if (!ok)
        v(
          "9.collected",
          `${label} collected ${p.collected ?? p.amount}; counted here: ${counted.map((x) => `${x.amount} for ${x.participant_id?.slice(-6)}`).join(", ") || "nothing"}`,
        );
    } else if (counted.length) {
      v("9.collected", `${label} is ${p.status} at the payment system, but ${counted.map((x) => x.amount).join(", ")} is counted for it`);
    }
  }
  const known = new Set(ours.map((p) => p.requestId));
  for (const x of state.payments) {
    if (x.source !== "offline" && x.payment_request_id && !known.has(x.payment_request_id))
      v("9.collected", `a payment of ${x.amount} is counted for request ${x.payment_request_id.slice(-6)}, which the payment system never had`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The reports agree with the database

/** RFC 4180: rows of cells. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i += 1;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += c;
  }
  if (cell !== "" || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

export interface ApiCheckOptions {
  /** The token's user created this bill and no other: the summary report covers exactly it. */
  summaryCoversOnlyThisBill?: boolean;
  /** Also compare the bill's details and its status history with the database (default true). */
  detailsAndHistory?: boolean;
  /** A server already listening on the app (http://host:port): saves supertest a server per request. */
  baseUrl?: string;
}

type ApiResponse = request.Response;

/** GETs as the token's user, through `baseUrl` when given, else straight to the app. */
function getter(t: TestApp, token: string, baseUrl: string | undefined) {
  if (!baseUrl) return (path: string) => as(t, token).get(path);
  return (path: string) =>
    request(baseUrl)
      .get(API + path)
      .set("Authorization", `Bearer ${token}`);
}

/** Fetches the reports about the bill (they do not depend on the state read: run both at once). */
export async function fetchReports(t: TestApp, token: string, billId: string, options: ApiCheckOptions = {}) {
  const get = getter(t, token, options.baseUrl);
  const both = options.detailsAndHistory !== false;
  const [status, unpaid, csv, details, history, summary] = await Promise.all([
    get(`/bills/${billId}/status`),
    get(`/bills/${billId}/participants/unpaid`),
    get(`/bills/${billId}/export.csv`),
    both ? get(`/bills/${billId}`) : undefined,
    both ? get(`/bills/${billId}/status-history`) : undefined,
    options.summaryCoversOnlyThisBill ? get("/reports/summary") : undefined,
  ]);
  return { status, unpaid, csv, details, history, summary };
}

export type Reports = Awaited<ReturnType<typeof fetchReports>>;

/** Compares each report the API gives about the bill with the database state just read. */
export async function checkMoneyApi(t: TestApp, token: string, state: MoneyState, options: ApiCheckOptions = {}): Promise<Violation[]> {
  return compareReports(state, await fetchReports(t, token, state.bill.id, options));
}

/** The reports against the database state (pure). */
export function compareReports(state: MoneyState, reports: Reports): Violation[] {
  const out: Violation[] = [];
  const v = (code: string, message: string) => out.push({ code, message });
  const { status, unpaid, csv, details, history, summary } = reports;
  const fig = billFigures(state);
  const byId = new Map(state.participants.map((p) => [p.id, p]));
  const outstandingOf = (p: ParticipantState) => dec(p.outstanding_amount) ?? ZERO;

  /** An amount field of a report against the database's figure; null counts as zero where allowed. */
  const amount = (code: string, where: string, value: unknown, want: Decimal, nullIsZero = false) => {
    if (value === undefined) return v(code, `${where} is missing`);
    if (value === null && nullIsZero) {
      if (!want.isZero()) v(code, `${where} is null, the database says ${want.toFixed()}`);
      return;
    }
    if (typeof value !== "string" || !/^-?\d+(\.\d+)?$/.test(value)) return v(code, `${where} is ${JSON.stringify(value)}, not an amount`);
    if (!new Decimal(value).equals(want)) v(code, `${where} is ${value}, the database says ${want.toFixed()}`);
  };
  const answered = (code: string, route: string, res: ApiResponse) => {
    if (res.status === 200) return true;
    v(code, `${route} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
    return false;
  };

  if (answered("4.status", "GET status", status)) {
    const totals = status.body.totals ?? {};
    if (status.body.status !== state.bill.status) v("4.status", `status says the bill is ${status.body.status}, the database ${state.bill.status}`);
    amount("4.status", "status totals.receivedAmount", totals.receivedAmount, fig.received);
    amount("4.status", "status totals.appliedAmount", totals.appliedAmount, fig.applied);
    amount("4.status", "status totals.outstandingAmount", totals.outstandingAmount, fig.outstanding);
    amount("4.status", "status totals.refundDueAmount", totals.refundDueAmount, fig.refundDue);
    // paidAmount is what is settled: money applied plus the creator's own share (settled by definition).
    amount("4.status", "status totals.paidAmount", totals.paidAmount, fig.applied.plus(fig.creatorShare));
    amount("4.status", "status totals.unpaidAmount", totals.unpaidAmount, fig.outstanding);
  }

  if (answered("4.unpaid", "GET participants/unpaid", unpaid)) {
    amount("4.unpaid", "unpaid unpaidAmount", unpaid.body.unpaidAmount, fig.outstanding, true);
    const items = (unpaid.body.items ?? []) as { id: string; name: string; amountOwed: unknown }[];
    const owing = state.participants.filter((p) => outstandingOf(p).greaterThan(0));
    const listed = new Set(items.map((i) => i.id));
    for (const p of owing) if (!listed.has(p.id)) v("4.unpaid", `unpaid list leaves out ${p.name}, who owes ${outstandingOf(p).toFixed()}`);
    for (const i of items) {
      const p = byId.get(i.id);
      if (!p) v("4.unpaid", `unpaid list names ${i.name} (${i.id}), not on the bill`);
      else if (!outstandingOf(p).greaterThan(0))
        v("4.unpaid", `unpaid list names ${p.name} (owes ${JSON.stringify(i.amountOwed)}), whose outstanding is ${outstandingOf(p).toFixed()}`);
      else amount("4.unpaid", `unpaid amountOwed of ${p.name}`, i.amountOwed, outstandingOf(p));
    }
  }

  if (answered("4.csv", "GET export.csv", csv)) {
    const rows = parseCsv(csv.text ?? "").filter((r) => r.some((c) => c !== ""));
    const header = rows[0] ?? [];
    const column = (name: string) => header.indexOf(name);
    const needed = ["participant", "amount_to_pay", "paid_amount", "outstanding", "refund_due"];
    const missing = needed.filter((n) => column(n) < 0);
    if (missing.length) v("4.csv", `export.csv has no ${missing.join(", ")} column (header: ${header.join(",")})`);
    const lines = rows.slice(1);
    // Removed participants stay in the export (marked removed_at), so its rows add up to the totals.
    const all = everyone(state);
    if (lines.length !== all.length) v("4.csv", `export.csv has ${lines.length} participant rows, the bill ${all.length} participants`);
    else {
      const names = all.map((p) => p.name);
      const unique = new Set(names).size === names.length;
      const csvName = (cell: string) => (cell.startsWith("'") ? cell.slice(1) : cell);
      for (let i = 0; i < all.length; i += 1) {
        const p = all[i];
        const line = unique ? lines.find((l) => csvName(l[column("participant")] ?? "") === p.name) : lines[i];
        if (!line) {
          v("4.csv", `export.csv has no row for ${p.name}`);
          continue;
        }
        const cell = (name: string, want: Decimal | null) => {
          const at = column(name);
          if (at < 0) return;
          const value = line[at] ?? "";
          if (want === null) {
            if (value !== "") v("4.csv", `export.csv ${name} of ${p.name} is ${value}, the database has none`);
            return;
          }
          amount("4.csv", `export.csv ${name} of ${p.name}`, value === "" ? null : value, want);
        };
        cell("amount_to_pay", dec(p.amount_to_pay));
        cell("paid_amount", dec(p.paid_amount) ?? ZERO);
        cell("outstanding", outstandingOf(p));
        cell("refund_due", dec(p.refund_due) ?? ZERO);
      }
    }
  }

  if (details && answered("4.details", "GET bill", details)) {
    if (details.body.status !== state.bill.status) v("4.details", `the bill reads ${details.body.status}, the database ${state.bill.status}`);
    for (const item of (details.body.participants ?? []) as { id: string; name: string; amountToPay: unknown; paymentStatus: string }[]) {
      const p = byId.get(item.id);
      if (!p) v("4.details", `the bill lists ${item.name}, who is not on it`);
      else {
        if (item.paymentStatus !== p.payment_status) v("4.details", `the bill says ${p.name} is ${item.paymentStatus}, the database ${p.payment_status}`);
        const share = dec(p.amount_to_pay);
        if (share === null ? item.amountToPay !== null : typeof item.amountToPay !== "string" || !new Decimal(item.amountToPay).equals(share)) {
          v("4.details", `the bill gives ${p.name} a share of ${JSON.stringify(item.amountToPay)}, the database ${show(share)}`);
        }
      }
    }
  }

  if (history && answered("6.api", "GET status-history", history)) {
    const items = (history.body.items ?? []) as {
      entity: string;
      participantId: string | null;
      participantName: string | null;
      previousStatus: string | null;
      newStatus: string;
    }[];
    const rows = state.history;
    if (items.length !== rows.length) v("6.api", `status-history lists ${items.length} rows, the database has ${rows.length}`);
    else {
      rows.forEach((r, i) => {
        const it = items[i];
        if (it.entity !== r.entity_type || it.participantId !== r.participant_id || it.previousStatus !== r.previous_status || it.newStatus !== r.new_status) {
          v(
            "6.api",
            `status-history row ${i + 1} is ${it.entity} ${it.previousStatus} -> ${it.newStatus}, the database ${r.entity_type} ${r.previous_status} -> ${r.new_status}`,
          );
        } else if (r.participant_name !== null && it.participantName !== r.participant_name) {
          v("6.api", `status-history row ${i + 1} names ${JSON.stringify(it.participantName)}, the database row ${r.participant_name}`);
        }
      });
    }
  }

  if (summary && answered("4.summary", "GET reports/summary", summary)) {
    const entries = (summary.body.currencies ?? []) as Record<string, unknown>[];
    const entry = entries.find((c) => c.currency === state.bill.currency);
    if (state.bill.status !== "cancelled") {
      if (!entry) v("4.summary", `the summary has no ${state.bill.currency} entry for an open bill`);
      else {
        amount("4.summary", "summary collected", entry.collected, fig.appliedExcludingCreator);
        amount("4.summary", "summary outstanding", entry.outstanding, fig.outstanding);
        amount("4.summary", "summary refundDue", entry.refundDue, fig.refundDue);
      }
    } else if (entry) {
      amount("4.summary", "summary outstanding (cancelled bill)", entry.outstanding, ZERO);
      amount("4.summary", "summary refundDue (cancelled bill)", entry.refundDue, fig.refundDue);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// All of it

export interface MoneyCheck extends CheckOptions, ApiCheckOptions {
  billId: string;
  /** The creator's token: the API checks run as them (omit to check the database only). */
  token?: string;
}

export async function checkMoney(t: TestApp, check: MoneyCheck): Promise<{ state: MoneyState; violations: Violation[] }> {
  // Nothing writes meanwhile: the state and the reports are read at once.
  const [state, reports] = await Promise.all([
    readMoneyState(t.db.sql, check.billId, { inline: t.db.kind === "pglite" }),
    check.token ? fetchReports(t, check.token, check.billId, check) : undefined,
  ]);
  const violations = checkMoneyState(state, check);
  if (reports) violations.push(...compareReports(state, reports));
  return { state, violations };
}

/** Does `code` fall under one of the prefixes ("4" covers "4.status"; "schema" covers "schema")? */
export function matchesCode(code: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => code === p || code.startsWith(`${p}.`));
}

export class MoneyInvariantError extends Error {
  constructor(
    readonly violations: Violation[],
    readonly state: MoneyState | undefined,
    context = "",
  ) {
    super(
      `${context ? `${context}: ` : ""}${violations.length} money rule(s) broken\n${formatViolations(violations)}${state ? `\n${describeState(state)}` : ""}`,
    );
    this.name = "MoneyInvariantError";
  }
}

export function formatViolations(violations: Violation[]): string {
  return violations.map((x) => `  [${x.code}] ${x.message}`).join("\n");
}

/** The state in a few lines, for failure messages. */
export function describeState(state: MoneyState): string {
  const b = state.bill;
  const lines = [
    `  bill ${b.id}: ${b.status}, total ${b.total_amount} ${b.currency}, split ${b.split_method ?? "none"}${b.needs_resplit ? " (needs re-split)" : ""}`,
  ];
  for (const p of state.participants) {
    lines.push(
      `  participant ${p.name} (${p.id.slice(-6)})${p.is_creator ? " creator" : ""}: ${p.payment_status}, share ${p.amount_to_pay}, paid ${p.paid_amount}, outstanding ${p.outstanding_amount}, refund ${p.refund_due}`,
    );
  }
  for (const r of state.requests)
    lines.push(`  request ${r.id.slice(-6)} for ${r.participant_id.slice(-6)}: ${r.amount} ${r.status}${r.status_reason ? ` (${r.status_reason})` : ""}`);
  for (const x of state.payments)
    lines.push(`  payment ${x.id.slice(-6)} for ${x.participant_id?.slice(-6)}: ${x.amount} ${x.source}${x.event_id ? ` event ${x.event_id}` : ""}`);
  return lines.join("\n");
}

/** Throws MoneyInvariantError listing every broken rule (except those under `ignore`); returns the state. */
export async function assertMoneyInvariants(t: TestApp, check: MoneyCheck & { ignore?: readonly string[]; context?: string }): Promise<MoneyState> {
  const { state, violations } = await checkMoney(t, check);
  const kept = violations.filter((x) => !matchesCode(x.code, check.ignore ?? []));
  if (kept.length) throw new MoneyInvariantError(kept, state, check.context);
  return state;
}
