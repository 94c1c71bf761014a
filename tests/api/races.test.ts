// The race suite (issue 19): POST /bills/{id}/request-payments, and 0-10 ms later another change to
// the same bill: add a participant, remove one, mark one as paid, cancel the bill, re-split, or a
// payment webhook. The hand-over to the payment system runs after request-payments' commit, in a
// transaction of its own (it updates the request rows, then writes the notices that reference the
// bill), while the other change is a ledger command that locks the bill first.
//
// Each kind of race runs its rounds on fresh bills (100.00 USD split equally among the creator and
// A, B and C, who have an email or a phone, so asking them writes notices), in batches: a batch is
// set up and checked at once, its races start STAGGER_MS apart so that each runs about alone. The
// offset of each round is drawn from a seeded generator (RACES_SEED, printed with every failure).
// With TEST_DATABASE_URL the requests really overlap, through a pool of connections; on PGlite (one
// connection) they are serialised, and every round must end the same way.
//
// The payment system is tests/support/recording-payment-system.ts: it never pays by itself, and it
// keeps its own books (what it created, cancelled, collected). After the race the hand-over jobs
// run (as a worker would, however long they were to wait) and a webhook answered other than 2xx is
// delivered again (as a payment system retries); then the round is checked. Then the payers pay
// every payment the payment system still lets them pay, it settles again, and the round is checked
// again, with every report. The checks (codes in the failure message):
//
//   http.5xx, http.problem   every answer is 2xx, or 4xx with a problem-details body; never 5xx
//   log.error                nothing logged at error level (a deadlock, a failed hand-over...), and
//                            no log line mentions a deadlock. Lines are charged to the round whose
//                            bill or request id they carry (also after the commit, through the
//                            request's async context); others to the batch
//   jobs                     no hand-over job failed (charged to the batch)
//   money.*                  every rule of tests/support/money-invariants.ts (1.* to 7.*,
//                            events.once): on the database after the race; on the database and
//                            every report (status, unpaid, CSV, details, history, summary) at the end
//   edge.collectable         every payment the payment system can still collect belongs to an open
//                            (pending or sent) request here that asks the same amount and names it
//   edge.open                every open request here is sent, and its payment can be collected
//                            there, for the same amount
//   edge.collected           every payment the payment system collected is counted here: one
//                            payment row of that amount for that event, on the request's
//                            participant (money.* checks received = applied + refund due for each)
//
//   node --experimental-vm-modules node_modules/jest/bin/jest.js tests/api/races.test.ts
//   TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres node --experimental-vm-modules \
//     node_modules/jest/bin/jest.js tests/api/races.test.ts -t "mark-as-paid"
//
// Environment: RACES_SEED (replay the offsets of a failure), RACES_ROUNDS (per kind; default 50 on
// PostgreSQL, 10 on PGlite, where rounds cannot overlap), RACES_BATCH (rounds set up and checked at
// once, default 10), RACES_STAGGER_MS (between the starts of a batch's races, default 30),
// RACES_VERBOSE=1 (print each kind's tally, also when it passes).
//
// Since issue 19 removing a participant who has paid, and a split, people or total change after
// someone paid, are allowed (the ledger moves the money); a 409 for a real state conflict (the bill
// is already cancelled, A has already paid) is a fine 4xx; a 5xx never is.
import { AsyncLocalStorage } from "node:async_hooks";
import { createServer, type Server } from "node:http";
import { performance } from "node:perf_hooks";
import Decimal from "decimal.js";
import pino from "pino";
import request, { type Test } from "supertest";
import { PAYMENT_SIGNATURE_HEADER, type PaymentEventBody } from "../../src/adapters/payments/payment-system";
import { QUEUES } from "../../src/jobs/jobs";
import { API } from "../support/http";
import { checkMoney, describeState, type MoneyState, type RemovedParticipant } from "../support/money-invariants";
import { listen } from "../support/net";
import { splitBill, webhookSignature } from "../support/payments";
import { RecordingPaymentSystem, type RecordedPayment } from "../support/recording-payment-system";
import { createTestApp, onPostgres, type TestApp } from "../support/test-app";

