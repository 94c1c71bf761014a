// The money rules, in one place (docs/money.md): decide(state, command) -> changes. Pure: no
// framework, no database, no clock of its own. Every command ends with settle(), which makes the
// invariants true again: balances from payments, every open request asking exactly what its
// participant still owes (superseding those that do not), participant statuses, and completion.
import Decimal from "decimal.js";
import { assertEditable, assertTransition } from "../domain/bill-status";
import { BusinessRule, Conflict, NotFound } from "../domain/errors";
import { minorUnits } from "../domain/currency";
import { formatAmount, MAX_AMOUNT } from "../domain/money";
import { completionSteps } from "../domain/payment-status";
import { planSplit, type Allocation, type SplitRequest } from "../domain/split";
import type {
  Changes,
  Decision,
  HistoryRow,
  LedgerBill,
  LedgerCommand,
  LedgerParticipant,
  LedgerRequest,
  LedgerState,
  NewPayment,
  ParticipantStatus,
} from "./model";

export interface DecideContext {
  now: Date;
  /** New ids (uuid v7), references and pay tokens: given, so that decide stays pure. */
  newId(): string;
  newReference(): string;
  newPayToken(): string;
  requestTtlMs: number;
}

const ZERO = new Decimal(0);

/** Open: the payment system may still collect it. */
export function isOpen(r: { status: string }): boolean {
  return r.status === "pending" || r.status === "sent";
}

/**
 * A participant's outstanding and refund-due amounts, from their share and what they paid. The one
 * definition of "owes": the creator, a cancelled bill and a participant with no share owe nothing.
 */
export function balances(p: Pick<LedgerParticipant, "share" | "paid" | "isCreator">, billStatus: string): { outstanding: Decimal; refundDue: Decimal } {
  if (billStatus === "cancelled") return { outstanding: ZERO, refundDue: p.paid };
  const share = p.share ?? ZERO;
  const outstanding = p.isCreator || p.share === null ? ZERO : Decimal.max(share.minus(p.paid), ZERO);
  return { outstanding, refundDue: Decimal.max(p.paid.minus(share), ZERO) };
}

/** The split gives everyone an amount, and the amounts add up to the total. */
export function splitCovers(bill: LedgerBill, participants: readonly LedgerParticipant[]): boolean {
  if (bill.total === null || bill.currency === null || !bill.splitMethod || bill.needsResplit) return false;
  if (participants.length === 0 || participants.some((p) => p.share === null)) return false;
  return participants.reduce((sum, p) => sum.plus(p.share!), ZERO).equals(bill.total);
}

// ---------------------------------------------------------------------------------------------

/** Why statuses changed in this command, for the history rows settle() writes. */
interface Why {
  paid?: string;
  paidMethod?: string;
  paidNote?: string | null;
  reopened?: string;
  requested?: string;
  /** Why an open request closes once nothing is owed. */
  closed?: string;
}

class Draft {
  readonly bill: LedgerBill;
  readonly participants: LedgerParticipant[];
  readonly requests: LedgerRequest[];
  readonly history: HistoryRow[] = [];
  readonly payments: NewPayment[] = [];
  readonly inserted = new Set<string>();
  readonly deleted: LedgerParticipant[] = [];
  readonly newRequests = new Set<string>();
  readonly effects: Changes["effects"] = { handOver: [], cancelAtPaymentSystem: [], received: [], completed: false, cancelled: false, activated: false };

  constructor(
    readonly before: LedgerState,
    readonly ctx: DecideContext,
  ) {
    this.bill = { ...before.bill };
    this.participants = before.participants.map((p) => ({ ...p }));
    this.requests = before.requests.map((r) => ({ ...r }));
  }

  participant(id: string): LedgerParticipant {
    const p = this.participants.find((x) => x.id === id);
    if (!p) throw new NotFound("No participant with this id on this bill", "participant_not_found");
    return p;
  }

  get currency(): string {
    return this.bill.currency ?? "";
  }

  money(amount: Decimal): string {
    return this.bill.currency ? `${formatAmount(amount, this.bill.currency)} ${this.bill.currency}` : amount.toString();
  }

