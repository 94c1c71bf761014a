// The money rules (docs/money.md) under random use: a model-based property test. Each run creates a
// user and a bill, then drives up to 30 random commands through the HTTP API (participants, payers
// removed too, every split method, the total and the currency, payment requests, payment-system
// events for current and superseded requests with exact, partial, excess and wrong-currency amounts,
// duplicates, expiry, mark-as-paid, cancel) and after every step checks the whole money state, in
// the database and in every report, with tests/support/money-invariants.ts. A command the state
// refuses (4xx) must change nothing; a 5xx is always a failure.
//
// The payment system is tests/support/model-payment-system.ts: it records every create, cancel and
// collection, and the hand-over is a step of its own that races the other commands. A request may
// be handed over with its answer held back (the payment exists there; the answer arrives when the
// test releases it) or lost (the hand-over job asks again); the jobs step releases the held answers
// (or not: then the job gets there first) and runs the hand-over and payment-cancel jobs. Between
// the two, a payer can pay at the payment system whatever it can still collect, a closed request's
// payment included while its cancel job has not run, and its signed webhook is delivered.
//
//   npm test -- tests/api/money-model.test.ts
//
// Environment:
//   MONEY_MODEL_RUNS=200            sequences (default 200)
//   MONEY_MODEL_SEED, MONEY_MODEL_PATH, MONEY_MODEL_REPLAY_PATH
//                                   replay a failure: the seed and path fast-check prints, and the
//                                   commands' replayPath (the /*replayPath="..."*/ comment)
//   MONEY_MODEL_IGNORE=schema,4.csv rule codes (or prefixes) not to fail on, e.g. while the ledger
//                                   is being written
//   MONEY_MODEL_SURVEY=1            never fail: run every sequence to the end and print, per rule,
//                                   how often it broke with one example
//   MONEY_MODEL_EVERY_REPORT=1      compare GET /bills/{id} and GET .../status-history with the
//                                   database after every step (default: at the end of each
//                                   sequence; the history rules themselves are checked on the
//                                   database after every step); about 25 % slower
//
// After every step: every rule of tests/support/money-invariants.ts (codes 1.* to 7.*, events.once),
// on the database and on the status, unpaid, CSV and summary reports, and 9.* against the payment
// system: what it can still collect belongs to an open request here asking that amount, unless a
// queued payment-cancel or hand-over job will see to it (exactly, with no job left, after the jobs
// step); what it collected is counted once. And per command:
//   cmd.5xx               any 5xx answer
//   cmd.refused-changed   a refused command (4xx) changed the money state
//   cmd.mark-as-paid      mark-as-paid did not record one offline payment of what was outstanding
//   events.duplicate      the same event id again was not answered "duplicate", or changed something;
//                         a new event id was answered "duplicate"
//   events.noop-changed   an event answered ignored / mismatch / unknown_payment changed the money state
//   money.lost            a payment-system success in the bill's currency (for a request that was not
//                         already paid) was not recorded as one payment of the amount it reports, for
//                         that participant: current, superseded, expired, failed or cancelled request
//   money.lost-removed    the same, for a request of a participant since removed from the bill
//   money.wrong           a failure, an expiry or a success in another currency recorded a payment
//   cmd.remove            removing someone on an open bill (a payer too) did not answer 204
//   jobs.failed           a hand-over or payment-cancel job failed while the payment system answered
import { createServer, type Server } from "node:http";
import Decimal from "decimal.js";
import fc from "fast-check";
import request, { type Response, type Test } from "supertest";
import { PAYMENT_SIGNATURE_HEADER, type PaymentEventBody } from "../../src/adapters/payments/payment-system";
import { minorUnits } from "../../src/domain/currency";
import { QUEUES } from "../../src/jobs/jobs";
import { API, as } from "../support/http";
import {
  assertMoneyInvariants,
  checkMoney,
  checkMoneyState,
  checkPaymentSystem,
  compareReports,
  describeChange,
  fetchReports,
  matchesCode,
  MoneyInvariantError,
  moneySnapshot,
  readMoneyState,
  type MoneyState,
  type PaymentSystemPayment,
  type PaymentSystemWork,
  type RemovedParticipant,
  type Violation,
} from "../support/money-invariants";
import { ModelPaymentSystem, type CreateAnswer } from "../support/model-payment-system";
import { listen } from "../support/net";
import { paymentEvent, postWebhook, webhookSignature } from "../support/payments";
import { createTestApp, newUserId, TestClock, type TestApp } from "../support/test-app";

// ---------------------------------------------------------------------------------------------
// Configuration