// On PGlite (one connection) the rounds serialise and every round takes the same path: fewer do.
const ROUNDS = Number(process.env.RACES_ROUNDS ?? (onPostgres ? 50 : 10));
const BATCH = Number(process.env.RACES_BATCH ?? 10);
const SEED = process.env.RACES_SEED ? Number(process.env.RACES_SEED) : Math.floor(Math.random() * 2 ** 31);
const VERBOSE = process.env.RACES_VERBOSE === "1";
const MAX_OFFSET_MS = 10;
// The rounds of a batch are set up and checked at once, but their races start this far apart, so
// that each race runs about alone (20 requests at once would stretch request-payments past 100 ms
// and the 0-10 ms offsets would all land before its hand-over).
const STAGGER_MS = Number(process.env.RACES_STAGGER_MS ?? 30);

// ---------------------------------------------------------------------------------------------
// The service, its logs, and the payment system

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}
const logLines: LogLine[] = [];
// warn and above: 4xx request lines are warn, 5xx and failed after-commit work are error.
// Each line carries the X-Request-Id of the request it was logged under (also after that request's
// commit: the hand-over), so a failed hand-over is charged to its round.
const requestContext = new AsyncLocalStorage<string>();
const logger = pino(
  { level: "warn", mixin: () => ({ testRequestId: requestContext.getStore() }) },
  { write: (line: string) => void logLines.push(JSON.parse(line) as LogLine) },
);

const paymentSystem = new RecordingPaymentSystem();
let t: TestApp;
// One server for the file: supertest would otherwise start one per request, which spreads the offsets.
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  t = await createTestApp({ adapters: { payments: paymentSystem }, logger });
  server = createServer((req, res) => requestContext.run(String(req.headers["x-request-id"] ?? ""), () => t.app(req, res)));
  baseUrl = await listen(server);
  // Warm up (the pool's connections, the job queues) before the first batch sets up ten bills at once.
  await Promise.all(Array.from({ length: 3 }, () => splitBill(t, ["me", ...PEOPLE], { merchantName: "warm-up" })));
}, 60_000);
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await t?.close();
});

