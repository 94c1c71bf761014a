// The ledger's rules (docs/money.md) under random use, at the level of decide(): no database, no
// HTTP. fast-check draws sequences of ledger commands; each is decided on a state kept in memory
// (the state a command sees is what the store would read: the bill, everyone on it, the open
// requests and those the command names), and the decision's `after` becomes the next state. A
// command refused with a domain error changes nothing. Beside the ledger, a tiny payment system
// in memory: a hand-over creates a payment there (keyed by the request, as the real one), its
// answer can be lost and come later, every `effects.cancelAtPaymentSystem` cancels one, and a payer
// can pay whatever it can still collect (or, racing our cancel, what it was just told to cancel).
//
// After every step: the rules of docs/money.md on the state, that the changes the writer would
// write describe exactly `after`, that every payment the payment system can still collect belongs
// to an open request asking that amount, and that every payment it collected is counted once.
//
//   node --experimental-vm-modules node_modules/jest/bin/jest.js tests/unit/ledger-model.test.ts
//   LEDGER_MODEL_RUNS=20000   more sequences (default 2000); a failure prints its seed and path,
//   LEDGER_MODEL_SEED, LEDGER_MODEL_PATH replay it.
import Decimal from "decimal.js";
import fc from "fast-check";
import { minorUnits } from "../../src/domain/currency";
import { AppError } from "../../src/domain/errors";
import { balances, decide, isOpen, isPresent, splitCovers, type DecideContext } from "../../src/ledger/decide";
import type { Decision, LedgerCommand, LedgerParticipant, LedgerRequest, LedgerState, NewPayment, SplitInput } from "../../src/ledger/model";

const RUNS = Number(process.env.LEDGER_MODEL_RUNS ?? 2000);
const SEED = process.env.LEDGER_MODEL_SEED ? Number(process.env.LEDGER_MODEL_SEED) : undefined;
const PATH = process.env.LEDGER_MODEL_PATH || undefined;
const MAX_STEPS = 40;
const TTL_MS = 72 * 3_600_000;
const D = (v: Decimal.Value) => new Decimal(v);
const ZERO = D(0);

// ---------------------------------------------------------------------------------------------
// The steps fast-check draws: plain data, so a failure prints as something one can read and replay.
// `pick` chooses among what exists when the step runs (modulo), so any sequence is valid.

/** Bills in USD (and EUR, to which one can change) and in CLF, which has four minor units. */
const TOTALS: Record<string, string[]> = { USD: ["100.00", "10.00", "0.05", "99.99", "1234.56"], CLF: ["10.0000", "10.0001", "0.0007", "123.4567"] };
const totalsOf = (currency: string | null) => TOTALS[currency ?? "USD"] ?? TOTALS.USD;
type Amount = "exact" | "partial" | "excess" | "currency";
type Step =
  | { do: "add"; creator: boolean; phone: number | null }
  | { do: "remove"; pick: number }
  /** A new total (one of the bill's currency's, or none), from the creator or read by the AI (which never changes a bill whose requests are out); `swap`: USD <-> EUR with it. */
  | { do: "total"; total: number | null; swap: boolean; ai: boolean }
  | { do: "split"; method: SplitInput["method"]; weights: number[]; valid: boolean }
  | { do: "request"; pick: number | null }
  /** The hand-over of an issued request: the payment system creates its payment; its answer is recorded now, or lost (the job asks again later). */
  | { do: "hand-over"; pick: number; lost: boolean }
  /** The payer pays at the payment system; `late`: also a payment it was told to cancel (the payer was quicker). */
  | { do: "pay"; pick: number; amount: Amount; late: boolean }
  | { do: "fail"; pick: number; type: "failed" | "expired" }
  | { do: "mark-paid"; pick: number }
  /** Time passes beyond every request's expiry; the sweep expires the open ones. */
  | { do: "expire" }
  | { do: "cancel" };