  setBillStatus(to: LedgerBill["status"], reason: string, from = this.bill.status): void {
    this.history.push({ participantId: null, participantName: null, entityType: "bill", previousStatus: from, newStatus: to, reason });
    this.bill.status = to;
  }

  setParticipantStatus(p: LedgerParticipant, to: ParticipantStatus, reason: string): void {
    if (p.status === to) return;
    this.history.push({ participantId: p.id, participantName: p.name, entityType: "participant", previousStatus: p.status, newStatus: to, reason });
    p.status = to;
  }

  setRequestStatus(r: LedgerRequest, to: LedgerRequest["status"], reason: string, extra: { paidAt?: Date; paymentId?: string } = {}): void {
    const p = this.participants.find((x) => x.id === r.participantId) ?? this.deleted.find((x) => x.id === r.participantId);
    this.history.push({ participantId: p && !this.deleted.includes(p) ? p.id : null, participantName: p?.name ?? null, entityType: "payment_request", previousStatus: r.status, newStatus: to, reason: `${r.reference}: ${reason}` });
    // A request that reached the payment system is cancelled there too (after the commit).
    if (to === "cancelled" && isOpen(r)) this.effects.cancelAtPaymentSystem.push({ requestId: r.id, paymentId: r.paymentId });
    r.status = to;
    r.statusReason = reason.slice(0, 300);
    if (extra.paidAt) r.paidAt = extra.paidAt;
    if (extra.paymentId) r.paymentId ??= extra.paymentId;
  }

  openRequestOf(participantId: string): LedgerRequest | undefined {
    return this.requests.find((r) => r.participantId === participantId && isOpen(r));
  }

  issueRequest(p: LedgerParticipant, amount: Decimal): LedgerRequest {
    const r: LedgerRequest = {
      id: this.ctx.newId(),
      participantId: p.id,
      amount,
      currency: this.currency,
      channel: p.isBankCustomer ? "in_app" : "payment_link",
      status: "pending",
      reference: this.ctx.newReference(),
      payToken: this.ctx.newPayToken(),
      paymentId: null,
      statusReason: null,
      // Retries are the requests that ended unpaid; one replaced for a new amount is not a retry.
      retryCount: this.before.unpaidRequestCounts[p.id] ?? 0,
      expiryDate: new Date(this.ctx.now.getTime() + this.ctx.requestTtlMs),
      paidAt: null,
      createdAt: this.ctx.now,
      counted: false,
    };
    this.requests.push(r);
    this.newRequests.add(r.id);
    this.history.push({ participantId: p.id, participantName: p.name, entityType: "payment_request", previousStatus: null, newStatus: "pending", reason: `${r.reference}: asks ${this.money(amount)}` });
    return r;
  }