const intEnv = (name: string, fallback: number) => {
  const raw = process.env[name];
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got ${raw}`);
  return n;
};
const RUNS = intEnv("MONEY_MODEL_RUNS", 200);
const SEED = process.env.MONEY_MODEL_SEED ? intEnv("MONEY_MODEL_SEED", 0) : undefined;
const PATH = process.env.MONEY_MODEL_PATH || undefined;
const REPLAY_PATH = process.env.MONEY_MODEL_REPLAY_PATH || undefined;
const SURVEY = process.env.MONEY_MODEL_SURVEY === "1";
const IGNORE = SURVEY
  ? ["schema", "1", "2", "3", "4", "5", "6", "7", "events", "money", "cmd"]
  : (process.env.MONEY_MODEL_IGNORE ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
const MAX_COMMANDS = 30;
/** Read the bill's details and its status history through the API after every step, not only at the end. */
const EVERY_REPORT = process.env.MONEY_MODEL_EVERY_REPORT === "1";

/**
 * A test clock that moves with real time (plus whatever the test advanced it by): history rows
 * written with the database's now() and rows written with the app's clock stay in insertion order.
 */
class TickingClock extends TestClock {
  private offset = 0;
  override now(): Date {
    return new Date(Date.now() + this.offset);
  }
  override set(at: Date | string): void {
    this.offset = new Date(at).getTime() - Date.now();
  }
  override advance(ms: number): void {
    this.offset += ms;
  }
}

let t: TestApp;
const clock = new TickingClock();
const paymentSystem = new ModelPaymentSystem(clock);
// One server for the whole file: supertest would otherwise start one per request.
let server: Server;
let baseUrl: string;
beforeAll(async () => {
  t = await createTestApp({ clock, adapters: { payments: paymentSystem } });
  server = createServer(t.app);
  baseUrl = await listen(server);
}, 120_000);
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await t?.close();
  reportStats();
});

/** The API as the sequence's user. */
function api(r: { token: string }) {
  const auth = (req: Test) => req.set("Authorization", `Bearer ${r.token}`);
  return {
    get: (path: string) => auth(request(baseUrl).get(API + path)),
    post: (path: string) => auth(request(baseUrl).post(API + path)),
    put: (path: string) => auth(request(baseUrl).put(API + path)),
    delete: (path: string) => auth(request(baseUrl).delete(API + path)),
  };
}

/** A signed payment-system event (as postWebhook, through the file's server). */
function sendWebhook(event: PaymentEventBody) {
  const raw = JSON.stringify(event);
  return request(baseUrl)
    .post(`${API}/webhook/payment-callback`)
    .set("Content-Type", "application/json")
    .set(PAYMENT_SIGNATURE_HEADER, webhookSignature(raw, undefined, clock.now()))
    .send(raw);
}

// ---------------------------------------------------------------------------------------------
// What the runs did (printed at the end): commands answered and refused, webhook outcomes, and
// the rules broken (only non-zero when they are ignored or surveyed, or on the failing run).

const stats = {
  sequences: 0,
  steps: 0,
  ms: 0,
  commands: new Map<string, { ok: number; refused: number }>(),
  outcomes: new Map<string, number>(),
  refusals: new Map<string, number>(),
  /** How many sequences reached each situation (see situations()). */
  reached: new Map<string, number>(),
  /** Milliseconds spent sending commands, reading the state, reading the reports. */
  time: { send: 0, state: 0, reports: 0 },
  violations: new Map<string, { count: number; example: string }>(),
};

function countCommand(name: string, refused: boolean, why?: string) {
  const c = stats.commands.get(name) ?? { ok: 0, refused: 0 };
  if (refused) c.refused += 1;
  else c.ok += 1;
  stats.commands.set(name, c);
  if (refused && why) stats.refusals.set(why, (stats.refusals.get(why) ?? 0) + 1);
}

function reportStats() {
  if (stats.sequences === 0) return;
  const lines = [
    `money model: ${stats.sequences} sequences, ${stats.steps} steps, ${(stats.ms / 1000).toFixed(1)} s in sequences ` +
      `(commands ${(stats.time.send / 1000).toFixed(1)} s, state reads ${(stats.time.state / 1000).toFixed(1)} s, reports ${(stats.time.reports / 1000).toFixed(1)} s)`,
    `  commands (answered / refused): ${[...stats.commands].map(([k, v]) => `${k} ${v.ok}/${v.refused}`).join(", ")}`,
    `  webhook outcomes (type on request status -> outcome): ${[...stats.outcomes]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `  sequences that reached: ${[...stats.reached]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
    `  refusals: ${[...stats.refusals]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
  ];
  if (stats.violations.size) {
    lines.push("  rules broken (in how many checks, first example):");
    for (const [code, v] of [...stats.violations].sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))) {
      lines.push(`    [${code}] x${v.count}: ${v.example}`);
    }
  }
  console.log(lines.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Model and system

interface ModelParticipant {
  id: string;
  names: string[];
  isCreator: boolean;
  removed: boolean;
}

interface ModelRequest {
  id: string;
  participantId: string;
  paymentId: string | null;
  reference: string;
  amount: string;
  currency: string;
}

/** Minimal: the rules are checked against the system itself; the model only remembers ids. */
interface Model {
  participants: ModelParticipant[];
  /** Every request ever seen for the bill, superseded and closed ones included. */
  requests: ModelRequest[];
  /** Every webhook event accepted, for duplicates. */
  events: PaymentEventBody[];
  cancelled: boolean;
  counter: number;
}

interface Real {
  t: TestApp;
  userId: string;
  token: string;
  billId: string;
  currency: string;
  scale: number;
  /** The state after the last step. */
  state: MoneyState;
  /** The situations this sequence reached (coverage). */
  reached: Set<string>;
  /** The snapshot of the last state checked in full (rules and reports): the same state is not checked again. */
  verified: string;
  step: number;
  log: string[];
  /** Commands whose hand-over answer is held at the payment system: their HTTP answers come once it is released. */
  inflight: { label: string; answer: Promise<Response> }[];
}

const live = (m: Model) => m.participants.filter((p) => !p.removed);
const removedOf = (m: Model): RemovedParticipant[] => m.participants.filter((p) => p.removed).map((p) => ({ id: p.id, names: p.names }));
const short = (id: string) => id.slice(-6);

function learnRequests(m: Model, state: MoneyState) {
  for (const r of state.requests) {
    const known = m.requests.find((x) => x.id === r.id);
    const amount = new Decimal(r.amount).toFixed(minorUnits(r.currency));
    if (!known) m.requests.push({ id: r.id, participantId: r.participant_id, paymentId: r.payment_id, reference: r.reference, amount, currency: r.currency });
    else if (!known.paymentId && r.payment_id) known.paymentId = r.payment_id;
  }
}

/** Records the violations; throws for those not ignored. */
function judge(r: Real, context: string, violations: Violation[], state: MoneyState | undefined) {
  for (const v of violations) {
    const s = stats.violations.get(v.code) ?? { count: 0, example: `${v.message} (after: ${context})` };
    s.count += 1;
    stats.violations.set(v.code, s);
  }
  const kept = violations.filter((v) => !matchesCode(v.code, IGNORE));
  if (kept.length) throw new MoneyInvariantError(kept, state, `${context}\n  steps:\n    ${r.log.join("\n    ")}\n`);
}

/** The situations a state is in that the rules are most likely to get wrong, for the coverage line. */
function situations(state: MoneyState): string[] {
  const out: string[] = [];
  const n = (v: string | null) => new Decimal(v ?? 0);
  const { bill, participants, requests, payments } = state;
  if (bill.status === "completed") out.push("completed");
  if (bill.status === "cancelled") out.push("cancelled");
  if (bill.status === "cancelled" && participants.some((p) => n(p.refund_due).greaterThan(0))) out.push("cancelled-with-refund-due");
  if (bill.status !== "cancelled" && participants.some((p) => n(p.refund_due).greaterThan(0))) out.push("overpaid");
  if (participants.some((p) => n(p.paid_amount).greaterThan(0) && n(p.outstanding_amount).greaterThan(0))) out.push("partly-paid");
  if (bill.status !== "cancelled" && requests.some((r) => r.status === "cancelled")) out.push("superseded");
  if (payments.some((x) => ["cancelled", "expired", "failed"].includes(requests.find((r) => r.id === x.payment_request_id)?.status ?? "")))
    out.push("paid-a-closed-request");
  if (payments.some((x) => x.source === "offline")) out.push("offline-payment");
  if (bill.needs_resplit) out.push("needs-resplit");
  if (participants.some((p) => p.is_creator && p.amount_to_pay !== null)) out.push("creator-share");
  if (bill.split_method && bill.split_method !== "equal" && requests.length) out.push(`${bill.split_method}-requested`);
  if (state.removedParticipants.some((p) => n(p.paid_amount).greaterThan(0))) out.push("removed-payer");
  if (bill.currency === "EUR") out.push("currency-changed");
  return out;
}

const timed = async <T>(key: keyof typeof stats.time, work: () => Promise<T>): Promise<T> => {
  const began = performance.now();
  try {
    return await work();
  } finally {
    stats.time[key] += performance.now() - began;
  }
};
const readState = (r: Real) => timed("state", () => readMoneyState(r.t.db.sql, r.billId, { inline: r.t.db.kind === "pglite" }));

/** The payments the payment system holds for this bill's requests. */
function paymentSystemView(state: MoneyState): PaymentSystemPayment[] {
  const ours = new Set(state.requests.map((x) => x.id));
  return [...paymentSystem.payments.values()]
    .filter((p) => ours.has(p.requestId))
    .map((p) => ({
      id: p.id,
      requestId: p.requestId,
      amount: p.amount,
      currency: p.currency,
      status: p.status,
      collectable: paymentSystem.collectable(p),
      collected: p.collected?.amount,
    }));
}

/**
 * Work still queued that will bring the payment system in line with the ledger: payment-cancel jobs
 * (by payment id), and hand-over jobs or answers held at the payment system (by request id).
 */
async function queuedWork(r: Real): Promise<PaymentSystemWork> {
  const rows = await timed("state", () =>
    r.t.db.sql.query<{ name: string; request_id: string | null; payment_id: string | null }>(
      `SELECT name, data->>'requestId' AS request_id, data->>'paymentId' AS payment_id FROM ${r.t.config.jobs.schema}.job
        WHERE name IN ('${QUEUES.paymentHandOver}', '${QUEUES.paymentCancel}') AND state IN ('created', 'retry', 'active')`,
    ),
  );
  const held = paymentSystem.heldRequests();
  return {
    cancels: new Set(rows.filter((x) => x.name === QUEUES.paymentCancel).map((x) => x.payment_id!)),
    handOvers: new Set([...rows.filter((x) => x.name === QUEUES.paymentHandOver).map((x) => x.request_id!), ...held]),
  };
}

/**
 * Checks every rule on the database and the reports (status, unpaid, CSV, summary; at the end of a
 * sequence also the bill's details and the history) and against the payment system, adds the
 * step's own `extra` checks, and remembers the state. A state already checked in full (a command
 * that changed nothing) is not checked again: the rules and the reports are functions of it.
 * `jobsRan`: the hand-over and payment-cancel jobs have just run, so no work is left that could
 * excuse a payment the payment system can still collect.
 */
async function verify(
  m: Model,
  r: Real,
  context: string,
  extra: (after: MoneyState) => Violation[] = () => [],
  options: { final?: boolean; jobsRan?: boolean } = {},
) {
  const { final = false, jobsRan = false } = options;
  const state = await readState(r);
  const snapshot = moneySnapshot(state);
  const violations: Violation[] = [];
  if (final || jobsRan || snapshot !== r.verified) {
    violations.push(...checkMoneyState(state, { removed: removedOf(m) }));
    // Without the queued work first: the job table is read only when some payment needs excusing.
    const there = paymentSystemView(state);
    let against = checkPaymentSystem(state, there);
    if (!jobsRan && against.some((v) => v.code === "9.collectable")) against = checkPaymentSystem(state, there, await queuedWork(r));
    violations.push(...against);
    const reports = await timed("reports", () =>
      fetchReports(r.t, r.token, r.billId, { summaryCoversOnlyThisBill: true, detailsAndHistory: final || EVERY_REPORT, baseUrl }),
    );
    violations.push(...compareReports(state, reports));
    r.verified = snapshot;
  }
  violations.push(...extra(state));
  for (const s of situations(state)) r.reached.add(s);
  learnRequests(m, state);
  r.state = state;
  judge(r, context, violations, state);
}

/**
 * One HTTP command: 5xx fails; 4xx must change nothing; 2xx updates the model and is checked in full.
 * Returns the response when the command was carried out, undefined when it was refused.
 */
async function step(
  m: Model,
  r: Real,
  name: string,
  label: string,
  send: () => Promise<Response>,
  onSuccess: { model?: (res: Response) => void; check?: (res: Response, before: MoneyState, after: MoneyState) => Violation[] } = {},
): Promise<Response | undefined> {
  r.step += 1;
  stats.steps += 1;
  const before = r.state;
  const res = await timed("send", send);
  const context = `step ${r.step}: ${label} -> ${res.status}${res.body?.code ? ` ${res.body.code}` : ""}`;
  r.log.push(context);
  if (res.status >= 500) {
    countCommand(name, true);
    judge(r, context, [{ code: "cmd.5xx", message: `${label} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 500)}` }], before);
    r.state = await readState(r);
    return undefined;
  }
  if (res.status >= 400) {
    countCommand(name, true, `${name} ${res.status} ${res.body?.code ?? ""}`);
    const after = await readState(r);
    const violations: Violation[] = [];
    if (moneySnapshot(before) !== moneySnapshot(after)) {
      violations.push({
        code: "cmd.refused-changed",
        message: `${label} was refused (${res.status} ${res.body?.code ?? ""}) but changed the money state:\n${describeChange(before, after)}`,
      });
    }
    r.state = after;
    judge(r, context, violations, after);
    return undefined;
  }
  countCommand(name, false);
  onSuccess.model?.(res);
  await verify(m, r, context, (after) => onSuccess.check?.(res, before, after) ?? []);
  return res;
}

// ---------------------------------------------------------------------------------------------
// Amounts in minor units

const pow10 = (n: number) => new Decimal(10).pow(n);
const toUnits = (amount: string, scale: number) => BigInt(new Decimal(amount).times(pow10(scale)).toFixed(0));
const fromUnits = (units: bigint, scale: number) => new Decimal(units.toString()).dividedBy(pow10(scale)).toFixed(scale);

/** `total` in proportion to `weights` (largest remainder; ties to the first), exactly. */
function distribute(total: bigint, weights: readonly number[]): bigint[] {
  const w = weights.map((x) => BigInt(x));
  let sum = w.reduce((a, b) => a + b, 0n);
  if (sum === 0n) {
    w[0] = 1n;
    sum = 1n;
  }
  const shares = w.map((x) => (total * x) / sum);
  let left = total - shares.reduce((a, b) => a + b, 0n);
  const order = w.map((x, i) => ({ i, rem: (total * x) % sum })).sort((a, b) => (a.rem === b.rem ? a.i - b.i : a.rem > b.rem ? -1 : 1));
  for (const { i } of order) {
    if (left <= 0n) break;
    shares[i] += 1n;
    left -= 1n;
  }
  return shares;
}

const cycle = <T>(values: readonly T[], n: number) => Array.from({ length: n }, (_, i) => values[i % values.length]);

const BILLS = [
  { currency: "USD", totals: ["100.00", "10.00", "0.05", "99.99", "1234.56"] },
  { currency: "VND", totals: ["90000", "100000", "7"] },
  // Four minor units (ISO 4217): every amount must be stored and asked to the fourth decimal.
  { currency: "CLF", totals: ["10.0000", "10.0001", "0.0007"] },
] as const;
const totalsOf = (currency: string) => BILLS.find((b) => b.currency === currency)!.totals;
const otherCurrency = (currency: string) => (currency === "USD" ? "EUR" : "USD");

// ---------------------------------------------------------------------------------------------
// Commands

type Cmd = fc.AsyncCommand<Model, Real>;
const pickOf = <T>(list: readonly T[], pick: number): T | undefined => (list.length ? list[pick % list.length] : undefined);

class AddParticipant implements Cmd {
  constructor(readonly o: { creator: boolean; phone: boolean; email: boolean }) {}
  check = () => true;
  async run(m: Model, r: Real) {
    m.counter += 1;
    const n = m.counter;
    const name = `${this.o.creator ? "Me" : "P"}${n}`;
    const body = {
      name,
      ...(this.o.creator ? { userId: r.userId } : {}),
      ...(this.o.phone ? { phone: `+1555${String(1_000_000 + n).slice(-7)}` } : {}),
      ...(this.o.email ? { email: `p${n}@example.org` } : {}),
    };
    await step(m, r, "add", `add ${name}${this.o.creator ? " (the creator)" : ""}`, () => api(r).post(`/bills/${r.billId}/participants`).send(body), {
      model: (res) => m.participants.push({ id: res.body.id, names: [name], isCreator: res.body.isCreator === true, removed: false }),
    });
  }
  toString = () => `add(${JSON.stringify(this.o)})`;
}

class UpdateParticipant implements Cmd {
  constructor(readonly o: { pick: number; field: "name" | "phone" | "email" }) {}
  check = (m: Readonly<Model>) => m.participants.length > 0;
  async run(m: Model, r: Real) {
    const p = pickOf(m.participants, this.o.pick)!;
    m.counter += 1;
    const n = m.counter;
    const name = `${p.names[0]}r${n}`;
    const body =
      this.o.field === "name" ? { name } : this.o.field === "phone" ? { phone: `+1555${String(1_000_000 + n).slice(-7)}` } : { email: `u${n}@example.org` };
    await step(m, r, "update", `update ${p.names.at(-1)} ${JSON.stringify(body)}`, () => api(r).put(`/bills/${r.billId}/participants/${p.id}`).send(body), {
      model: () => {
        if (this.o.field === "name") p.names.push(name);
      },
    });
  }
  toString = () => `update(${JSON.stringify(this.o)})`;
}

class RemoveParticipant implements Cmd {
  constructor(readonly o: { pick: number }) {}
  check = (m: Readonly<Model>) => m.participants.length > 0;
  async run(m: Model, r: Real) {
    const p = pickOf(m.participants, this.o.pick)!;
    const row = r.state.participants.find((x) => x.id === p.id);
    const paid = row && new Decimal(row.paid_amount ?? 0).greaterThan(0) ? ` (paid ${row.paid_amount})` : "";
    const open = ["created", "active"].includes(r.state.bill.status);
    const res = await step(
      m,
      r,
      "remove",
      `remove ${p.names.at(-1)}${p.removed ? " (already removed)" : paid}`,
      () => api(r).delete(`/bills/${r.billId}/participants/${p.id}`),
      {
        model: () => {
          p.removed = true;
        },
        // Anyone on an open bill can be removed, whatever they paid (docs/money.md: tombstones).
        check: (answer) => (answer.status === 204 ? [] : [{ code: "cmd.remove", message: `removing ${p.names.at(-1)} answered ${answer.status}` }]),
      },
    );
    if (!res && !p.removed && open)
      judge(
        r,
        `remove ${p.names.at(-1)}${paid}`,
        [{ code: "cmd.remove", message: `removing ${p.names.at(-1)}${paid} from a ${r.state.bill.status} bill was refused: ${r.log.at(-1)}` }],
        r.state,
      );
  }
  toString = () => `remove(${JSON.stringify(this.o)})`;
}

class SetTotal implements Cmd {
  /** `euro`: a USD bill changes to EUR with it (refused once money arrived; one way, so money collected in USD stays foreign). */
  constructor(readonly o: { pick: number; euro: boolean }) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const total = pickOf(totalsOf(r.currency), this.o.pick)!;
    const body = { totalAmount: total, ...(this.o.euro && r.currency === "USD" ? { currency: "EUR" } : {}) };
    await step(m, r, "total", `set the total to ${total} ${body.currency ?? ""}`, () => api(r).put(`/bills/${r.billId}`).send(body));
  }
  toString = () => `total(${JSON.stringify(this.o)})`;
}