const pick = fc.nat({ max: 1000 });
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      do: fc.constant("add" as const),
      creator: fc.oneof({ weight: 1, arbitrary: fc.constant(true) }, { weight: 5, arbitrary: fc.constant(false) }),
      phone: fc.option(fc.nat({ max: 2 }), { freq: 3 }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ do: fc.constant("remove" as const), pick }) },
  {
    weight: 4,
    arbitrary: fc.record({
      do: fc.constant("total" as const),
      total: fc.option(pick, { freq: 8 }),
      swap: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      ai: fc.boolean(),
    }),
  },
  {
    weight: 10,
    arbitrary: fc.record({
      do: fc.constant("split" as const),
      method: fc.constantFrom<SplitInput["method"]>("equal", "equal", "custom_amount", "percentage", "shares", "itemized"),
      weights: fc.array(fc.nat({ max: 4 }), { minLength: 1, maxLength: 5 }),
      valid: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    }),
  },
  { weight: 8, arbitrary: fc.record({ do: fc.constant("request" as const), pick: fc.option(pick, { freq: 3 }) }) },
  { weight: 12, arbitrary: fc.record({ do: fc.constant("hand-over" as const), pick, lost: fc.boolean() }) },
  {
    weight: 16,
    arbitrary: fc.record({
      do: fc.constant("pay" as const),
      pick,
      amount: fc.constantFrom<Amount>("exact", "exact", "partial", "excess", "currency"),
      late: fc.boolean(),
    }),
  },
  { weight: 4, arbitrary: fc.record({ do: fc.constant("fail" as const), pick, type: fc.constantFrom("failed" as const, "expired" as const) }) },
  { weight: 4, arbitrary: fc.record({ do: fc.constant("mark-paid" as const), pick }) },
  { weight: 2, arbitrary: fc.constant({ do: "expire" as const }) },
  { weight: 1, arbitrary: fc.constant({ do: "cancel" as const }) },
);

/** How a sequence starts: a bill, people, an equal split, requests (so the steps start somewhere). */
const startArb = fc.record({
  bill: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...TOTALS.USD).map((total) => ({ currency: "USD", total })) },
    { weight: 1, arbitrary: fc.constantFrom(...TOTALS.CLF).map((total) => ({ currency: "CLF", total })) },
  ),
  people: fc.nat({ max: 4 }),
  creator: fc.boolean(),
  split: fc.boolean(),
  request: fc.boolean(),
});
type Start = typeof startArb extends fc.Arbitrary<infer T> ? T : never;

// ---------------------------------------------------------------------------------------------
// The world: the ledger's state as the store holds it, and the payment system.

interface SimPayment {
  id: string;
  requestId: string;
  amount: Decimal;
  currency: string;
  expiresAt: Date;
  status: "open" | "cancelled" | "collected" | "failed" | "expired";
  /** The ledger has recorded the hand-over's answer (else the hand-over job will ask again). */
  answered: boolean;
  /** What the payer paid, once collected. */
  collected?: Decimal;
  /** Collected in a currency the bill no longer has: not countable, left to a person. */
  mismatch?: boolean;
}

interface World {
  /** Every request ever issued (the store's table), not only the open ones. */
  state: LedgerState;
  /** Every payment recorded (the payments table). */
  payments: NewPayment[];
  /** Requests handed to the hand-over (effects.handOver), in order. */
  issued: string[];
  sim: Map<string, SimPayment>;
  now: Date;
  ids: number;
  log: string[];
  /** Situations reached (coverage). */
  seen: Set<string>;
}

function newWorld(currency: string, total: string): World {
  return {
    state: {
      bill: {
        id: "bill-0001",
        creatorUserId: "creator",
        status: "created",
        total: D(total),
        currency,
        splitMethod: null,
        needsResplit: false,
        merchantName: "Model Bistro",
        billDate: null,
        note: null,
        userSetFields: [],
        lineItems: null,
        completedAt: null,
        cancelledAt: null,
      },
      participants: [],
      requests: [],
      unpaidRequestCounts: {},
    },
    payments: [],
    issued: [],
    sim: new Map(),
    now: new Date("2026-11-27T12:00:00Z"),
    ids: 0,
    log: [],
    seen: new Set(),
  };
}

function context(w: World): DecideContext {
  const next = () => String((w.ids += 1)).padStart(4, "0");
  return { now: w.now, newId: () => `id-${next()}`, newReference: () => `CB${next()}`, newPayToken: () => `tok-${next()}`, requestTtlMs: TTL_MS };
}