  /** Makes the rules true again after a command (docs/money.md). */
  settle(why: Why = {}): void {
    const { bill } = this;
    for (const p of this.participants) Object.assign(p, balances(p, bill.status));

    // Open requests: exactly what is owed, at most one per participant.
    const kept = new Set<string>();
    for (const r of this.requests.filter(isOpen)) {
      const p = this.participants.find((x) => x.id === r.participantId)!;
      if (bill.status === "cancelled") {
        this.setRequestStatus(r, "cancelled", "the bill was cancelled");
      } else if (p.outstanding.isZero()) {
        this.setRequestStatus(r, "cancelled", why.closed ?? "nothing is owed any more");
      } else if (!r.amount.equals(p.outstanding) || kept.has(p.id)) {
        this.setRequestStatus(r, "cancelled", `superseded: ${p.name} now owes ${this.money(p.outstanding)}, not ${this.money(r.amount)}`);
        // On an active bill the participant is asked at once for the new amount (and told).
        if (bill.status === "active" && !kept.has(p.id)) {
          this.issueRequest(p, p.outstanding);
          kept.add(p.id);
        }
      } else {
        kept.add(p.id);
      }
    }

    for (const p of this.participants) {
      const settled = p.isCreator || (p.share !== null && p.share.gt(0) && p.paid.gte(p.share));
      if (settled || p.status === "paid") {
        if (p.status !== "paid") {
          p.paidAt = this.ctx.now;
          p.paymentMethod = p.isCreator ? "creator" : why.paidMethod ?? "payment_system";
          p.paymentNote = p.isCreator ? "the creator's own share is settled by definition" : why.paidNote ?? p.paymentNote;
          this.setParticipantStatus(p, "paid", p.isCreator ? "the creator's own share is settled by definition" : why.paid ?? `paid ${this.money(p.paid)}`);
        }
      } else if (kept.has(p.id)) {
        this.setParticipantStatus(p, "requested", why.requested ?? `asked to pay ${this.money(p.outstanding)}`);
      } else {
        const partial = p.paid.gt(0) && !p.outstanding.isZero() ? `; ${this.money(p.outstanding)} still owed` : "";
        this.setParticipantStatus(p, "pending", `${why.reopened ?? "no payment request is open"}${partial}`);
      }
    }

    // Completed exactly when nobody owes anything on a split that covers everyone.
    const steps = completionSteps(bill.status);
    if (steps.length > 0 && splitCovers(bill, this.participants) && this.participants.every((p) => p.outstanding.isZero())) {
      for (const step of steps) this.setBillStatus(step.newStatus, step.newStatus === "completed" ? "every participant has paid" : step.reason, step.previousStatus as LedgerBill["status"]);
      bill.completedAt = this.ctx.now;
      this.effects.completed = true;
    }
  }

  /** Keeps the split true after the people or the total changed (see rebalance in docs/money.md). */
  rebalance(whenPaid: "refuse" | "flag"): void {
    const { bill } = this;
    if (!bill.splitMethod) return;
    const received = this.participants.filter((p) => !p.isCreator && p.paid.gt(0));
    if (received.length > 0) {
      // Shares that money was paid against do not move. A user's change is refused; a change the
      // AI brings (a recognised face) joins with a share of 0, so the split still covers the total
      // and the bill can still complete (never a "needs re-split" that could not be re-split).
      if (whenPaid === "refuse") throw splitLocked(received);
      for (const p of this.participants) if (p.share === null) p.share = ZERO;
      return;
    }
    const canRecompute = bill.splitMethod === "equal" && this.participants.length > 0 && bill.total !== null && bill.currency !== null;
    if (canRecompute) {
      this.applyPlan(planSplit({ total: bill.total!, currency: bill.currency!, participantIds: this.participants.map((p) => p.id), seed: bill.id }, { method: "equal" }));
      bill.splitMethod = "equal";
      return;
    }
    bill.needsResplit = true;
  }

  applyPlan(plan: Allocation[]): void {
    const byId = new Map(plan.map((a) => [a.participantId, a]));
    for (const p of this.participants) {
      const a = byId.get(p.id);
      p.share = a?.amount ?? null;
      p.percentage = a?.percentage ?? null;
      p.weight = a?.weight ?? null;
    }
    this.bill.needsResplit = false;
  }

  changes(): Changes {
    const before = new Map(this.before.participants.map((p) => [p.id, p]));
    const deleted = new Set(this.deleted.map((p) => p.id));
    const beforeRequests = new Map(this.before.requests.map((r) => [r.id, r]));
    return {
      bill: sameBill(this.before.bill, this.bill) ? null : this.bill,
      insertParticipants: this.participants.filter((p) => this.inserted.has(p.id)),
      updateParticipants: this.participants.filter((p) => !this.inserted.has(p.id) && !sameParticipant(before.get(p.id)!, p)),
      deleteParticipants: [...deleted],
      insertRequests: this.requests.filter((r) => this.newRequests.has(r.id)),
      updateRequests: this.requests
        .filter((r) => !this.newRequests.has(r.id) && !deleted.has(r.participantId))
        .filter((r) => {
          const b = beforeRequests.get(r.id)!;
          return b.status !== r.status || b.paymentId !== r.paymentId;
        })
        .map((r) => ({ id: r.id, status: r.status, statusReason: r.statusReason, paymentId: r.paymentId, paidAt: r.paidAt })),
      payments: this.payments,
      // A removed participant's row goes in the same batch: their rows keep the name, not the id.
      history: this.history.map((h) => (h.participantId && deleted.has(h.participantId) ? { ...h, participantId: null } : h)),
      effects: { ...this.effects, handOver: this.requests.filter((r) => this.newRequests.has(r.id) && r.status === "pending").map((r) => r.id) },
    };
  }