type SplitMethod = "equal" | "custom-amount" | "percentage" | "shares" | "itemized";

class Split implements Cmd {
  constructor(readonly o: { method: SplitMethod; weights: number[]; items: { weight: number; mask: number }[]; underTotal: boolean; valid: boolean }) {}
  check = (m: Readonly<Model>) => live(m as Model).length > 0;
  body(m: Model, r: Real): Record<string, unknown> {
    const people = live(m).map((p) => p.id);
    const n = people.length;
    const total = r.state.bill.total_amount === null ? 0n : toUnits(r.state.bill.total_amount, r.scale);
    const weights = cycle(this.o.weights, n);
    switch (this.o.method) {
      case "equal":
        return {};
      case "custom-amount": {
        const units = distribute(total, weights);
        if (!this.o.valid) units[0] += 1n;
        return { amounts: people.map((participantId, i) => ({ participantId, amount: fromUnits(units[i], r.scale) })) };
      }
      case "percentage": {
        const units = distribute(1_000_000n, weights);
        if (!this.o.valid) units[0] += 1n;
        return { percentages: people.map((participantId, i) => ({ participantId, percentage: fromUnits(units[i], 4) })) };
      }
      case "shares":
        return {
          shares: people.map((participantId, i) => ({
            participantId,
            weight: this.o.valid ? String(weights.every((w) => w === 0) && i === 0 ? 1 : weights[i]) : "0",
          })),
        };
      case "itemized": {
        const base = !this.o.valid ? total + 1n : this.o.underTotal ? total - total / 10n : total;
        const amounts = distribute(
          base,
          this.o.items.map((i) => i.weight),
        );
        return {
          items: this.o.items.map((item, j) => {
            const ids = people.filter((_, k) => (item.mask >> k) & 1);
            return { name: `item ${j + 1}`, amount: fromUnits(amounts[j], r.scale), participantIds: ids.length ? ids : [people[j % n]] };
          }),
        };
      }
    }
  }
  async run(m: Model, r: Real) {
    const body = this.body(m, r);
    await step(m, r, "split", `split ${this.o.method} ${JSON.stringify(body)}`, () => api(r).post(`/bills/${r.billId}/split/${this.o.method}`).send(body));
  }
  toString = () => `split(${JSON.stringify(this.o)})`;
}