// ---------------------------------------------------------------------------------------------
// Seeded randomness

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function hash(text: string): number {
  let h = 2166136261;
  for (const c of text) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return h >>> 0;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Answers

interface Answer {
  label: string;
  status: number;
  ms: number;
  code?: string;
  body: Record<string, unknown>;
  /** What is wrong with a 4xx body (not problem details), if anything. */
  shape?: string;
}

function problemShape(status: number, headers: Record<string, string>, body: Record<string, unknown>): string | undefined {
  const type = headers["content-type"] ?? "";
  if (!/^application\/problem\+json/.test(type)) return `content-type ${JSON.stringify(type)}, not application/problem+json`;
  const missing = ["type", "title", "detail", "code", "instance", "requestId"].filter((k) => typeof body?.[k] !== "string");
  if (missing.length) return `no ${missing.join(", ")} in ${JSON.stringify(body).slice(0, 200)}`;
  if (body.status !== status) return `body.status ${JSON.stringify(body.status)} on a ${status}`;
  return undefined;
}

async function send(label: string, req: Test): Promise<Answer> {
  const started = performance.now();
  try {
    const res = await req;
    const ms = Math.round(performance.now() - started);
    const body = (res.body ?? {}) as Record<string, unknown>;
    const code = typeof body.code === "string" ? body.code : undefined;
    const shape = res.status >= 400 && res.status < 500 ? problemShape(res.status, res.headers as Record<string, string>, body) : undefined;
    return { label, status: res.status, ms, code, body, shape };
  } catch (err) {
    return { label, status: 0, ms: Math.round(performance.now() - started), body: { error: (err as Error).message } };
  }
}

const show = (a: Answer) => `${a.label} ${a.status}${a.code ? ` ${a.code}` : ""} after ${a.ms} ms`;

function api(token: string, requestId: string) {
  const prepare = (req: Test) => req.set("Authorization", `Bearer ${token}`).set("X-Request-Id", requestId);
  return {
    post: (path: string, body?: unknown) => prepare(request(baseUrl).post(API + path)).send(body as object),
    put: (path: string, body?: unknown) => prepare(request(baseUrl).put(API + path)).send(body as object),
    delete: (path: string) => prepare(request(baseUrl).delete(API + path)),
  };
}

function postWebhook(event: PaymentEventBody, requestId: string): Test {
  const raw = JSON.stringify(event);
  return request(baseUrl)
    .post(`${API}/webhook/payment-callback`)
    .set("Content-Type", "application/json")
    .set(PAYMENT_SIGNATURE_HEADER, webhookSignature(raw))
    .set("X-Request-Id", requestId)
    .send(raw);
}

// ---------------------------------------------------------------------------------------------
// Rounds

interface Problem {
  code: string;
  message: string;
}

interface Round {
  race: Race;
  index: number;
  offsetMs: number;
  /** A second seeded draw in [0, 1) for the race's own choices (a full or a partial payment). */
  choice: number;
  /** The bill's merchant name: the payment system's description starts with it. Also the request ids' prefix. */
  tag: string;
  token: string;
  billId: string;
  byName: Record<string, string>;
  answers: Answer[];
  removed: RemovedParticipant[];
  /** What the payer paid, and what the webhook answered. */
  collections: { paymentId: string; event: PaymentEventBody; answer?: Answer }[];
  /** The racing call of a race triggered by the payment system (see onFirstCreate). */
  triggered?: Promise<void>;
  problems: Problem[];
  notes: string[];
  /** The state read by the first check (after the race), and by the last, for the report. */
  state?: MoneyState;
  finalState?: MoneyState;
  /** How many answers the race itself had (the rest: retried webhooks, the payers paying the rest). */
  raceAnswers: number;
  /** Answers already checked. */
  checkedAnswers: number;
}

interface Race {
  key: string;
  name: string;
  /** More set-up on the fresh bill, before the race. */
  setup?: (r: Round) => Promise<void>;
  /** The call racing request-payments, sent offsetMs after it. */
  other?: (r: Round) => Promise<Answer | undefined>;
  /** Or: the racing call starts offsetMs after the payment system created the round's first payment. */
  onFirstCreate?: (r: Round, payment: RecordedPayment) => Promise<void>;
}

/** Collects a payment at the payment system and delivers its signed webhook. */
async function payAndDeliver(r: Round, paymentId: string, amount?: string, label = "webhook"): Promise<void> {
  let event: PaymentEventBody;
  try {
    event = paymentSystem.collect(paymentId, amount);
  } catch (err) {
    r.notes.push(`the payer could not pay: ${(err as Error).message}`);
    return;
  }
  const collection: Round["collections"][number] = { paymentId, event };
  r.collections.push(collection);
  collection.answer = await send(`${label} ${event.data.amount}`, postWebhook(event, `${r.tag}-webhook`));
  if (collection.answer.body.outcome) collection.answer.label += ` (${String(collection.answer.body.outcome)})`;
  r.answers.push(collection.answer);
}

const RACES: Race[] = [
  {
    key: "add",
    name: "add participant",
    other: (r) => send("add participant D", api(r.token, `${r.tag}-other`).post(`/bills/${r.billId}/participants`, { name: "D" })),
  },
  {
    key: "remove",
    name: "remove participant",
    other: async (r) => {
      const answer = await send("remove C", api(r.token, `${r.tag}-other`).delete(`/bills/${r.billId}/participants/${r.byName.C}`));
      if (answer.status === 204) r.removed.push({ id: r.byName.C, names: ["C"] });
      return answer;
    },
  },
  {
    key: "mark",
    name: "mark-as-paid",
    other: (r) => send("mark A as paid", api(r.token, `${r.tag}-other`).put(`/bills/${r.billId}/participants/${r.byName.A}/mark-as-paid`, { method: "cash" })),
  },
  {
    key: "cancel",
    name: "cancel the bill",
    other: (r) => send("cancel the bill", api(r.token, `${r.tag}-other`).delete(`/bills/${r.billId}`)),
  },
  {
    key: "webhook",
    name: "a payment webhook for a request already out",
    // A is asked first (their request is at the payment system); request-payments then asks B and C
    // while A's payer pays the whole 25.00, or 10.00 of it (half the rounds; the rest is asked again).
    setup: async (r) => {
      const res = await send("request A", api(r.token, `${r.tag}-setup`).post(`/bills/${r.billId}/participants/${r.byName.A}/request-payment`));
      if (res.status !== 200) throw new Error(`round ${r.index}: asking A to pay answered ${res.status} ${JSON.stringify(res.body)}`);
    },
    other: async (r) => {
      const a = [...paymentSystem.payments.values()].find((p) => p.description.startsWith(`${r.tag}:`) && p.status === "pending");
      if (!a) throw new Error(`round ${r.index}: A's payment is not at the payment system after the set-up`);
      await payAndDeliver(r, a.id, r.choice < 0.5 ? "10.00" : undefined);
      return undefined; // payAndDeliver keeps the webhook's answer
    },
  },
  {
    key: "webhook-new",
    name: "a payment webhook for a request being handed over",
    // The payer pays the first payment request-payments creates at the payment system, offsetMs
    // after the payment system created it: the webhook can arrive before the hand-over has stored
    // the payment's id here.
    onFirstCreate: async (r, payment) => {
      await sleep(r.offsetMs);
      await payAndDeliver(r, payment.id);
    },
  },
  {
    key: "resplit",
    name: "re-split",
    other: (r) =>
      send(
        "re-split 10/20/30/40",
        api(r.token, `${r.tag}-other`).post(`/bills/${r.billId}/split/custom-amount`, {
          amounts: [
            { participantId: r.byName.me, amount: "10.00" },
            { participantId: r.byName.A, amount: "20.00" },
            { participantId: r.byName.B, amount: "30.00" },
            { participantId: r.byName.C, amount: "40.00" },
          ],
        }),
      ),
  },
];

/** Rounds armed for a race the payment system triggers: the tag, and what to do with the first payment. */
const armed = new Map<string, (payment: RecordedPayment) => void>();
const tagOf = (description: string) => description.slice(0, description.indexOf(":"));
paymentSystem.onCreate = (payment) => {
  const tag = tagOf(payment.description);
  const run = armed.get(tag);
  if (!run) return;
  armed.delete(tag);
  run(payment);
};

// Reachable people: asking them to pay writes their notices in the hand-over's transaction.
const PEOPLE = [
  { name: "A", email: "a@example.com" },
  { name: "B", phone: "+14155550100" },
  { name: "C", email: "c@example.com" },
];

async function prepare(race: Race, index: number, offsetMs: number, choice: number): Promise<Round> {
  // Fixed width, so no round's tag is a prefix of another's.
  const tag = `race-${race.key}-${SEED}-r${String(index).padStart(4, "0")}`;
  // The set-up is not what is tested: on a machine so busy that the pool gives no connection in
  // time (503 database_unavailable), it is tried again. Every answer of the race is checked.
  let bill: Awaited<ReturnType<typeof splitBill>>;
  for (let attempt = 1; ; attempt += 1) {
    try {
      bill = await splitBill(t, ["me", ...PEOPLE], { merchantName: tag });
      break;
    } catch (err) {
      if (attempt === 3 || !/\b503\b/.test((err as Error).message)) throw err;
      await sleep(500);
    }
  }
  const r: Round = {
    race,
    index,
    offsetMs,
    choice,
    tag,
    token: bill.token,
    billId: bill.billId,
    byName: bill.byName,
    answers: [],
    removed: [],
    collections: [],
    problems: [],
    notes: [],
    raceAnswers: 0,
    checkedAnswers: 0,
  };
  await race.setup?.(r);
  return r;
}

async function runRace(r: Round): Promise<void> {
  const { race } = r;
  if (race.onFirstCreate) {
    armed.set(r.tag, (payment) => {
      r.triggered = race.onFirstCreate!(r, payment);
    });
  }
  const requested = send("request-payments", api(r.token, `${r.tag}-request-payments`).post(`/bills/${r.billId}/request-payments`));
  let other: Promise<Answer | undefined> | undefined;
  if (race.other) {
    if (r.offsetMs > 0) await sleep(r.offsetMs);
    other = race.other(r);
  }
  const [first, second] = await Promise.all([requested, other]);
  r.answers.unshift(first);
  if (second && !r.answers.includes(second)) r.answers.push(second);
  if (race.onFirstCreate) {
    armed.delete(r.tag);
    if (r.triggered) await r.triggered;
    else r.notes.push("the payment system was asked for no payment: no webhook raced");
  }
  r.raceAnswers = r.answers.length;
}

/** The payment system delivers again, once, each webhook that was not answered 2xx (as it retries). */
async function redeliver(r: Round): Promise<void> {
  for (const c of r.collections) {
    if (!c.answer || (c.answer.status >= 200 && c.answer.status < 300)) continue;
    c.answer = await send(`webhook ${c.event.data.amount} again`, postWebhook(c.event, `${r.tag}-webhook-again`));
    if (c.answer.body.outcome) c.answer.label += ` (${String(c.answer.body.outcome)})`;
    r.answers.push(c.answer);
  }
}

/** The payers pay every payment of the round that the payment system still lets them pay. */
async function payTheRest(r: Round): Promise<void> {
  for (const p of [...paymentSystem.payments.values()]) {
    if (p.status === "pending" && tagOf(p.description) === r.tag)
      await payAndDeliver(r, p.id, undefined, `webhook paying ${p.description.slice(r.tag.length + 2)} of`);
  }
}

const OPEN = new Set(["pending", "sent"]);
const short = (id: string | null | undefined) => (id ? id.slice(-6) : "none");

const AFTER_PAYING = "after the payers paid what they could";

/**
 * The checks of a round, after the race (`phase` undefined) or after the payers paid the rest: a
 * problem already reported is not reported again.
 */
async function checkRound(r: Round, phase?: string): Promise<void> {
  const problem = (code: string, message: string) => {
    if (phase && r.problems.some((p) => p.code === code && p.message === message)) return;
    r.problems.push({ code, message: phase ? `(${phase}) ${message}` : message });
  };

  const fresh = r.answers.slice(r.checkedAnswers);
  r.checkedAnswers = r.answers.length;
  for (const a of fresh) {
    if (a.status >= 500 || a.status < 200 || (a.status >= 300 && a.status < 400)) problem("http.5xx", `${show(a)}: ${JSON.stringify(a.body).slice(0, 200)}`);
    else if (a.shape) problem("http.problem", `${show(a)}: not a problem-details body: ${a.shape}`);
  }

  // After the race the database alone; at the end of the round every report too.
  const { state, violations } = await checkMoney(t, {
    billId: r.billId,
    token: phase ? r.token : undefined,
    removed: r.removed,
    summaryCoversOnlyThisBill: true,
    baseUrl,
  });
  r.state ??= state;
  if (phase) r.finalState = state;
  for (const v of violations) problem(`money.${v.code}`, v.message);

  const nameOf = (participantId: string | null) =>
    state.participants.find((p) => p.id === participantId)?.name ?? (participantId === r.byName.C ? "C (removed)" : `participant ${short(participantId)}`);
  const requests = new Map(state.requests.map((x) => [x.id, x]));
  const mine = [...paymentSystem.payments.values()].filter((p) => tagOf(p.description) === r.tag);
  const forWhom = (p: RecordedPayment) => p.description.slice(p.description.indexOf(":") + 2);
  for (const p of mine) {
    const req = requests.get(p.requestId);
    const what = `payment ${p.id.slice(-8)} of ${p.amount} ${p.currency} (${forWhom(p)}, request ${short(p.requestId)})`;
    if (p.status === "pending") {
      if (!req) problem("edge.collectable", `${what} can still be collected at the payment system, but its request is gone here (its participant was removed)`);
      else if (!OPEN.has(req.status))
        problem(
          "edge.collectable",
          `${what} can still be collected at the payment system, but its request here is ${req.status}${req.status_reason ? ` ("${req.status_reason}")` : ""}`,
        );
      else if (!new Decimal(req.amount).equals(p.amount))
        problem("edge.collectable", `${what} can still be collected, but its open request here asks ${new Decimal(req.amount).toFixed(2)}`);
      else if (req.payment_id !== p.id)
        problem("edge.collectable", `${what} can still be collected, but its open request here names payment ${req.payment_id ?? "none"}`);
    }
    if (p.status === "succeeded" && p.collected) {
      const answer = r.collections.find((c) => c.paymentId === p.id)?.answer;
      const answered = answer ? `the webhook answered ${answer.status}${answer.body.outcome ? ` ${String(answer.body.outcome)}` : ""}` : "no webhook answer";
      const rows = state.payments.filter((x) => x.event_id === p.collected!.eventId);
      const counted = `${p.collected.amount} ${p.currency} collected by the payment system for ${what}`;
      if (rows.length === 0) problem("edge.collected", `${counted} is counted nowhere on the bill (${answered})`);
      else if (rows.length > 1) problem("edge.collected", `${counted} is counted ${rows.length} times`);
      else if (!new Decimal(rows[0].amount).equals(p.collected.amount)) problem("edge.collected", `${counted} is counted as ${rows[0].amount}`);
      else if (req && rows[0].participant_id !== req.participant_id)
        problem("edge.collected", `${counted} is counted for ${nameOf(rows[0].participant_id)}, not for ${nameOf(req.participant_id)}`);
    }
  }
  for (const req of state.requests.filter((x) => OPEN.has(x.status))) {
    const what = `request ${short(req.id)} of ${new Decimal(req.amount).toFixed(2)} for ${nameOf(req.participant_id)}`;
    if (req.status === "pending") {
      problem("edge.open", `${what} is still pending (never handed over) after the hand-over jobs ran`);
      continue;
    }
    const p = req.payment_id ? paymentSystem.payments.get(req.payment_id) : undefined;
    if (!p) problem("edge.open", `${what} is sent, but the payment system does not know its payment ${req.payment_id ?? "(none)"}`);
    else if (p.status !== "pending")
      problem("edge.open", `${what} is open here, but its payment ${p.id.slice(-8)} is ${p.status} at the payment system: nobody can pay it`);
    else if (!new Decimal(p.amount).equals(req.amount)) problem("edge.open", `${what} is open here, but its payment there asks ${p.amount}`);
  }
}

/**
 * Log lines since `from` that are errors or mention a deadlock, charged to the round whose bill or
 * request id (its tag) they name, or else to the batch.
 */
function logProblems(rounds: Round[], from: number): string[] {
  const unattributed: string[] = [];
  for (const line of logLines.slice(from)) {
    const text = JSON.stringify(line);
    if (line.level < 50 && !/deadlock/i.test(text)) continue;
    const err = line.err as { message?: string; code?: string } | undefined;
    const url = (line.req as { url?: string } | undefined)?.url;
    const round = rounds.find((r) => text.includes(r.billId) || text.includes(r.tag));
    const during =
      typeof line.testRequestId === "string" && round && line.testRequestId.startsWith(`${round.tag}-`)
        ? ` [during ${line.testRequestId.slice(round.tag.length + 1)}]`
        : "";
    const message = `[${pino.levels.labels[line.level] ?? line.level}]${during} ${line.msg}${err?.message ? `: ${err.message}` : ""}${err?.code ? ` (${err.code})` : ""}${url && !line.msg.includes(url) ? ` (${url})` : ""}`;
    if (round) round.problems.push({ code: "log.error", message });
    else unattributed.push(message);
  }
  return unattributed;
}

interface KindReport {
  failedRounds: Round[];
  batchProblems: string[];
  tally: Map<string, number>;
  closedByOther: number;
  ms: number;
  /** Milliseconds per phase, summed over the batches. */
  phases: Map<string, number>;
}

async function runKind(race: Race): Promise<KindReport> {
  const started = performance.now();
  const random = mulberry32(SEED ^ hash(race.key));
  const plan = Array.from({ length: ROUNDS }, (_, index) => ({ index, offsetMs: Math.floor(random() * (MAX_OFFSET_MS + 1)), choice: random() }));
  const report: KindReport = { failedRounds: [], batchProblems: [], tally: new Map(), closedByOther: 0, ms: 0, phases: new Map() };
  for (let at = 0; at < plan.length; at += BATCH) {
    const batch = plan.slice(at, at + BATCH);
    let mark = performance.now();
    const lap = (phase: string) => {
      const now = performance.now();
      report.phases.set(phase, (report.phases.get(phase) ?? 0) + (now - mark));
      mark = now;
    };
    const rounds = await Promise.all(batch.map((p) => prepare(race, p.index, p.offsetMs, p.choice)));
    lap("set-up");
    const logsFrom = logLines.length;
    const label = `batch of rounds ${batch[0].index}-${batch[batch.length - 1].index}`;
    await Promise.all(
      rounds.map(async (r, i) => {
        await sleep(i * STAGGER_MS);
        await runRace(r);
      }),
    );
    // Let it settle: the jobs the ledger wrote at its edges run now, as a worker would run them once
    // due (the hand-overs, and the cancels of payments whose requests closed), and the payment
    // system delivers again what was not answered 2xx.
    const settle = async (when: string) => {
      const jobs = await t.runJobs([QUEUES.paymentHandOver, QUEUES.paymentCancel], { ignoreStartAfter: true });
      if (jobs.failed > 0) report.batchProblems.push(`${label}: ${jobs.failed} of ${jobs.ran} hand-over or cancel jobs failed ${when}`);
      await Promise.all(rounds.map(redeliver));
    };
    lap("races");
    await settle("after the race");
    lap("settling");
    await Promise.all(rounds.map((r) => checkRound(r)));
    lap("checks");
    // Then every payer pays what the payment system still lets them pay: all of it must be counted.
    await Promise.all(rounds.map(payTheRest));
    lap("paying the rest");
    await settle(AFTER_PAYING);
    lap("settling");
    await Promise.all(rounds.map((r) => checkRound(r, AFTER_PAYING)));
    lap("checks");
    for (const message of logProblems(rounds, logsFrom)) report.batchProblems.push(`${label}: ${message}`);
    for (const r of rounds) {
      const key = r.answers
        .slice(0, r.raceAnswers)
        .map((a) => `${a.label.replace(/ \(.*\)$/, "")} ${a.status}${a.code ? ` ${a.code}` : ""}${a.body.outcome ? ` ${String(a.body.outcome)}` : ""}`)
        .join(" + ");
      report.tally.set(key, (report.tally.get(key) ?? 0) + 1);
      if (r.state?.requests.some((x) => x.status === "cancelled")) report.closedByOther += 1;
      if (r.problems.length) report.failedRounds.push(r);
    }
  }
  report.ms = Math.round(performance.now() - started);
  return report;
}

function formatReport(race: Race, report: KindReport): string {
  const lines: string[] = [];
  const failed = report.failedRounds;
  lines.push(
    `request-payments vs ${race.name}: ${failed.length} of ${ROUNDS} rounds failed, ${report.batchProblems.length} problem(s) charged to no round ` +
      `(${onPostgres ? "PostgreSQL" : "PGlite"}, seed ${SEED}: replay the offsets with RACES_SEED=${SEED}; ${report.ms} ms)`,
  );
  const byCode = new Map<string, number>();
  for (const r of failed) for (const code of new Set(r.problems.map((p) => p.code))) byCode.set(code, (byCode.get(code) ?? 0) + 1);
  if (byCode.size) lines.push(`  rounds per broken check: ${[...byCode].map(([code, n]) => `${code} ${n}`).join(", ")}`);
  lines.push(`  answers to the race: ${[...report.tally].map(([k, n]) => `${n}x [${k}]`).join("; ")}`);
  lines.push(`  time: ${[...report.phases].map(([phase, ms]) => `${phase} ${Math.round(ms)} ms`).join(", ")}`);
  lines.push(`  rounds with a request cancelled here (the other call came after request-payments' commit): ${report.closedByOther}`);
  for (const message of report.batchProblems.slice(0, 15)) lines.push(`  ${message}`);
  if (report.batchProblems.length > 15) lines.push(`  ... and ${report.batchProblems.length - 15} more`);
  // Up to 8 rounds in full: first one round for each broken check, then in order.
  const shown: Round[] = [];
  for (const code of byCode.keys()) {
    const first = failed.find((r) => r.problems.some((p) => p.code === code));
    if (first && !shown.includes(first)) shown.push(first);
  }
  for (const r of failed) if (shown.length < 8 && !shown.includes(r)) shown.push(r);
  shown.sort((a, b) => a.index - b.index);
  for (const r of shown.slice(0, 8)) {
    lines.push(
      `  round ${r.index} (offset ${r.offsetMs} ms${race.key === "webhook" ? `, ${r.choice < 0.5 ? "partial" : "full"} payment` : ""}, bill ${r.billId}): ${r.answers.slice(0, r.raceAnswers).map(show).join("; ")}`,
    );
    if (r.answers.length > r.raceAnswers) lines.push(`    then: ${r.answers.slice(r.raceAnswers).map(show).join("; ")}`);
    for (const p of r.problems) lines.push(`    [${p.code}] ${p.message}`);
    for (const n of r.notes) lines.push(`    (note) ${n}`);
    const stateShown = (p: Problem) => p.code.startsWith("money.") || p.code.startsWith("edge.");
    if (r.state && r.problems.some((p) => stateShown(p) && !p.message.startsWith(`(${AFTER_PAYING})`))) {
      lines.push("      the bill after the race:", describeState(r.state).replace(/^ {2}/gm, "        "));
    }
    if (r.finalState && r.problems.some((p) => stateShown(p) && p.message.startsWith(`(${AFTER_PAYING})`))) {
      lines.push(`      the bill ${AFTER_PAYING}:`, describeState(r.finalState).replace(/^ {2}/gm, "        "));
    }
  }
  const rest = failed.filter((r) => !shown.slice(0, 8).includes(r));
  if (rest.length)
    lines.push(
      `  ... and ${rest.length} more failed rounds: ${rest.map((r) => `${r.index} (${[...new Set(r.problems.map((p) => p.code))].join(", ")})`).join("; ")}`,
    );
  return lines.join("\n");
}

describe("request-payments racing another change to the same bill", () => {
  for (const race of RACES) {
    it(`request-payments vs ${race.name}: ${ROUNDS} rounds, never a 5xx or an error logged; money rules and the payment system's books agree`, async () => {
      const report = await runKind(race);
      const text = formatReport(race, report);
      if (VERBOSE) console.log(text);
      if (report.failedRounds.length || report.batchProblems.length) throw new Error(text);
    }, 300_000);
  }
});