  state(): LedgerState {
    return { bill: this.bill, participants: this.participants, requests: this.requests, unpaidRequestCounts: this.before.unpaidRequestCounts };
  }
}

function sameBill(a: LedgerBill, b: LedgerBill): boolean {
  return (
    a.status === b.status &&
    eq(a.total, b.total) &&
    a.currency === b.currency &&
    a.splitMethod === b.splitMethod &&
    a.needsResplit === b.needsResplit &&
    a.merchantName === b.merchantName &&
    a.billDate?.getTime() === b.billDate?.getTime() &&
    a.note === b.note &&
    a.userSetFields.join() === b.userSetFields.join()
  );
}

function sameParticipant(a: LedgerParticipant, b: LedgerParticipant): boolean {
  return (
    a.name === b.name &&
    a.userId === b.userId &&
    a.phone === b.phone &&
    a.email === b.email &&
    a.isBankCustomer === b.isBankCustomer &&
    eq(a.share, b.share) &&
    eq(a.percentage, b.percentage) &&
    eq(a.weight, b.weight) &&
    a.status === b.status &&
    a.paid.equals(b.paid) &&
    a.outstanding.equals(b.outstanding) &&
    a.refundDue.equals(b.refundDue) &&
    a.paymentMethod === b.paymentMethod &&
    a.paymentNote === b.paymentNote
  );
}

function eq(a: Decimal | null, b: Decimal | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}

function splitLocked(paid: LedgerParticipant[]): Conflict {
  return new Conflict(
    `${paid.map((p) => p.name).join(", ")} ${paid.length === 1 ? "has" : "have"} already paid; the split can no longer change`,
    "split_locked",
  );
}

function assertNoDuplicate(existing: readonly LedgerParticipant[], person: { userId: string | null; phone: string | null }): void {
  if (person.userId && existing.some((p) => p.userId === person.userId)) {
    throw new Conflict("This bank customer is already a participant of the bill", "duplicate_participant");
  }
  if (person.phone && existing.some((p) => p.phone === person.phone)) {
    throw new Conflict(`A participant with the phone ${person.phone} is already on the bill`, "duplicate_participant");
  }
}

/** Payment requests need a split that gives everyone an amount and adds up to the total. */
function assertSplitCoversTotal(d: Draft): void {
  const { bill, participants } = d;
  if (bill.total === null || bill.currency === null) {
    throw new Conflict("The bill has no total yet: set it or wait for the AI, then split it", "split_required");
  }
  if (!bill.splitMethod || bill.needsResplit || participants.length === 0 || participants.some((p) => p.share === null)) {
    throw new Conflict("Split the bill first: payment requests need a split that covers every participant", "split_required");
  }
  const assigned = participants.reduce((sum, p) => sum.plus(p.share!), ZERO);
  if (!assigned.equals(bill.total)) {
    throw new Conflict(`The split covers ${formatAmount(assigned, bill.currency)} of ${formatAmount(bill.total, bill.currency)} ${bill.currency}; split again`, "split_required");
  }
}

/** The split a request asks for, against the bill's people and line items (preview or apply). */
export function planFor(bill: LedgerBill, participantIds: readonly string[], request: SplitRequest | ItemizedByLine): Allocation[] {
  if (bill.total === null || bill.currency === null) {
    throw new Conflict(
      "The bill has no total yet: set totalAmount and currency (PUT /bills/{billId}) or wait for the AI to read the receipt",
      "bill_total_missing",
    );
  }
  return planSplit({ total: bill.total, currency: bill.currency, participantIds, seed: bill.id }, resolveLineItems(bill, request));
}

/** An itemized split whose items may name one of the bill's line items instead of an amount. */
export interface ItemizedByLine {
  method: "itemized";
  items: { name?: string; amount?: string; lineItem?: number; participantIds: string[] }[];
  extras?: { tax?: string; serviceCharge?: string; tip?: string };
}