const short = (id: string) => id.replace(/^id-0*/, "#");
const present = (w: World) => w.state.participants.filter(isPresent);
const pickOf = <T>(list: readonly T[], n: number): T | undefined => (list.length ? list[n % list.length] : undefined);
const simOf = (w: World, requestId: string) => [...w.sim.values()].find((p) => p.requestId === requestId);
const collectable = (w: World, p: SimPayment) => p.status === "open" && w.now < p.expiresAt;

function count(kind: string, how: "ok" | "refused") {
  const c = commands.get(kind) ?? { ok: 0, refused: 0 };
  c[how] += 1;
  commands.set(kind, c);
}

/** Frozen, so that a decide() that wrote to its input would throw. */
function frozen(state: LedgerState): LedgerState {
  return Object.freeze({
    bill: Object.freeze({ ...state.bill }),
    participants: Object.freeze(state.participants.map((p) => Object.freeze({ ...p }))) as LedgerParticipant[],
    requests: Object.freeze(state.requests.map((r) => Object.freeze({ ...r }))) as LedgerRequest[],
    unpaidRequestCounts: Object.freeze({ ...state.unpaidRequestCounts }),
  });
}

/**
 * One ledger command: decided on what the store would read (the open requests and those named),
 * then `after` is kept. Refused (a domain error): nothing changes. Returns the decision.
 */
function run<C extends LedgerCommand>(w: World, command: C, label: string): Decision<unknown> | undefined {
  const named = command.kind === "payment_event" ? [command.requestId] : command.kind === "handed_over" ? command.outcomes.map((o) => o.requestId) : [];
  const unpaid: Record<string, number> = {};
  for (const r of w.state.requests) if (r.status === "failed" || r.status === "expired") unpaid[r.participantId] = (unpaid[r.participantId] ?? 0) + 1;
  const input = frozen({ ...w.state, requests: w.state.requests.filter((r) => isOpen(r) || named.includes(r.id)), unpaidRequestCounts: unpaid });
  let decision: Decision<unknown>;
  try {
    decision = decide(input, command, context(w));
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    w.log.push(`${label} -> refused ${err.code}`);
    count(command.kind, "refused");
    return undefined;
  }
  count(command.kind, "ok");
  w.log.push(`${label} -> ${JSON.stringify(decision.result ?? null)?.slice(0, 160)}`);
  expectWritesMatch(input, decision, w);
  const { after, changes } = decision;
  const byId = new Map(after.requests.map((r) => [r.id, r]));
  const known = new Set(w.state.requests.map((r) => r.id));
  w.state = {
    bill: after.bill,
    participants: after.participants,
    requests: [...w.state.requests.map((r) => byId.get(r.id) ?? r), ...after.requests.filter((r) => !known.has(r.id))],
    unpaidRequestCounts: {},
  };
  w.payments.push(...changes.payments);
  w.issued.push(...changes.effects.handOver);
  // The payment-cancel jobs: the payment system stops collecting each (one ended already stays as it ended).
  for (const c of changes.effects.cancelAtPaymentSystem) {
    const p = w.sim.get(c.paymentId);
    if (p?.status === "open") p.status = "cancelled";
  }
  return decision;
}

/**
 * The writer writes `changes`, not `after`: applied to what was read the way the store applies
 * them (src/ledger/store.ts: payment ids and links kept once set), they must give `after`.
 */