/**
 * A command that hands new requests to the payment system, which answers at once, holds its answer
 * (the payment exists there; the command's HTTP answer waits with it, kept in r.inflight until the
 * jobs step releases it, while other commands go on) or loses it (the hand-over job asks again).
 */
async function handingOver(m: Model, r: Real, name: string, label: string, path: string, answer: CreateAnswer) {
  if (answer !== "held") {
    paymentSystem.answer = answer;
    if (answer === "lost") r.reached.add("hand-over-answer-lost");
    try {
      await step(m, r, name, `${label}${answer === "lost" ? " (the payment system's answer is lost)" : ""}`, () => api(r).post(path));
    } finally {
      paymentSystem.answer = "now";
    }
    return;
  }
  paymentSystem.answer = "held";
  const answered = api(r)
    .post(path)
    .then((res) => res);
  answered.catch(() => undefined); // awaited later; a failure is reported there
  let held: boolean;
  try {
    held = await Promise.race([answered.then(() => false), paymentSystem.whenHeld().then(() => true)]);
  } finally {
    paymentSystem.answer = "now";
  }
  if (!held) {
    await step(m, r, name, label, () => answered); // nothing to hand over: answered as usual
    return;
  }
  // Committed: the hand-over runs after the commit, and waits there for the payment system.
  r.step += 1;
  stats.steps += 1;
  const context = `step ${r.step}: ${label} -> committed; the payment system holds its answer`;
  r.log.push(context);
  r.inflight.push({ label, answer: answered });
  countCommand(`${name} (held)`, false);
  await verify(m, r, context);
}

class RequestPayments implements Cmd {
  constructor(readonly o: { answer: CreateAnswer }) {}
  check = (m: Readonly<Model>) => m.participants.length > 0;
  async run(m: Model, r: Real) {
    await handingOver(m, r, "request-all", "request payments", `/bills/${r.billId}/request-payments`, this.o.answer);
  }
  toString = () => `requestPayments(${JSON.stringify(this.o)})`;
}

class RequestOne implements Cmd {
  constructor(readonly o: { pick: number; answer: CreateAnswer }) {}
  check = (m: Readonly<Model>) => m.participants.length > 0;
  async run(m: Model, r: Real) {
    const p = pickOf(m.participants, this.o.pick)!;
    await handingOver(m, r, "request-one", `request payment from ${p.names.at(-1)}`, `/bills/${r.billId}/participants/${p.id}/request-payment`, this.o.answer);
  }
  toString = () => `requestOne(${JSON.stringify(this.o)})`;
}

class MarkPaid implements Cmd {
  constructor(readonly o: { pick: number; method: "cash" | "bank_transfer" | undefined }) {}
  check = (m: Readonly<Model>) => m.participants.length > 0;
  async run(m: Model, r: Real) {
    const p = pickOf(m.participants, this.o.pick)!;
    const body = this.o.method ? { method: this.o.method, note: "at the table" } : {};
    await step(m, r, "mark-paid", `mark ${p.names.at(-1)} as paid`, () => api(r).put(`/bills/${r.billId}/participants/${p.id}/mark-as-paid`).send(body), {
      // Mark-as-paid records an offline payment of what was outstanding; nothing is owed after it.
      check: (_res, before, after) => {
        const out: Violation[] = [];
        const row = before.participants.find((x) => x.id === p.id);
        const owed = row?.outstanding_amount ? new Decimal(row.outstanding_amount) : null;
        if (before.missing.includes("table payments") || !owed) return out;
        const known = new Set(before.payments.map((x) => x.id));
        const added = after.payments.filter((x) => !known.has(x.id) && x.participant_id === p.id);
        if (
          owed.greaterThan(0) &&
          !(added.length === 1 && new Decimal(added[0].amount).equals(owed) && (added[0].source === null || added[0].source === "offline"))
        ) {
          out.push({
            code: "cmd.mark-as-paid",
            message: `${p.names.at(-1)} owed ${owed.toFixed()}; mark-as-paid recorded ${added.length ? added.map((x) => `${x.amount} ${x.source}`).join(", ") : "no payment"}`,
          });
        }
        const now = after.participants.find((x) => x.id === p.id);
        if (now?.outstanding_amount && !new Decimal(now.outstanding_amount).isZero()) {
          out.push({ code: "cmd.mark-as-paid", message: `${p.names.at(-1)} still owes ${now.outstanding_amount} after mark-as-paid` });
        }
        return out;
      },
    });
  }
  toString = () => `markPaid(${JSON.stringify(this.o)})`;
}

class Cancel implements Cmd {
  constructor(readonly o: { reason: boolean }) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const send = () => {
      const req = api(r).delete(`/bills/${r.billId}`);
      return this.o.reason ? req.send({ reason: "plans changed" }) : req;
    };
    await step(m, r, "cancel", "cancel the bill", send, {
      model: () => {
        m.cancelled = true;
      },
    });
  }
  toString = () => `cancel(${JSON.stringify(this.o)})`;
}

/** Outcomes that apply nothing: the money state stays as it was (only the event is recorded). */
const NOTHING_APPLIED = new Set(["duplicate", "ignored", "mismatch", "unknown_payment"]);

/** What the payer pays of an amount: all of it, half of it, or half as much again. */
function payAmount(amount: string, currency: string, how: "exact" | "partial" | "excess" | "currency"): string {
  const scale = minorUnits(currency);
  const units = toUnits(amount, scale);
  return fromUnits(how === "partial" ? (units > 1n ? units / 2n : units) : how === "excess" ? units + (units / 2n > 0n ? units / 2n : 1n) : units, scale);
}

/**
 * Money the payment system reports for a request (`counts`: a success in the request's currency)
 * is never lost: recorded once, for the request's participant, whatever became of the request or the
 * participant; a second success for a request already counted is the same money (ignored); a
 * request made before the bill's currency changed is a mismatch (docs/money.md).
 */
function moneyChecks(
  event: PaymentEventBody,
  req: ModelRequest,
  owner: ModelParticipant | undefined,
  counts: boolean,
  outcome: string,
  was: MoneyState,
  after: MoneyState,
): Violation[] {
  const out: Violation[] = [];
  if (after.missing.includes("table payments")) return out;
  const recorded = after.payments.filter((x) => x.event_id === event.id);
  const before = was.requests.find((x) => x.id === req.id);
  if (counts && req.currency !== was.bill.currency) {
    if (outcome !== "mismatch" || recorded.length > 0)
      out.push({
        code: "money.wrong",
        message: `${event.data.amount} ${req.currency} for a request made before the bill became ${was.bill.currency} answered "${outcome}" and recorded ${recorded.length}`,
      });
  } else if (counts && (before?.status === "paid" || was.payments.some((x) => x.payment_request_id === req.id))) {
    // One request is one payment at the payment system: reported again under another event id,
    // it is the same money, counted once (ignored, nothing recorded).
    if (outcome !== "ignored" || recorded.length > 0) {
      out.push({
        code: "money.double",
        message: `a second success for request ${short(req.id)}, already counted, answered "${outcome}" and recorded ${recorded.length}`,
      });
    }
  } else if (counts) {
    // Money that arrives is never lost: superseded, expired, failed, cancelled requests and removed people included.
    const ok =
      recorded.length === 1 && new Decimal(recorded[0].amount).equals(new Decimal(event.data.amount)) && recorded[0].participant_id === req.participantId;
    if (!ok) {
      out.push({
        code: owner?.removed ? "money.lost-removed" : "money.lost",
        message: `${event.data.amount} ${event.data.currency} arrived for request ${short(req.id)} (${before?.status ?? "deleted"}) of ${owner?.names.at(-1) ?? "?"}${owner?.removed ? " (removed)" : ""}, answered "${outcome}"; recorded: ${recorded.length ? recorded.map((x) => `${x.amount} for ${x.participant_id}`).join(", ") : "nothing"}`,
      });
    }
  } else if (recorded.length > 0) {
    out.push({
      code: "money.wrong",
      message: `a ${event.type} event in ${event.data.currency} recorded a payment of ${recorded.map((x) => x.amount).join(", ")}`,
    });
  }
  return out;
}

/**
 * A webhook as the payment system would send it about a request's payment (current, superseded,
 * closed, a removed person's), with a chosen amount. The payment system's own record follows: a
 * success in the request's currency is a collection there (even of a payment we cancelled: the payer
 * was quicker), a failure or expiry ends it; one in another currency is not its money.
 */