function resolveLineItems(bill: LedgerBill, request: SplitRequest | ItemizedByLine): SplitRequest {
  if (request.method !== "itemized") return request;
  const lineItems = Array.isArray(bill.lineItems) ? (bill.lineItems as { name?: string; amount?: string }[]) : [];
  return {
    method: "itemized",
    extras: request.extras,
    items: request.items.map((item, index) => {
      const byLine = item as ItemizedByLine["items"][number];
      if (byLine.lineItem === undefined) return { name: item.name, amount: item.amount as string, participantIds: item.participantIds };
      const line = lineItems[byLine.lineItem];
      if (!line || typeof line.amount !== "string") {
        throw new BusinessRule(`items.${index}.lineItem: the bill has no line item ${byLine.lineItem}`, "unknown_line_item");
      }
      return { name: item.name ?? line.name, amount: line.amount, participantIds: item.participantIds };
    }),
  };
}

// ---------------------------------------------------------------------------------------------

export type PaymentOutcome = { outcome: "applied" | "ignored" | "mismatch" | "unknown_payment"; detail: string | null };
export type RequestResult = { created: string[]; skipped: { participantId: string; name: string; reason: string }[] };

export function decide(state: LedgerState, command: LedgerCommand, ctx: DecideContext): Decision {
  const d = new Draft(state, ctx);
  const result = apply(d, command);
  return { changes: d.changes(), after: d.state(), result };
}