function expectWritesMatch(input: LedgerState, decision: Decision<unknown>, w: World) {
  const { changes, after } = decision;
  const problems: string[] = [];
  const bill = changes.bill ?? input.bill;
  for (const k of ["status", "currency", "splitMethod", "needsResplit"] as const)
    if (bill[k] !== after.bill[k]) problems.push(`bill.${k}: writes ${bill[k]}, after ${after.bill[k]}`);
  if (String(bill.total) !== String(after.bill.total)) problems.push(`bill.total: writes ${bill.total}, after ${after.bill.total}`);
  const people = new Map(input.participants.map((p) => [p.id, p]));
  for (const p of [...changes.insertParticipants, ...changes.updateParticipants]) people.set(p.id, p);
  for (const p of after.participants) {
    const written = people.get(p.id);
    const fields = (x: LedgerParticipant) => JSON.stringify([x.share, x.paid, x.outstanding, x.refundDue, x.status, x.removedAt]);
    if (!written || fields(written) !== fields(p))
      problems.push(`participant ${short(p.id)}: writes ${written ? fields(written) : "nothing"}, after ${fields(p)}`);
  }
  const requests = new Map(input.requests.map((r) => [r.id, { ...r }]));
  for (const r of changes.insertRequests) requests.set(r.id, { ...r });
  for (const u of changes.updateRequests) {
    const r = requests.get(u.id);
    if (!r) {
      problems.push(`updates request ${short(u.id)}, which it did not read`);
      continue;
    }
    Object.assign(r, {
      status: u.status,
      closedAt: u.closedAt,
      paymentId: r.paymentId ?? u.paymentId,
      paymentLink: r.paymentLink ?? u.paymentLink,
      paidAt: u.paidAt ?? r.paidAt,
    });
  }
  const paidFor = new Set([...w.payments, ...changes.payments].map((x) => x.paymentRequestId));
  for (const r of after.requests) {
    const written = requests.get(r.id);
    const fields = (x: LedgerRequest, counted: boolean) => JSON.stringify([x.status, x.amount, x.currency, x.paymentId, x.closedAt !== null, counted]);
    if (!written || fields(written, paidFor.has(r.id)) !== fields(r, r.counted))
      problems.push(`request ${short(r.id)}: writes ${written ? fields(written, paidFor.has(r.id)) : "nothing"}, after ${fields(r, r.counted)}`);
  }
  const pendingNew = changes.insertRequests.filter((r) => r.status === "pending").map((r) => r.id);
  if (JSON.stringify(pendingNew) !== JSON.stringify(changes.effects.handOver))
    problems.push(`hand-over jobs ${changes.effects.handOver.map(short)} for the new pending requests ${pendingNew.map(short)}`);
  if (problems.length) throw new Error(`the changes do not describe the decision's after:\n  ${problems.join("\n  ")}`);
}

// ---------------------------------------------------------------------------------------------
// The steps, on the world

/** Amounts in the minor units of the bill's currency (cents; CLF has four decimals). */
const scaleOf = (w: World) => minorUnits(w.state.bill.currency ?? "USD");
const minor = (amount: Decimal, scale: number) => BigInt(amount.times(D(10).pow(scale)).toFixed(0));
const fromMinor = (units: bigint, scale: number) => D(units.toString()).dividedBy(D(10).pow(scale));

/** `total` minor units in proportion to `weights` (floor, then the rest to the first ones). */
function distribute(total: bigint, weights: readonly number[]): bigint[] {
  const w = weights.map(BigInt);
  const sum = w.reduce((a, b) => a + b, 0n) || 1n;
  const shares = w.map((x) => (total * x) / sum);
  let left = total - shares.reduce((a, b) => a + b, 0n);
  for (let i = 0; left > 0n; i = (i + 1) % shares.length, left -= 1n) shares[i] += 1n;
  return shares;
}

function splitInput(w: World, step: Extract<Step, { do: "split" }>): SplitInput {
  const ids = present(w).map((p) => p.id);
  const weights = ids.map((_, i) => step.weights[i % step.weights.length]);
  if (!weights.some((x) => x > 0)) weights[0] = 1;
  const scale = scaleOf(w);
  const total = w.state.bill.total === null ? 0n : minor(w.state.bill.total, scale);
  const off = step.valid ? 0n : 1n; // an invalid split is one unit off (itemized: over the total)
  switch (step.method) {
    case "equal":
      return { method: "equal" };
    case "custom_amount": {
      const units = distribute(total, weights);
      units[0] = (units[0] ?? 0n) + off;
      return { method: "custom_amount", amounts: ids.map((participantId, i) => ({ participantId, amount: fromMinor(units[i], scale).toFixed(scale) })) };
    }
    case "percentage": {
      const units = distribute(1_000_000n, weights);
      units[0] = (units[0] ?? 0n) + off;
      return {
        method: "percentage",
        percentages: ids.map((participantId, i) => ({ participantId, percentage: D(units[i].toString()).dividedBy(10_000).toFixed() })),
      };
    }
    case "shares":
      return { method: "shares", shares: ids.map((participantId, i) => ({ participantId, weight: String(step.valid ? weights[i] : 0) })) };
    case "itemized": {
      // One item per weight, each shared by a run of people; whatever is left of the total is extras.
      const items = distribute(
        step.valid ? total - total / 10n : total + 1n,
        step.weights.map((x) => x + 1),
      );
      return {
        method: "itemized",
        items: items.map((units, j) => ({
          name: `item ${j}`,
          amount: fromMinor(units, scale).toFixed(scale),
          participantIds: ids.filter((_, k) => (k + j) % 2 === 0 || ids.length === 1),
        })),
      };
    }
  }
}