class Webhook implements Cmd {
  constructor(readonly o: { pick: number; type: "succeeded" | "failed" | "expired"; amount: "exact" | "partial" | "excess" | "currency" }) {}
  check = (m: Readonly<Model>) => m.requests.length > 0;
  async run(m: Model, r: Real) {
    const req = pickOf(m.requests, this.o.pick)!;
    const currency = this.o.amount === "currency" ? otherCurrency(req.currency) : req.currency;
    const amount = payAmount(req.amount, req.currency, this.o.amount);
    const there = paymentSystem.paymentOf(req.id);
    if (there && this.o.type === "succeeded" && currency === req.currency) paymentSystem.collectLate(there.id, amount);
    if (there && this.o.type !== "succeeded") paymentSystem.end(there.id, this.o.type);
    const event = paymentEvent({ ...req, paymentId: there?.id ?? req.paymentId }, `payment.${this.o.type}`, { amount, currency });
    const owner = m.participants.find((p) => p.id === req.participantId);
    const before = r.state.requests.find((x) => x.id === req.id);
    const label = `webhook ${this.o.type} ${event.data.amount} ${currency} for request ${short(req.id)} (${req.amount}, ${before?.status ?? "gone"}) of ${owner?.names.at(-1) ?? "?"}${owner?.removed ? " (removed)" : ""}`;
    await step(m, r, `webhook-${this.o.type}`, label, () => sendWebhook(event), {
      model: (res) => {
        m.events.push(event);
        const old = req.currency !== r.state.bill.currency ? " (a request in the bill's old currency)" : "";
        const key = `${this.o.type}${currency === req.currency ? "" : " (other currency)"} on ${before?.status ?? "deleted"}${old} -> ${res.body.outcome}`;
        stats.outcomes.set(key, (stats.outcomes.get(key) ?? 0) + 1);
      },
      check: (res, was, after) => {
        const out: Violation[] = [];
        const outcome = res.body?.outcome;
        if (outcome === "duplicate") out.push({ code: "events.duplicate", message: `a new event id was answered "duplicate"` });
        if (NOTHING_APPLIED.has(outcome) && moneySnapshot(was, { withEvents: false }) !== moneySnapshot(after, { withEvents: false })) {
          out.push({ code: "events.noop-changed", message: `the event was answered "${outcome}" but changed the money state:\n${describeChange(was, after)}` });
        }
        out.push(...moneyChecks(event, req, owner, this.o.type === "succeeded" && currency === req.currency, outcome, was, after));
        return out;
      },
    });
  }
  toString = () => `webhook(${JSON.stringify(this.o)})`;
}

/**
 * The payer pays at the payment system whatever it can still collect there: a current request's
 * payment, or one whose request closed here (superseded, cancelled, removed, the bill cancelled)
 * while its payment-cancel job has not run yet, or one whose hand-over answer we have not recorded.
 * Its signed webhook is delivered.
 */
class PayAtPaymentSystem implements Cmd {
  constructor(readonly o: { pick: number; amount: "exact" | "partial" | "excess" }) {}
  check = (m: Readonly<Model>) => m.requests.length > 0;
  async run(m: Model, r: Real) {
    const payment = pickOf(
      paymentSystemView(r.state).filter((p) => p.collectable),
      this.o.pick,
    );
    if (!payment) return;
    const req = m.requests.find((x) => x.id === payment.requestId)!;
    const row = r.state.requests.find((x) => x.id === req.id)!;
    const owner = m.participants.find((p) => p.id === req.participantId);
    const amount = payAmount(payment.amount, payment.currency, this.o.amount);
    const event = paymentSystem.collect(payment.id, amount);
    const label = `the payer pays ${amount} ${payment.currency} at the payment system (${payment.id}, asks ${payment.amount}) for request ${short(req.id)} (${row.status}${row.payment_id ? "" : ", its hand-over not recorded"}) of ${owner?.names.at(-1) ?? "?"}${owner?.removed ? " (removed)" : ""}`;
    await step(m, r, "pay-at-payment-system", label, () => sendWebhook(event), {
      model: (res) => {
        m.events.push(event);
        const old = payment.currency !== r.state.bill.currency ? " (in the bill's old currency)" : "";
        const key = `paid at the payment system on ${row.status}${row.payment_id ? "" : " (not recorded)"}${old} -> ${res.body.outcome}`;
        stats.outcomes.set(key, (stats.outcomes.get(key) ?? 0) + 1);
      },
      check: (res, was, after) => moneyChecks(event, req, owner, true, res.body?.outcome, was, after),
    });
  }
  toString = () => `payAtPaymentSystem(${JSON.stringify(this.o)})`;
}

/**
 * The held hand-over answers arrive (or not yet: `release` false, and the jobs get there first),
 * then the hand-over and payment-cancel jobs run, as a server's workers would. Returns what to log
 * and what broke.
 */
async function runHandOverJobs(r: Real, release: boolean): Promise<{ context: string; violations: Violation[] }> {
  const violations: Violation[] = [];
  const answers = release ? r.inflight.splice(0) : [];
  for (const id of answers.length ? paymentSystem.heldRequests() : []) {
    const row = r.state.requests.find((x) => x.id === id);
    if (row && row.status !== "pending") r.reached.add(`held-answer-on-${row.status}`);
  }
  if (answers.length) {
    paymentSystem.release();
    for (const { label, answer } of answers) {
      const res = await answer;
      r.log.push(`  the held answer of "${label}" -> ${res.status}${res.body?.code ? ` ${res.body.code}` : ""}`);
      if (res.status >= 500)
        violations.push({
          code: "cmd.5xx",
          message: `${label} answered ${res.status} once the payment system answered: ${JSON.stringify(res.body).slice(0, 500)}`,
        });
    }
  }
  const jobs = await r.t.runJobs([QUEUES.paymentHandOver, QUEUES.paymentCancel], { ignoreStartAfter: true });
  if (jobs.failed) violations.push({ code: "jobs.failed", message: `${jobs.failed} of ${jobs.ran} hand-over and payment-cancel jobs failed` });
  const context = `${answers.length ? `the payment system answers ${answers.length} held hand-over(s); ` : ""}the hand-over and payment-cancel jobs run (${jobs.ran})`;
  return { context, violations };
}

class HandOverJobs implements Cmd {
  constructor(readonly o: { release: boolean }) {}
  check = () => true;
  async run(m: Model, r: Real) {
    r.step += 1;
    stats.steps += 1;
    const { context, violations } = await runHandOverJobs(r, this.o.release);
    r.log.push(`step ${r.step}: ${context}`);
    countCommand("jobs", false);
    await verify(m, r, `step ${r.step}: ${context}`, () => violations, { jobsRan: true });
  }
  toString = () => `handOverJobs(${JSON.stringify(this.o)})`;
}

class ReplayEvent implements Cmd {
  constructor(readonly o: { pick: number }) {}
  check = (m: Readonly<Model>) => m.events.length > 0;
  async run(m: Model, r: Real) {
    const event = pickOf(m.events, this.o.pick)!;
    r.step += 1;
    stats.steps += 1;
    const before = r.state;
    const res = await sendWebhook(event);
    const context = `step ${r.step}: replay event ${event.id} (${event.type} ${event.data.amount} ${event.data.currency}) -> ${res.status} ${res.body?.outcome ?? ""}`;
    r.log.push(context);
    countCommand("replay", res.status !== 200);
    const after = await readState(r);
    r.state = after;
    const violations: Violation[] = [];
    if (res.status !== 200 || res.body.outcome !== "duplicate")
      violations.push({
        code: "events.duplicate",
        message: `the same event again answered ${res.status} ${JSON.stringify(res.body)}, not outcome "duplicate"`,
      });
    if (moneySnapshot(before) !== moneySnapshot(after))
      violations.push({ code: "events.duplicate", message: `the same event again changed the state:\n${describeChange(before, after)}` });
    judge(r, context, violations, after);
  }
  toString = () => `replay(${JSON.stringify(this.o)})`;
}

class Expire implements Cmd {
  check = () => true;
  async run(m: Model, r: Real) {
    r.step += 1;
    stats.steps += 1;
    clock.advance((r.t.config.payments.requestTtlHours + 1) * 3_600_000);
    // Only this sequence's bill: on a shared PostgreSQL database other test files' bills are not ours to expire.
    const expired = await r.t.app.locals.services.payments.expireOverdue({ billId: r.billId });
    const context = `step ${r.step}: ${r.t.config.payments.requestTtlHours + 1} h later, the expiry sweep (${expired} expired in the database)`;
    r.log.push(context);
    countCommand("expire", false);
    await verify(m, r, context);
  }
  toString = () => "expire";
}