function apply(d: Draft, command: LedgerCommand): unknown {
  const { bill } = d;
  switch (command.kind) {
    case "update_bill": {
      assertEditable(bill.status);
      const { details } = command;
      let total = details.totalAmount === undefined ? bill.total : details.totalAmount === null ? null : new Decimal(details.totalAmount);
      let currency = details.currency === undefined ? bill.currency : details.currency;
      let moneyChanged = !eq(total, bill.total) || currency !== bill.currency;
      if (moneyChanged && bill.status !== "created") {
        throw new Conflict("The total and currency cannot change once payment requests have been sent", "bill_amount_locked", { currentStatus: bill.status });
      }
      const received = d.participants.filter((p) => !p.isCreator && p.paid.gt(0));
      if (moneyChanged && bill.splitMethod && received.length > 0) {
        // Money was paid against this total: it stays. A user's change is refused; an AI reading
        // that arrives late leaves the amounts as they are (its other details still apply).
        if ((command.whenPaid ?? "refuse") === "refuse") throw splitLocked(received);
        [total, currency, moneyChanged] = [bill.total, bill.currency, false];
      }
      bill.total = total;
      bill.currency = currency;
      if (details.merchantName !== undefined) bill.merchantName = details.merchantName;
      if (details.billDate !== undefined) bill.billDate = details.billDate;
      if (details.note !== undefined) bill.note = details.note;
      if (details.userSetFields !== undefined) bill.userSetFields = details.userSetFields;
      // A split computed for another total no longer adds up: recompute an equal one, flag the rest.
      if (moneyChanged) d.rebalance(command.whenPaid ?? "refuse");
      d.settle();
      return undefined;
    }
    case "add_participants": {
      assertEditable(bill.status);
      const added: string[] = [];
      for (const person of command.people) {
        assertNoDuplicate(d.participants, person);
        const p: LedgerParticipant = {
          id: d.ctx.newId(),
          name: person.name,
          userId: person.userId,
          phone: person.phone,
          email: person.email,
          isBankCustomer: person.isBankCustomer,
          isCreator: person.isCreator,
          aiFaceId: person.aiFaceId ?? null,
          share: null,
          percentage: null,
          weight: null,
          status: "pending",
          paid: ZERO,
          outstanding: ZERO,
          refundDue: ZERO,
          paidAt: null,
          paymentMethod: null,
          paymentNote: null,
          createdAt: d.ctx.now,
        };
        d.participants.push(p);
        d.inserted.add(p.id);
        d.history.push({ participantId: p.id, participantName: p.name, entityType: "participant", previousStatus: null, newStatus: "pending", reason: command.reason });
        added.push(p.id);
      }
      if (added.length) d.rebalance(command.whenPaid);
      d.settle();
      return added;
    }
    case "update_participant": {
      assertEditable(bill.status);
      const p = d.participant(command.participantId);
      const others = d.participants.filter((x) => x !== p);
      const { changes, bankLink } = command;
      const userId = bankLink ? bankLink.userId : p.userId;
      assertNoDuplicate(others, { userId, phone: changes.phone === undefined ? p.phone : changes.phone });
      if (changes.name !== undefined) p.name = changes.name;
      if (changes.phone !== undefined) p.phone = changes.phone;
      if (changes.email !== undefined) p.email = changes.email;
      if (bankLink && !p.isCreator) {
        p.userId = bankLink.userId;
        p.isBankCustomer = bankLink.isBankCustomer;
      }
      d.settle();
      return p.id;
    }
    case "remove_participant": {
      assertEditable(bill.status);
      const p = d.participant(command.participantId);
      if (!p.isCreator && p.paid.gt(0)) {
        throw new Conflict(`${p.name} has already paid ${d.money(p.paid)} and cannot be removed`, "participant_paid");
      }
      for (const r of d.requests.filter((x) => x.participantId === p.id && isOpen(x))) d.setRequestStatus(r, "cancelled", `${p.name} was removed from the bill`);
      d.participants.splice(d.participants.indexOf(p), 1);
      d.deleted.push(p);
      d.history.push({ participantId: null, participantName: p.name, entityType: "participant", previousStatus: p.status, newStatus: "removed", reason: `${p.name} removed by the creator` });
      d.rebalance("refuse");
      d.settle();
      return undefined;
    }
    case "split": {
      assertEditable(bill.status);
      const received = d.participants.filter((p) => !p.isCreator && p.paid.gt(0));
      if (received.length > 0) throw splitLocked(received);
      const plan = planFor(bill, d.participants.map((p) => p.id), command.request);
      d.applyPlan(plan);
      bill.splitMethod = command.request.method;
      d.settle();
      return plan;
    }
    case "request_payments": {
      assertEditable(bill.status);
      let targets = d.participants;
      if (command.participantId) {
        const one = d.participant(command.participantId);
        assertSplitCoversTotal(d);
        if (one.outstanding.isZero()) {
          throw new Conflict(`${one.name} owes nothing${one.isCreator ? " (the creator's share is settled)" : ""}`, "nothing_owed");
        }
        targets = [one];
      } else {
        assertSplitCoversTotal(d);
      }
      const created: string[] = [];
      const skipped: RequestResult["skipped"] = [];
      for (const p of targets) {
        if (p.outstanding.isZero()) {
          skipped.push({ participantId: p.id, name: p.name, reason: p.isCreator ? "the creator's own share" : p.status === "paid" ? "already paid" : "owes nothing" });
        } else if (d.openRequestOf(p.id)) {
          skipped.push({ participantId: p.id, name: p.name, reason: "already asked for this amount" });
        } else {
          created.push(d.issueRequest(p, p.outstanding).id);
        }
      }
      if (bill.status === "created") {
        d.setBillStatus("active", "payment requests sent");
        d.effects.activated = true;
      }
      d.settle();
      return { created, skipped } satisfies RequestResult;
    }
    case "payment_event":
      return applyPaymentEvent(d, command);
    case "mark_paid": {
      assertEditable(bill.status);
      const p = d.participant(command.participantId);
      if (p.status === "paid") throw new Conflict(`${p.name} has already paid`, "already_paid");
      if (p.share === null) throw new Conflict("Split the bill first: this participant has no amount to pay", "split_required");
      if (p.outstanding.isZero()) throw new Conflict(`${p.name} owes nothing`, "nothing_owed");
      const method = command.method ?? "offline";
      d.payments.push({ id: d.ctx.newId(), participantId: p.id, paymentRequestId: null, amount: p.outstanding, currency: d.currency, source: "offline", eventId: null, method, note: command.note ?? null });
      p.paid = p.paid.plus(p.outstanding);
      d.settle({
        paid: `marked as paid by the creator (${method})${command.note ? `: ${command.note}` : ""}`,
        paidMethod: method,
        paidNote: command.note ?? null,
        closed: "closed: marked as paid by the creator",
      });
      return undefined;
    }
    case "expire": {
      const r = d.requests.find((x) => x.id === command.requestId);
      if (!r || !isOpen(r) || r.expiryDate.getTime() >= d.ctx.now.getTime()) return false;
      d.setRequestStatus(r, "expired", "expired before it was paid");
      d.settle({ reopened: "payment request expired; can be asked again" });
      return true;
    }
    case "cancel_bill": {
      assertTransition(bill.status, "cancelled");
      d.setBillStatus("cancelled", command.reason ? `cancelled by the creator: ${command.reason}` : "cancelled by the creator");
      bill.cancelledAt = d.ctx.now;
      d.effects.cancelled = true;
      d.settle({ reopened: "the bill was cancelled" });
      return undefined;
    }
  }
}