function apply(w: World, step: Step): void {
  switch (step.do) {
    case "add": {
      const n = w.state.participants.length + 1;
      const person = {
        name: step.creator ? "Me" : `P${n}`,
        userId: step.creator ? "creator" : null,
        phone: step.phone === null ? null : `+1555000000${step.phone}`,
        email: null,
        isBankCustomer: step.creator,
        isCreator: step.creator,
      };
      run(
        w,
        { kind: "add_participants", people: [person], reason: "added by the creator" },
        `add ${person.name}${step.phone === null ? "" : ` (phone ${step.phone})`}`,
      );
      return;
    }
    case "remove": {
      const p = pickOf(w.state.participants, step.pick);
      if (p) run(w, { kind: "remove_participant", participantId: p.id }, `remove ${p.name}${isPresent(p) ? "" : " (removed already)"}`);
      return;
    }
    case "total": {
      const { currency } = w.state.bill;
      const total = step.total === null ? null : pickOf(totalsOf(currency), step.total)!;
      const swapped = step.swap && currency === "USD" ? "EUR" : step.swap && currency === "EUR" ? "USD" : undefined;
      const details = { totalAmount: total, ...(swapped ? { currency: swapped } : {}) };
      run(w, { kind: "update_bill", details, from: step.ai ? "ai" : "user" }, `${step.ai ? "the AI reads" : "total"} ${total} ${swapped ?? ""}`);
      return;
    }
    case "split": {
      if (present(w).length === 0) return;
      const input = splitInput(w, step);
      run(w, { kind: "split", request: input }, `split ${JSON.stringify(input)}`);
      return;
    }
    case "request": {
      const p = step.pick === null ? undefined : pickOf(w.state.participants, step.pick);
      run(w, { kind: "request_payments", ...(p ? { participantId: p.id } : {}) }, p ? `request ${p.name}` : "request everyone");
      return;
    }
    case "hand-over": {
      const requestId = pickOf(w.issued, step.pick);
      if (!requestId) return;
      const r = w.state.requests.find((x) => x.id === requestId)!;
      // The payment system de-duplicates by our request id: asking again gives the same payment.
      let p = simOf(w, requestId);
      if (!p) {
        p = {
          id: `pay-${short(requestId).slice(1)}`,
          requestId,
          amount: r.amount,
          currency: r.currency,
          expiresAt: r.expiryDate,
          status: "open",
          answered: false,
        };
        w.sim.set(p.id, p);
      }
      const label = `hand-over ${short(requestId)} (${r.status} ${r.amount.toFixed()}) -> ${p.id}`;
      if (step.lost) {
        w.log.push(`${label}: the answer is lost`);
        return;
      }
      p.answered = true;
      if (!isOpen(r)) w.seen.add(`answer for a ${r.status} request`);
      run(
        w,
        { kind: "handed_over", outcomes: [{ requestId, paymentId: p.id, paymentLink: `https://pay.example/${p.id}`, qrCode: null, qrCodeUrl: null }] },
        label,
      );
      return;
    }
    case "pay": {
      const p = pickOf([...w.sim.values()], step.pick);
      if (!p) return;
      const r = w.state.requests.find((x) => x.id === p.requestId)!;
      const event = (amount: Decimal, currency: string) =>
        ({
          kind: "payment_event",
          eventId: `evt-${(w.ids += 1)}`,
          requestId: r.id,
          type: "succeeded",
          amount: amount.toFixed(),
          currency,
          paymentId: p.id,
        }) as const;
      if (step.amount === "currency") {
        // Not money this payment system collected: refused as a mismatch, nothing counted.
        const d = run(w, event(p.amount, p.currency === "USD" ? "EUR" : "USD"), `a success in another currency for ${p.id}`);
        if ((d?.result as { outcome?: string } | undefined)?.outcome !== "mismatch") throw new Error(`another currency was ${JSON.stringify(d?.result)}`);
        return;
      }
      // Collected now, or (already collected) the same payment reported again under another event id.
      const again = p.status === "collected";
      if (!again && !collectable(w, p) && !step.late) return;
      const scale = minorUnits(p.currency);
      const units = minor(p.amount, scale);
      const paid = again
        ? p.collected!
        : fromMinor(step.amount === "partial" ? (units > 1n ? units / 2n : units) : step.amount === "excess" ? units + (units / 2n || 1n) : units, scale);
      p.status = "collected";
      p.collected = paid;
      // Money that arrives is counted once, whatever became of the request. Only money in a currency
      // the bill no longer has (a request from before its currency changed) is a mismatch, for a person.
      const counted = w.payments.some((x) => x.paymentRequestId === p.requestId);
      const expected = p.currency !== w.state.bill.currency ? "mismatch" : counted ? "ignored" : "applied";
      const d = run(
        w,
        event(paid, p.currency),
        `${again ? "again: " : ""}pay ${paid.toFixed()} ${p.currency} at ${p.id} (asks ${p.amount.toFixed()}; request ${short(r.id)} ${r.status})`,
      );
      const outcome = (d?.result as { outcome?: string } | undefined)?.outcome;
      if (outcome !== expected)
        throw new Error(`${paid} ${p.currency} collected at ${p.id} was ${JSON.stringify(d?.result)}, not ${expected}\n  ${w.log.join("\n  ")}`);
      p.mismatch = !w.payments.some((x) => x.paymentRequestId === p.requestId);
      return;
    }
    case "fail": {
      const p = pickOf([...w.sim.values()], step.pick);
      if (!p) return;
      if (p.status === "open") p.status = step.type;
      run(
        w,
        {
          kind: "payment_event",
          eventId: `evt-${(w.ids += 1)}`,
          requestId: p.requestId,
          type: step.type,
          amount: p.amount.toFixed(),
          currency: p.currency,
          paymentId: p.id,
        },
        `${p.id} ${step.type}`,
      );
      return;
    }
    case "mark-paid": {
      const p = pickOf(w.state.participants, step.pick);
      if (p) run(w, { kind: "mark_paid", participantId: p.id, method: "cash" }, `mark ${p.name} paid`);
      return;
    }
    case "expire": {
      w.now = new Date(w.now.getTime() + TTL_MS + 3_600_000);
      w.log.push("time passes beyond every expiry");
      for (const r of w.state.requests.filter(isOpen)) run(w, { kind: "expire", requestId: r.id }, `expire ${short(r.id)}`);
      return;
    }
    case "cancel":
      run(w, { kind: "cancel_bill", reason: "plans changed" }, "cancel the bill");
  }
}