const pick = fc.nat({ max: 1000 });
/** How the payment system answers a hand-over: mostly at once. */
const answer = fc.constantFrom<CreateAnswer>("now", "now", "held", "lost");
/** Weighted: payment-system events most, cancelling the bill least (it ends the interesting part). */
const weighted = (weight: number, arbitrary: fc.Arbitrary<Cmd>) => ({ weight, arbitrary });
const commandArb: fc.Arbitrary<Cmd> = fc.oneof(
  weighted(
    4,
    fc
      .record({
        creator: fc.oneof({ weight: 1, arbitrary: fc.constant(true) }, { weight: 5, arbitrary: fc.constant(false) }),
        phone: fc.boolean(),
        email: fc.boolean(),
      })
      .map((o) => new AddParticipant(o)),
  ),
  weighted(
    2,
    fc.record({ pick, field: fc.constantFrom("name" as const, "phone" as const, "email" as const) }).map((o) => new UpdateParticipant(o)),
  ),
  weighted(
    2,
    fc.record({ pick }).map((o) => new RemoveParticipant(o)),
  ),
  weighted(
    2,
    fc.record({ pick, euro: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) }).map((o) => new SetTotal(o)),
  ),
  weighted(
    6,
    fc
      .record({
        method: fc.constantFrom<SplitMethod>("equal", "equal", "custom-amount", "percentage", "shares", "itemized"),
        weights: fc.array(fc.nat({ max: 4 }), { minLength: 1, maxLength: 6 }),
        items: fc.array(fc.record({ weight: fc.nat({ max: 4 }), mask: fc.integer({ min: 1, max: 63 }) }), { minLength: 1, maxLength: 3 }),
        underTotal: fc.boolean(),
        valid: fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      })
      .map((o) => new Split(o)),
  ),
  weighted(
    4,
    fc.record({ answer }).map((o) => new RequestPayments(o)),
  ),
  weighted(
    2,
    fc.record({ pick, answer }).map((o) => new RequestOne(o)),
  ),
  weighted(
    3,
    fc.record({ pick, method: fc.constantFrom("cash" as const, "bank_transfer" as const, undefined) }).map((o) => new MarkPaid(o)),
  ),
  weighted(
    1,
    fc.record({ reason: fc.boolean() }).map((o) => new Cancel(o)),
  ),
  weighted(
    9,
    fc
      .record({
        pick,
        type: fc.constantFrom("succeeded" as const, "succeeded" as const, "succeeded" as const, "failed" as const, "expired" as const),
        amount: fc.constantFrom("exact" as const, "exact" as const, "partial" as const, "excess" as const, "currency" as const),
      })
      .map((o) => new Webhook(o)),
  ),
  weighted(
    2,
    fc.record({ pick }).map((o) => new ReplayEvent(o)),
  ),
  weighted(
    2,
    fc.constant(null).map(() => new Expire()),
  ),
  weighted(
    5,
    fc
      .record({ pick, amount: fc.constantFrom("exact" as const, "exact" as const, "partial" as const, "excess" as const) })
      .map((o) => new PayAtPaymentSystem(o)),
  ),
  weighted(
    3,
    fc.record({ release: fc.boolean() }).map((o) => new HandOverJobs(o)),
  ),
);

// ---------------------------------------------------------------------------------------------
// One sequence

async function newBill(t: TestApp, bill: { currency: string; total: string }) {
  const userId = newUserId("money");
  const token = await t.tokenFor(userId);
  const res = await as(t, token).post("/bills").send({ totalAmount: bill.total, currency: bill.currency, merchantName: "Model Bistro" });
  if (res.status !== 201) throw new Error(`create bill: ${res.status} ${JSON.stringify(res.body)}`);
  return { userId, token, billId: res.body.id as string };
}

/**
 * How a sequence starts: the bill, and a prefix that gets it somewhere quickly (people on it, an
 * equal split, payment requests), so that the random commands spend less time on the way there.
 * The prefix shrinks away like the commands do.
 */
interface Start {
  currency: string;
  total: string;
  people: number;
  creator: boolean;
  split: boolean;
  request: boolean;
}

const startArb: fc.Arbitrary<Start> = fc
  .record({
    bill: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...BILLS[0].totals).map((total) => ({ currency: "USD", total })) },
      { weight: 1, arbitrary: fc.constantFrom(...BILLS[1].totals).map((total) => ({ currency: "VND", total })) },
      { weight: 1, arbitrary: fc.constantFrom(...BILLS[2].totals).map((total) => ({ currency: "CLF", total })) },
    ),
    people: fc.nat({ max: 4 }),
    creator: fc.oneof({ weight: 1, arbitrary: fc.constant(true) }, { weight: 3, arbitrary: fc.constant(false) }),
    split: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    request: fc.boolean(),
  })
  .map(({ bill, ...rest }) => ({ ...bill, ...rest }));

/** The bill and the prefix, through the API; checked once at the end (the commands check every step). */
async function start(spec: Start): Promise<{ model: Model; real: Real }> {
  // Nothing left over from a sequence that failed (shrinking runs many): no held answers, no jobs.
  paymentSystem.release();
  await t.runJobs([QUEUES.paymentHandOver, QUEUES.paymentCancel], { ignoreStartAfter: true });
  const { userId, token, billId } = await newBill(t, spec);
  const model: Model = { participants: [], requests: [], events: [], cancelled: false, counter: 0 };
  const real: Real = {
    t,
    userId,
    token,
    billId,
    currency: spec.currency,
    scale: minorUnits(spec.currency),
    state: undefined as unknown as MoneyState,
    verified: "",
    reached: new Set(),
    step: 0,
    log: [`bill ${billId}: ${spec.total} ${spec.currency}`],
    inflight: [],
  };
  const call = async (label: string, send: () => Promise<Response>) => {
    const res = await send();
    if (res.status >= 500) throw new Error(`${label}: ${res.status} ${JSON.stringify(res.body)}`);
    real.log.push(`start: ${label} -> ${res.status}${res.body?.code ? ` ${res.body.code}` : ""}`);
    return res;
  };
  const names = [...(spec.creator ? ["Me"] : []), ...Array.from({ length: spec.people }, (_, i) => `P${i + 1}`)];
  for (const name of names) {
    model.counter += 1;
    const body = name === "Me" ? { name: `Me${model.counter}`, userId } : { name: `P${model.counter}` };
    const res = await call(`add ${body.name}`, () => api(real).post(`/bills/${billId}/participants`).send(body));
    if (res.status === 201) model.participants.push({ id: res.body.id, names: [body.name], isCreator: res.body.isCreator === true, removed: false });
  }
  if (spec.split && names.length) await call("split equal", () => api(real).post(`/bills/${billId}/split/equal`).send({}));
  if (spec.split && spec.request && names.length) await call("request payments", () => api(real).post(`/bills/${billId}/request-payments`));
  await verify(model, real, names.length ? "the start of the sequence" : "the new bill");
  return { model, real };
}