function applyPaymentEvent(d: Draft, e: Extract<LedgerCommand, { kind: "payment_event" }>): PaymentOutcome {
  const r = d.requests.find((x) => x.id === e.requestId);
  // Its participant was removed between the claim and the lock (the request went with them).
  if (!r) return { outcome: "unknown_payment", detail: "the payment request was removed with its participant" };
  const p = d.participant(r.participantId);
  if (e.type !== "succeeded") {
    if (!isOpen(r)) return { outcome: "ignored", detail: `request is ${r.status}` };
    d.setRequestStatus(r, e.type, `payment system: ${e.type}${e.reason ? ` (${e.reason})` : ""}`, { paymentId: e.paymentId });
    d.settle({ reopened: `payment ${e.type}; can be asked again` });
    return { outcome: "applied", detail: null };
  }
  let amount: Decimal;
  try {
    amount = new Decimal(e.amount);
  } catch {
    amount = ZERO;
  }
  // Another currency, or more decimals than the currency has, cannot be applied as it is. The
  // amount is judged by its value, not its text: "050.00" is 50.00.
  if (e.currency !== r.currency || !amount.isFinite() || amount.lte(0) || amount.decimalPlaces() > minorUnits(r.currency)) {
    return { outcome: "mismatch", detail: `expected an amount in ${r.currency}, got ${e.amount} ${e.currency}` };
  }
  // A request is one payment at the payment system (one payment id): a second success for a paid
  // request reports the same money again, under another event id. Counted once.
  if (r.status === "paid" || r.counted) return { outcome: "ignored", detail: "the payment of this request was already counted" };
  // Received beyond what a money column holds: kept for a person, not a 500 the payment system retries for ever.
  if (p.paid.plus(amount).gt(MAX_AMOUNT)) return { outcome: "mismatch", detail: `${d.money(amount)} would take what ${p.name} received past ${MAX_AMOUNT.toFixed()}` };
  // Money that arrived counts, whatever became of the request: a superseded, expired or cancelled
  // request's payment still goes to the participant's balance (any excess is refund due).
  const before = r.status;
  d.payments.push({ id: d.ctx.newId(), participantId: p.id, paymentRequestId: r.id, amount, currency: r.currency, source: "payment_system", eventId: e.eventId, method: "payment_system", note: null });
  p.paid = p.paid.plus(amount);
  r.counted = true;
  d.effects.received.push({ participantId: p.id, participantName: p.name, amount });
  if (before !== "cancelled") d.setRequestStatus(r, "paid", `payment system: succeeded (${d.money(amount)})`, { paidAt: d.ctx.now, paymentId: e.paymentId });
  d.settle({
    paid: `paid ${d.money(amount)} (payment ${e.paymentId})`,
    paidMethod: "payment_system",
    closed: "closed: paid through another request",
    reopened: `paid ${d.money(amount)} of ${d.money(r.amount)}`,
  });
  const detail =
    before === "cancelled"
      ? `request was cancelled; ${d.money(amount)} counted toward the balance`
      : amount.equals(r.amount)
        ? null
        : `${d.money(amount)} received for a request of ${d.money(r.amount)}`;
  return { outcome: "applied", detail };
}