// ---------------------------------------------------------------------------------------------
// The rules (docs/money.md), on the whole state after every step

function violations(w: World): string[] {
  const out: string[] = [];
  const { bill, participants, requests } = w.state;
  const people = present(w);
  const who = (p: LedgerParticipant) => `${p.name} (${short(p.id)})`;
  const sum = (xs: Decimal[]) => xs.reduce((a, b) => a.plus(b), ZERO);

  // Shares add up to the total whenever a split covers everyone.
  const covers = bill.splitMethod !== null && !bill.needsResplit && people.length > 0 && people.every((p) => p.share !== null);
  if (covers && (bill.total === null || !sum(people.map((p) => p.share!)).equals(bill.total)))
    out.push(`the ${bill.splitMethod} split gives ${sum(people.map((p) => p.share!))} of ${bill.total}`);

  // Per participant: received is the sum of their payments; outstanding and refund due follow from it.
  for (const p of participants) {
    const received = sum(w.payments.filter((x) => x.participantId === p.id).map((x) => x.amount));
    if (!p.paid.equals(received)) out.push(`${who(p)}: paid ${p.paid}, payments ${received}`);
    const b = balances(p, bill.status);
    if (!p.outstanding.equals(b.outstanding) || !p.refundDue.equals(b.refundDue))
      out.push(`${who(p)}: outstanding ${p.outstanding} / refund due ${p.refundDue}, expected ${b.outstanding} / ${b.refundDue}`);
    // received = applied + refund due, with applied never negative; a removed one is owed back all.
    if (p.refundDue.gt(p.paid) || p.refundDue.isNegative()) out.push(`${who(p)}: refund due ${p.refundDue} of ${p.paid} received`);
    if (!isPresent(p) && (!p.outstanding.isZero() || !p.refundDue.equals(p.paid) || p.share !== null))
      out.push(`removed ${who(p)}: owes ${p.outstanding}, refund due ${p.refundDue} of ${p.paid}`);
    if (isPresent(p) && p.share !== null && bill.status !== "cancelled" && !p.isCreator && !p.paid.minus(p.refundDue).plus(p.outstanding).equals(p.share))
      out.push(`${who(p)}: applied + outstanding is not the share ${p.share}`);
  }
  for (const x of w.payments) if (x.currency !== bill.currency) out.push(`a payment of ${x.amount} ${x.currency} counted on a ${bill.currency} bill`);
  const received = sum(w.payments.map((x) => x.amount));
  const applied = sum(participants.map((p) => p.paid.minus(p.refundDue)));
  if (!received.equals(applied.plus(sum(participants.map((p) => p.refundDue))))) out.push(`received ${received} is not applied ${applied} + refund due`);

  // Open requests: exactly the participant's outstanding, at most one each, none for removed people or on a closed bill.
  const open = requests.filter(isOpen);
  for (const r of open) {
    const p = participants.find((x) => x.id === r.participantId)!;
    if (!isPresent(p)) out.push(`request ${short(r.id)} is ${r.status} for removed ${who(p)}`);
    if (bill.status === "cancelled" || bill.status === "completed") out.push(`request ${short(r.id)} is ${r.status} on a ${bill.status} bill`);
    if (!r.amount.equals(p.outstanding) || p.outstanding.isZero() || r.currency !== bill.currency)
      out.push(`request ${short(r.id)} asks ${r.amount} ${r.currency} of ${who(p)}, who owes ${p.outstanding} ${bill.currency}`);
    if (open.filter((x) => x.participantId === r.participantId).length > 1) out.push(`${who(p)} has more than one open request`);
  }
  // Statuses: requested exactly with an open request, never paid while owing.
  if (bill.status !== "cancelled") {
    for (const p of people) {
      const asked = open.some((r) => r.participantId === p.id);
      if (asked !== (p.status === "requested")) out.push(`${who(p)} is ${p.status} with${asked ? "" : "out"} an open request`);
      if (p.status === "paid" && p.outstanding.gt(0)) out.push(`${who(p)} is paid and owes ${p.outstanding}`);
    }
  }
  // Completed exactly when nobody owes and the split covers everyone.
  const done = bill.status !== "cancelled" && splitCovers(bill, participants) && people.every((p) => p.outstanding.isZero());
  if (done !== (bill.status === "completed")) out.push(`the bill is ${bill.status}; nobody owes on a covering split: ${done}`);

  // The payment system: what it can still collect belongs to an open request asking that amount
  // (once the hand-over's answer is recorded: until then its job will ask again)...
  for (const x of w.sim.values()) {
    if (!collectable(w, x) || !x.answered) continue;
    const r = requests.find((y) => y.id === x.requestId)!;
    if (!isOpen(r) || !r.amount.equals(x.amount) || r.paymentId !== x.id)
      out.push(`${x.id} (${x.amount}) can still be collected, but its request ${short(r.id)} is ${r.status} for ${r.amount} with payment ${r.paymentId}`);
  }
  // ...and every payment it collected is counted, once, for the request's participant.
  for (const x of w.sim.values()) {
    const counted = w.payments.filter((y) => y.paymentRequestId === x.requestId && y.source === "payment_system");
    const r = requests.find((y) => y.id === x.requestId)!;
    if (
      x.status === "collected" && !x.mismatch
        ? !(counted.length === 1 && counted[0].amount.equals(x.collected!) && counted[0].participantId === r.participantId)
        : counted.length > 0
    ) {
      out.push(`${x.id} is ${x.status}${x.collected ? ` (${x.collected})` : ""}; counted: ${counted.map((y) => y.amount).join(", ") || "nothing"}`);
    }
  }
  return out;
}