describe("money: model-based property test", () => {
  it(
    `keeps every money rule through ${RUNS} random sequences of up to ${MAX_COMMANDS} commands`,
    async () => {
      const started = Date.now();
      try {
        await fc.assert(
          fc.asyncProperty(startArb, fc.commands([commandArb], { maxCommands: MAX_COMMANDS, size: "max", replayPath: REPLAY_PATH }), async (spec, cmds) => {
            stats.sequences += 1;
            const began = Date.now();
            let run: { model: Model; real: Real } | undefined;
            try {
              await fc.asyncModelRun(async () => (run = await start(spec)), cmds);
              // At the end every held answer arrives and the jobs run; then once more in full: the
              // bill's details and the history through the API too, and nothing the payment system can
              // collect left on a closed request.
              if (run) {
                const { context, violations } = await runHandOverJobs(run.real, true);
                run.real.log.push(`the end: ${context}`);
                await verify(run.model, run.real, `after step ${run.real.step}, the end of the sequence (${context})`, () => violations, {
                  final: true,
                  jobsRan: true,
                });
              }
            } finally {
              for (const s of run?.real.reached ?? []) stats.reached.set(s, (stats.reached.get(s) ?? 0) + 1);
              stats.ms += Date.now() - began;
            }
          }),
          { numRuns: RUNS, seed: SEED, path: PATH, endOnFailure: PATH !== undefined, includeErrorInReport: true },
        );
      } finally {
        console.log(`money model: ${RUNS} runs requested, finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      }
    },
    10 * 60_000,
  );
});

// ---------------------------------------------------------------------------------------------
// Fixed sequences for the known bugs (plain examples)

describe("regressions", () => {
  type Req = { id: string; participantId: string; paymentId: string | null; reference: string; amount: string; currency: string; status: string };

  async function setup(total = "100.00", names = ["P1", "P2"]) {
    const bill = await newBill(t, { currency: "USD", total });
    const ids: string[] = [];
    for (const name of names) {
      const res = await as(t, bill.token).post(`/bills/${bill.billId}/participants`).send({ name });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    return { ...bill, ids };
  }
  const check = (b: { billId: string; token: string }, removed: RemovedParticipant[] = []) =>
    assertMoneyInvariants(t, { billId: b.billId, token: b.token, removed, summaryCoversOnlyThisBill: true, ignore: IGNORE });
  async function requestAll(b: { billId: string; token: string }) {
    const res = await as(t, b.token).post(`/bills/${b.billId}/request-payments`);
    expect(res.status).toBe(200);
    return res.body.requests as Req[];
  }
  const openOf = (state: MoneyState) => state.requests.filter((r) => r.status === "pending" || r.status === "sent");
  const dec = (v: string | null) => new Decimal(v ?? "NaN");

  it("(a) adding a third person to an equally split, requested bill supersedes both 50.00 requests; paying an old one still counts, the excess is refund due", async () => {
    const b = await setup();
    expect((await as(t, b.token).post(`/bills/${b.billId}/split/equal`).send({})).status).toBe(200);
    const first = await requestAll(b);
    expect(first.map((r) => r.amount)).toEqual(["50.00", "50.00"]);
    await check(b);

    const p3 = await as(t, b.token).post(`/bills/${b.billId}/participants`).send({ name: "P3" });
    expect(p3.status).toBe(201);
    let state = await check(b);
    expect(state.participants.map((p) => dec(p.amount_to_pay).toFixed(2)).sort()).toEqual(["33.33", "33.33", "33.34"]);
    for (const old of first) expect(state.requests.find((r) => r.id === old.id)?.status).toBe("cancelled");
    const open = openOf(state);
    expect(open.map((r) => r.participant_id)).toEqual(expect.arrayContaining([b.ids[0], b.ids[1]]));
    for (const r of open) expect(dec(r.amount).equals(dec(state.participants.find((p) => p.id === r.participant_id)!.outstanding_amount))).toBe(true);

    // P1 pays the superseded 50.00 request anyway.
    const old = first.find((r) => r.participantId === b.ids[0])!;
    const paid = await postWebhook(t, paymentEvent(old, "payment.succeeded", { amount: "50.00" }));
    expect(paid.status).toBe(200);
    state = await check(b);
    const p1 = state.participants.find((p) => p.id === b.ids[0])!;
    const share = dec(p1.amount_to_pay);
    expect(dec(p1.paid_amount).toFixed(2)).toBe("50.00");
    expect(dec(p1.outstanding_amount).isZero()).toBe(true);
    expect(dec(p1.refund_due).equals(new Decimal("50.00").minus(share))).toBe(true);
    expect(state.payments.filter((x) => x.participant_id === b.ids[0]).map((x) => dec(x.amount).toFixed(2))).toEqual(["50.00"]);
    // Nothing beyond the share is "collected".
    const summary = await as(t, b.token).get("/reports/summary");
    const usd = summary.body.currencies.find((c: { currency: string }) => c.currency === "USD");
    expect(dec(usd.collected).equals(share)).toBe(true);
    expect(dec(usd.refundDue ?? null).equals(new Decimal("50.00").minus(share))).toBe(true);
  });

  it("(b) an equal re-split after a percentage split supersedes the old requests", async () => {
    const b = await setup();
    const pct = await as(t, b.token)
      .post(`/bills/${b.billId}/split/percentage`)
      .send({
        percentages: [
          { participantId: b.ids[0], percentage: "30" },
          { participantId: b.ids[1], percentage: "70" },
        ],
      });
    expect(pct.status).toBe(200);
    const first = await requestAll(b);
    expect(first.map((r) => r.amount).sort()).toEqual(["30.00", "70.00"]);
    expect((await as(t, b.token).post(`/bills/${b.billId}/split/equal`).send({})).status).toBe(200);
    const state = await check(b);
    for (const old of first) {
      const row = state.requests.find((r) => r.id === old.id)!;
      expect(row.status).toBe("cancelled");
      expect(row.status_reason).toEqual(expect.any(String));
    }
    const open = openOf(state);
    expect(open.map((r) => [r.participant_id, dec(r.amount).toFixed(2)]).sort()).toEqual(
      [
        [b.ids[0], "50.00"],
        [b.ids[1], "50.00"],
      ].sort(),
    );
  });

  it("(c) cancelling a bill where one participant paid: nobody owes, the payer is owed a refund, the reports agree", async () => {
    const b = await setup();
    expect((await as(t, b.token).post(`/bills/${b.billId}/split/equal`).send({})).status).toBe(200);
    const [r1] = await requestAll(b);
    expect((await postWebhook(t, paymentEvent(r1, "payment.succeeded"))).body.outcome).toBe("applied");
    const cancel = await as(t, b.token).delete(`/bills/${b.billId}`).send({ reason: "plans changed" });
    expect(cancel.status).toBe(200);
    const state = await check(b);

    const unpaid = await as(t, b.token).get(`/bills/${b.billId}/participants/unpaid`);
    expect(unpaid.body.items).toEqual([]);
    expect(dec(unpaid.body.unpaidAmount ?? "0").isZero()).toBe(true);
    const payer = state.participants.find((p) => p.id === r1.participantId)!;
    expect(dec(payer.refund_due).toFixed(2)).toBe("50.00");
    expect(dec(payer.refund_due).equals(dec(payer.paid_amount))).toBe(true);
    for (const p of state.participants) expect(dec(p.outstanding_amount).isZero()).toBe(true);
    expect(openOf(state)).toEqual([]);
    const status = await as(t, b.token).get(`/bills/${b.billId}/status`);
    expect(status.body.totals).toMatchObject({ receivedAmount: "50.00", appliedAmount: "0.00", outstandingAmount: "0.00", refundDueAmount: "50.00" });
  });
});

// ---------------------------------------------------------------------------------------------
// The checker itself must be able to fail

describe("the invariant checker", () => {
  const U = (n: number) => `00000000-0000-7000-8000-${String(n).padStart(12, "0")}`;
  const BILL = U(1);
  const A = U(2);
  const B = U(3);
  let at = 0;
  const row = (participant: string | null, name: string | null, entity: string, previous: string | null, next: string) => ({
    id: U(100 + ++at),
    participant_id: participant,
    participant_name: name,
    entity_type: entity,
    previous_status: previous,
    new_status: next,
    changed_by: "user",
    reason: null,
    created_at: `2026-11-20T12:00:${String(at).padStart(2, "0")}.000+00:00`,
  });

  /** A healthy active bill: A paid their 50.00 in full; B paid 20.00 of 50.00 and is asked for the 30.00 left. */
  function healthy(): MoneyState {
    at = 0;
    return {
      removedParticipants: [],
      missing: [],
      bill: { id: BILL, status: "active", total_amount: "100.000", currency: "USD", split_method: "equal", needs_resplit: false, creator_id: "me" },
      participants: [
        {
          id: A,
          name: "A",
          is_creator: false,
          payment_status: "paid",
          amount_to_pay: "50.000",
          paid_amount: "50.000",
          outstanding_amount: "0.000",
          refund_due: "0.000",
        },
        {
          id: B,
          name: "B",
          is_creator: false,
          payment_status: "requested",
          amount_to_pay: "50.000",
          paid_amount: "20.000",
          outstanding_amount: "30.000",
          refund_due: "0.000",
        },
      ],
      requests: [
        { id: U(10), participant_id: A, amount: "50.000", currency: "USD", status: "paid", payment_id: "pay_a", reference: "CBA", status_reason: null },
        {
          id: U(11),
          participant_id: B,
          amount: "50.000",
          currency: "USD",
          status: "cancelled",
          payment_id: "pay_b",
          reference: "CBB",
          status_reason: "superseded: partial payment",
        },
        { id: U(12), participant_id: B, amount: "30.000", currency: "USD", status: "sent", payment_id: "pay_c", reference: "CBC", status_reason: null },
      ],
      payments: [
        { id: U(20), participant_id: A, payment_request_id: U(10), amount: "50.000", currency: "USD", source: "payment_system", event_id: "evt_a" },
        { id: U(21), participant_id: B, payment_request_id: U(11), amount: "20.000", currency: "USD", source: "payment_system", event_id: "evt_b" },
      ],
      history: [
        row(null, null, "bill", null, "created"),
        row(A, "A", "participant", null, "pending"),
        row(B, "B", "participant", null, "pending"),
        row(null, null, "bill", "created", "active"),
        row(A, "A", "participant", "pending", "requested"),
        row(B, "B", "participant", "pending", "requested"),
        row(A, "A", "participant", "requested", "paid"),
        row(B, "B", "participant", "requested", "pending"),
        row(B, "B", "participant", "pending", "requested"),
      ],
      events: [],
    };
  }
  const codes = (state: MoneyState, removed: RemovedParticipant[] = []) => checkMoneyState(state, { removed }).map((v) => v.code);

  it("passes a healthy state", () => {
    expect(checkMoneyState(healthy())).toEqual([]);
  });

  const cases: [string, string, (s: MoneyState) => RemovedParticipant[] | void][] = [
    ["shares that do not add up to the total", "1.split-sum", (s) => void (s.participants[0].amount_to_pay = "50.010")],
    ["paid_amount that is not the sum of the payments", "2.paid", (s) => void (s.participants[1].paid_amount = "25.000")],
    ["a wrong outstanding amount", "2.outstanding", (s) => void (s.participants[1].outstanding_amount = "0.000")],
    ["a refund due where nothing was overpaid", "2.refund", (s) => void (s.participants[0].refund_due = "1.000")],
    ["an open request for more than is owed", "3.request-amount", (s) => void (s.requests[2].amount = "50.000")],
    ["two open requests for one person", "3.one-open", (s) => void (s.requests[1].status = "sent")],
    ["an open request on a cancelled bill", "3.closed-bill", (s) => void (s.bill.status = "cancelled")],
    [
      "a payment for someone not on the bill",
      "4.balance",
      (s) => void s.payments.push({ ...s.payments[0], id: U(22), participant_id: U(99), event_id: "evt_x" }),
    ],
    [
      "one event applied twice",
      "events.once",
      (s) => {
        s.payments.push({ ...s.payments[1], id: U(23) });
        s.participants[1].paid_amount = "40.000";
        s.participants[1].outstanding_amount = "10.000";
      },
    ],
    ["a completed bill with money still owed", "5.completed", (s) => void (s.bill.status = "completed")],
    [
      "an active bill nobody owes anything on",
      "5.completed",
      (s) => {
        s.payments.push({
          id: U(24),
          participant_id: B,
          payment_request_id: U(12),
          amount: "30.000",
          currency: "USD",
          source: "payment_system",
          event_id: "evt_c",
        });
        Object.assign(s.participants[1], { paid_amount: "50.000", outstanding_amount: "0.000", payment_status: "paid" });
        s.requests[2].status = "paid";
        s.history.push(row(B, "B", "participant", "requested", "paid"));
      },
    ],
    ["a missing history row", "6.chain", (s) => void s.history.splice(4, 1)],
    ["a status its history does not end in", "6.current", (s) => void (s.participants[0].payment_status = "requested")],
    ["the same transition twice", "6.repeat", (s) => void s.history.push({ ...s.history[8], id: U(199) })],
    ["a removed participant whose history does not say so", "6.removed", () => [{ id: U(50), names: ["Gone"] }]],
    ["a history row without the participant's name", "6.name", (s) => void (s.history[1].participant_name = null)],
    ["someone requested with no open request", "7.status", (s) => void (s.requests[2].status = "failed")],
    ["a missing ledger column", "schema", (s) => void s.missing.push("column participants.refund_due")],
  ];
  it.each(cases)("catches %s (%s)", (_name, code, corrupt) => {
    const state = healthy();
    const removed = corrupt(state) ?? [];
    expect(codes(state, removed)).toContain(code);
  });

  it("catches a payment the payment system can still collect for a closed request, and money it collected that is not counted (9.*)", () => {
    const state = healthy();
    // What the payment system holds for the healthy bill: A's and B's first payments collected, B's current one pending.
    const held = (): PaymentSystemPayment[] => [
      { id: "pay_a", requestId: U(10), amount: "50.00", currency: "USD", status: "succeeded", collectable: false, collected: "50.00" },
      { id: "pay_b", requestId: U(11), amount: "50.00", currency: "USD", status: "succeeded", collectable: false, collected: "20.00" },
      { id: "pay_c", requestId: U(12), amount: "30.00", currency: "USD", status: "pending", collectable: true },
    ];
    const codesOf = (s: MoneyState, h: PaymentSystemPayment[], work?: PaymentSystemWork) => checkPaymentSystem(s, h, work).map((v) => v.code);
    expect(codesOf(state, held())).toEqual([]);
    const closed = healthy();
    closed.requests[2].status = "cancelled";
    expect(codesOf(closed, held())).toEqual(["9.collectable"]);
    // ...unless its payment-cancel job is still queued, or its hand-over still to be answered.
    expect(codesOf(closed, held(), { cancels: new Set(["pay_c"]), handOvers: new Set() })).toEqual([]);
    expect(codesOf(closed, held(), { cancels: new Set(), handOvers: new Set([U(12)]) })).toEqual([]);
    const broken: [string, (h: PaymentSystemPayment[]) => PaymentSystemPayment[]][] = [
      ["collectable for another amount than its open request asks", (h) => ((h[2].amount = "50.00"), h)],
      ["collectable, but not the payment its open request records", (h) => ((h[2].id = "pay_other"), h)],
      ["collected more than is counted", (h) => ((h[1].collected = "25.00"), h)],
      ["collected, and nothing counted", (h) => (Object.assign(h[2], { status: "succeeded", collectable: false, collected: "30.00" }), h)],
      ["cancelled there, and counted here", (h) => (Object.assign(h[0], { status: "cancelled", collected: undefined }), h)],
      ["counted here, never at the payment system", (h) => h.slice(1)],
    ];
    for (const [name, corrupt] of broken) expect([name, codesOf(state, corrupt(held())).length]).toEqual([name, 1]);
    // Money collected in a currency the bill no longer has is a mismatch, left to a person: not counted.
    const euro = healthy();
    euro.bill.currency = "EUR";
    euro.payments = [];
    expect(codesOf(euro, held().slice(0, 2)).filter((c) => c === "9.collected")).toEqual([]);
  });

  it("notices any change between two states (what a refused command must not make)", () => {
    const before = healthy();
    const after = healthy();
    expect(moneySnapshot(after)).toBe(moneySnapshot(before));
    after.history.push(row(B, "B", "participant", "requested", "requested"));
    expect(moneySnapshot(after)).not.toBe(moneySnapshot(before));
    expect(describeChange(before, after)).toMatch(/^ {2}history \+ .*"requested"/);
    const other = healthy();
    other.events.push({ id: "evt_z", type: "succeeded", outcome: "ignored", payment_request_id: null });
    expect(moneySnapshot(other, { withEvents: false })).toBe(moneySnapshot(before, { withEvents: false }));
    expect(moneySnapshot(other)).not.toBe(moneySnapshot(before));
  });

  /** What the API would answer for the healthy state, as the checker reads it. */
  function healthyReports(state: MoneyState) {
    const ok = (body: unknown, text?: string) => ({ status: 200, body, text }) as unknown as Response;
    return {
      status: ok({
        status: "active",
        totals: {
          receivedAmount: "70.00",
          appliedAmount: "70.00",
          outstandingAmount: "30.00",
          refundDueAmount: "0.00",
          paidAmount: "70.00",
          unpaidAmount: "30.00",
        },
      }),
      unpaid: ok({ unpaidAmount: "30.00", items: [{ id: B, name: "B", amountOwed: "30.00" }] }),
      csv: ok(undefined, "participant,amount_to_pay,paid_amount,outstanding,refund_due\r\nA,50.00,50.00,0.00,0.00\r\nB,50.00,20.00,30.00,0.00\r\n"),
      details: ok({
        status: "active",
        participants: [
          { id: A, name: "A", amountToPay: "50.00", paymentStatus: "paid" },
          { id: B, name: "B", amountToPay: "50.00", paymentStatus: "requested" },
        ],
      }),
      history: ok({
        items: state.history.map((h) => ({
          entity: h.entity_type,
          participantId: h.participant_id,
          participantName: h.participant_name,
          previousStatus: h.previous_status,
          newStatus: h.new_status,
        })),
      }),
      summary: ok({ currencies: [{ currency: "USD", collected: "70.00", outstanding: "30.00", refundDue: "0.00" }] }),
    };
  }

  it("passes reports that agree with the database, and catches each that does not", () => {
    const state = healthy();
    expect(compareReports(state, healthyReports(state))).toEqual([]);
    const broken: [string, (r: ReturnType<typeof healthyReports>) => void][] = [
      ["4.status", (r) => void (r.status.body.totals.receivedAmount = "60.00")],
      ["4.status", (r) => void delete r.status.body.totals.refundDueAmount],
      ["4.unpaid", (r) => void (r.unpaid.body.items = [])],
      ["4.csv", (r) => void (r.csv.text = r.csv.text.replace("B,50.00,20.00,30.00", "B,50.00,20.00,0.00"))],
      ["4.summary", (r) => void (r.summary!.body.currencies[0].collected = "100.00")],
      ["4.details", (r) => void (r.details!.body.participants[1].paymentStatus = "paid")],
      ["6.api", (r) => void r.history!.body.items.pop()],
    ];
    for (const [code, corrupt] of broken) {
      const reports = healthyReports(state);
      corrupt(reports);
      expect([code, compareReports(state, reports).map((v) => v.code)]).toEqual([code, expect.arrayContaining([code])]);
    }
  });

  it("catches a row corrupted in the database, and throws", async () => {
    const b = await newBill(t, { currency: "USD", total: "100.00" });
    const ids: string[] = [];
    for (const name of ["A", "B"]) ids.push((await as(t, b.token).post(`/bills/${b.billId}/participants`).send({ name })).body.id);
    expect((await as(t, b.token).post(`/bills/${b.billId}/split/equal`).send({})).status).toBe(200);
    const baseline = (await checkMoney(t, { billId: b.billId, token: b.token })).violations.map((v) => v.code);

    await t.db.sql.query("UPDATE participants SET amount_to_pay = amount_to_pay + 0.01 WHERE id = $1::uuid", [ids[0]]);
    expect(baseline).not.toContain("1.split-sum");
    const error = await assertMoneyInvariants(t, { billId: b.billId, token: b.token }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MoneyInvariantError);
    expect((error as MoneyInvariantError).violations.map((v) => v.code)).toContain("1.split-sum");

    await t.db.sql.query("UPDATE bills SET status = 'completed' WHERE id = $1::uuid", [b.billId]);
    expect(baseline).not.toContain("5.completed");
    const after = (await checkMoney(t, { billId: b.billId, token: b.token })).violations.map((v) => v.code);
    expect(after).toEqual(expect.arrayContaining(["1.split-sum", "5.completed", "6.current"]));
  });
});