function check(w: World, when: string) {
  const broken = violations(w);
  if (broken.length) throw new Error(`${when}: ${broken.length} rule(s) broken\n  ${broken.join("\n  ")}\nsteps:\n  ${w.log.join("\n  ")}\n${show(w)}`);
}

function show(w: World): string {
  const { bill } = w.state;
  return [
    `bill: ${bill.status} ${bill.total} ${bill.currency} split ${bill.splitMethod}${bill.needsResplit ? " (needs re-split)" : ""}`,
    ...w.state.participants.map(
      (p) =>
        `  ${p.name} ${short(p.id)}${isPresent(p) ? "" : " removed"}: ${p.status} share ${p.share} paid ${p.paid} owes ${p.outstanding} refund ${p.refundDue}`,
    ),
    ...w.state.requests.map((r) => `  request ${short(r.id)} of ${short(r.participantId)}: ${r.amount} ${r.status} payment ${r.paymentId}`),
    ...[...w.sim.values()].map(
      (x) => `  payment system ${x.id} for ${short(x.requestId)}: ${x.amount} ${x.status}${x.answered ? "" : " (answer not recorded)"}`,
    ),
  ].join("\n");
}

function start(s: Start): World {
  const w = newWorld(s.bill.currency, s.bill.total);
  if (s.creator) apply(w, { do: "add", creator: true, phone: null });
  for (let i = 0; i < s.people; i += 1) apply(w, { do: "add", creator: false, phone: null });
  if (s.split) apply(w, { do: "split", method: "equal", weights: [1], valid: true });
  if (s.split && s.request) apply(w, { do: "request", pick: null });
  return w;
}

// ---------------------------------------------------------------------------------------------

/** What the runs reached and how often each command was refused, to see the generator gets somewhere (printed at the end). */
const reached = new Map<string, number>();
const commands = new Map<string, { ok: number; refused: number }>();
function note(w: World) {
  const { seen } = w;
  if (w.state.bill.status === "completed") seen.add("completed");
  if (w.state.bill.status === "cancelled") seen.add("cancelled");
  if (w.state.participants.some((p) => !isPresent(p) && p.paid.gt(0))) seen.add("removed payer");
  if (w.state.participants.some((p) => isPresent(p) && p.refundDue.gt(0))) seen.add("overpaid");
  if (w.payments.some((x) => w.state.requests.find((r) => r.id === x.paymentRequestId)?.status === "cancelled")) seen.add("paid a cancelled request");
  if ([...w.sim.values()].some((x) => !x.answered && x.status === "collected")) seen.add("paid before the hand-over's answer");
  if ([...w.sim.values()].some((x) => x.mismatch)) seen.add("collected in the old currency");
}

describe("the ledger under random commands (decide, in memory)", () => {
  afterAll(() => {
    console.log(
      `ledger model: sequences that reached: ${[...reached].map(([k, v]) => `${k} ${v}`).join(", ")}\n` +
        `  commands (applied / refused): ${[...commands].map(([k, v]) => `${k} ${v.ok}/${v.refused}`).join(", ")}`,
    );
  });

  it(`keeps every money rule through ${RUNS} random sequences of up to ${MAX_STEPS} commands`, () => {
    fc.assert(
      fc.property(startArb, fc.array(stepArb, { maxLength: MAX_STEPS, size: "max" }), (s, steps) => {
        const w = start(s);
        check(w, "the start");
        steps.forEach((step, i) => {
          apply(w, step);
          check(w, `step ${i + 1} (${JSON.stringify(step)})`);
          note(w);
        });
        // Every answer the hand-over jobs still owe arrives at last: then nothing collectable is left on a closed request.
        for (const x of w.sim.values()) {
          if (x.answered) continue;
          x.answered = true;
          run(
            w,
            {
              kind: "handed_over",
              outcomes: [{ requestId: x.requestId, paymentId: x.id, paymentLink: `https://pay.example/${x.id}`, qrCode: null, qrCodeUrl: null }],
            },
            `the hand-over job answers for ${x.id}`,
          );
          check(w, `the late answer for ${x.id}`);
        }
        for (const k of w.seen) reached.set(k, (reached.get(k) ?? 0) + 1);
      }),
      { numRuns: RUNS, seed: SEED, path: PATH, endOnFailure: PATH !== undefined },
    );
  }, 120_000);
});
