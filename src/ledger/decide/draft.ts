// The working copy of one bill's money state while a command is decided, and the rules every
// command ends with: settle() makes the invariants true again (balances from payments, every open
// request asking exactly what its participant still owes, participant statuses, completion), and
// rebalance() keeps a split true after the people or the total changed. Pure: no framework, no
// database, no clock of its own (docs/money.md).
import Decimal from "decimal.js";
import { NotFound } from "../../domain/errors";
import { formatAmount } from "../../domain/money";
import { completionSteps } from "../../domain/payment-status";
import { planSplit, type Allocation } from "../../domain/split";
import type { Changes, HistoryRow, LedgerBill, LedgerParticipant, LedgerRequest, LedgerState, NewPayment, ParticipantStatus, ReasonCode } from "../model";

export interface DecideContext {
  now: Date;
  /** New ids (uuid v7), references and pay tokens: given, so that decide stays pure. */
  newId(): string;
  newReference(): string;
  newPayToken(): string;
  requestTtlMs: number;
}

export const ZERO = new Decimal(0);

/** Open: the payment system may still collect it. */
export function isOpen(r: { status: string }): boolean {
  return r.status === "pending" || r.status === "sent";
}

/** Still on the bill (not a removed participant's tombstone). */
export function isPresent(p: { removedAt: Date | null }): boolean {
  return p.removedAt === null;
}

/**
 * A participant's outstanding and refund-due amounts, from their share and what they paid. The one
 * definition of "owes": the creator, a cancelled bill, a removed participant and a participant with
 * no share owe nothing; a cancelled bill and a removed participant are owed back all they paid.
 */
export function balances(
  p: Pick<LedgerParticipant, "share" | "paid" | "isCreator"> & { removedAt?: Date | null },
  billStatus: string,
): { outstanding: Decimal; refundDue: Decimal } {
  if (billStatus === "cancelled" || (p.removedAt ?? null) !== null) return { outstanding: ZERO, refundDue: p.paid };
  const share = p.share ?? ZERO;
  const outstanding = p.isCreator || p.share === null ? ZERO : Decimal.max(share.minus(p.paid), ZERO);
  return { outstanding, refundDue: Decimal.max(p.paid.minus(share), ZERO) };
}

/** The split gives everyone on the bill an amount, and the amounts add up to the total. */
export function splitCovers(bill: LedgerBill, participants: readonly LedgerParticipant[]): boolean {
  const present = participants.filter(isPresent);
  if (bill.total === null || bill.currency === null || !bill.splitMethod || bill.needsResplit) return false;
  if (present.length === 0 || present.some((p) => p.share === null)) return false;
  return present.reduce((sum, p) => sum.plus(p.share!), ZERO).equals(bill.total);
}

/** Why statuses changed in this command, for the history rows settle() writes. */
export interface Why {
  paid?: string;
  paidCode?: ReasonCode;
  paidMethod?: string;
  paidNote?: string | null;
  reopened?: string;
  reopenedCode?: ReasonCode;
  requested?: string;
  /** Why an open request closes once nothing is owed. */
  closed?: string;
  closedCode?: ReasonCode;
}

export class Draft {
  readonly bill: LedgerBill;
  /** Everyone ever on the bill, removed ones included (tombstones), in the order they were added. */
  readonly participants: LedgerParticipant[];
  readonly requests: LedgerRequest[];
  readonly history: HistoryRow[] = [];
  readonly payments: NewPayment[] = [];
  readonly inserted = new Set<string>();
  readonly newRequests = new Set<string>();
  readonly effects: Changes["effects"] = {
    handOver: [],
    sent: [],
    cancelAtPaymentSystem: [],
    received: [],
    completed: false,
    cancelled: false,
    activated: false,
  };

  constructor(
    readonly before: LedgerState,
    readonly ctx: DecideContext,
  ) {
    this.bill = { ...before.bill };
    this.participants = before.participants.map((p) => ({ ...p }));
    this.requests = before.requests.map((r) => ({ ...r }));
  }

  /** The people on the bill now: the split, requests and completion are about them. */
  get present(): LedgerParticipant[] {
    return this.participants.filter(isPresent);
  }

  /** A participant on the bill (a removed one is not found: nothing can be done to them). */
  participant(id: string): LedgerParticipant {
    const p = this.participants.find((x) => x.id === id && isPresent(x));
    if (!p) throw new NotFound("No participant with this id on this bill", "participant_not_found");
    return p;
  }

  /** Anyone the bill has had, removed ones included (money that reaches them still counts). */
  anyone(id: string): LedgerParticipant | undefined {
    return this.participants.find((x) => x.id === id);
  }

  get currency(): string {
    return this.bill.currency ?? "";
  }

  money(amount: Decimal): string {
    return this.bill.currency ? `${formatAmount(amount, this.bill.currency)} ${this.bill.currency}` : amount.toString();
  }

  setBillStatus(to: LedgerBill["status"], reasonCode: ReasonCode, reason: string, from = this.bill.status): void {
    this.history.push({ participantId: null, participantName: null, entityType: "bill", previousStatus: from, newStatus: to, reason, reasonCode });
    this.bill.status = to;
  }

  setParticipantStatus(p: LedgerParticipant, to: ParticipantStatus, reasonCode: ReasonCode, reason: string): void {
    if (p.status === to) return;
    this.history.push({ participantId: p.id, participantName: p.name, entityType: "participant", previousStatus: p.status, newStatus: to, reason, reasonCode });
    p.status = to;
  }

  setRequestStatus(
    r: LedgerRequest,
    to: LedgerRequest["status"],
    reasonCode: ReasonCode,
    reason: string,
    extra: { paidAt?: Date; paymentId?: string } = {},
  ): void {
    const p = this.anyone(r.participantId);
    this.history.push({
      participantId: p?.id ?? null,
      participantName: p?.name ?? null,
      entityType: "payment_request",
      previousStatus: r.status,
      newStatus: to,
      reason: `${r.reference}: ${reason}`,
      reasonCode,
    });
    // Closed here: the payment system must no longer collect it (a payment-cancel job). One not
    // handed over yet has no payment there; its hand-over job cancels what it creates.
    if ((to === "cancelled" || to === "expired") && isOpen(r) && r.paymentId)
      this.effects.cancelAtPaymentSystem.push({ requestId: r.id, paymentId: r.paymentId });
    if (isOpen(r) && !isOpen({ status: to })) r.closedAt = this.ctx.now;
    r.status = to;
    r.statusReason = reason.slice(0, 300);
    r.statusReasonCode = reasonCode;
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
      paymentLink: null,
      qrCode: null,
      qrCodeUrl: null,
      statusReason: null,
      statusReasonCode: null,
      closedAt: null,
      // Retries are the requests that ended unpaid; one replaced for a new amount is not a retry.
      retryCount: this.before.unpaidRequestCounts[p.id] ?? 0,
      expiryDate: new Date(this.ctx.now.getTime() + this.ctx.requestTtlMs),
      paidAt: null,
      createdAt: this.ctx.now,
      counted: false,
    };
    this.requests.push(r);
    this.newRequests.add(r.id);
    this.history.push({
      participantId: p.id,
      participantName: p.name,
      entityType: "payment_request",
      previousStatus: null,
      newStatus: "pending",
      reason: `${r.reference}: asks ${this.money(amount)}`,
      reasonCode: "asked",
    });
    return r;
  }

  /** Makes the rules true again after a command (docs/money.md). */
  settle(why: Why = {}): void {
    const { bill } = this;
    for (const p of this.participants) Object.assign(p, balances(p, bill.status));

    // Open requests: exactly what is owed, in the bill's currency, at most one per participant.
    const kept = new Set<string>();
    for (const r of this.requests.filter(isOpen)) {
      const p = this.anyone(r.participantId)!;
      if (bill.status === "cancelled") {
        this.setRequestStatus(r, "cancelled", "bill_cancelled", "the bill was cancelled");
      } else if (!isPresent(p)) {
        this.setRequestStatus(r, "cancelled", "participant_removed", `${p.name} was removed from the bill`);
      } else if (p.outstanding.isZero()) {
        this.setRequestStatus(r, "cancelled", why.closedCode ?? "nothing_owed", why.closed ?? "nothing is owed any more");
      } else if (!r.amount.equals(p.outstanding) || r.currency !== this.currency || kept.has(p.id)) {
        this.setRequestStatus(
          r,
          "cancelled",
          "superseded",
          `superseded: ${p.name} now owes ${this.money(p.outstanding)}, not ${r.currency === this.currency ? this.money(r.amount) : `${r.amount.toFixed()} ${r.currency}`}`,
        );
        // On an active bill the participant is asked at once for the new amount (and told).
        if (bill.status === "active" && !kept.has(p.id)) {
          this.issueRequest(p, p.outstanding);
          kept.add(p.id);
        }
      } else {
        kept.add(p.id);
      }
    }

    // On an active bill, whoever owes more than before (a share that rose, a newcomer's share) is
    // asked at once for all they owe: nobody owes money without a way to pay it. A partial
    // payment, a failure or an expiry leaves them owing no more than before: the creator asks again.
    if (bill.status === "active") {
      for (const p of this.present) {
        if (kept.has(p.id) || p.outstanding.isZero()) continue;
        const before = this.before.participants.find((x) => x.id === p.id);
        if (p.outstanding.gt(before ? before.outstanding : ZERO)) {
          this.issueRequest(p, p.outstanding);
          kept.add(p.id);
        }
      }
    }

    for (const p of this.present) {
      // Paid: the creator, and whoever received covers their share (a share of 0 counts once they
      // paid something: all of it is refund due). A share that rose above what they paid makes
      // them owe again: a bill may change after money arrived (docs/money.md).
      const settled = p.isCreator || (p.share !== null && p.paid.gte(p.share) && (p.share.gt(0) || p.paid.gt(0)));
      if (!settled && p.status === "paid") {
        p.paidAt = null;
        const to = kept.has(p.id) ? "requested" : "pending";
        this.setParticipantStatus(p, to, "share_changed", `their share is now ${this.money(p.share ?? ZERO)}; ${this.money(p.outstanding)} still owed`);
        continue;
      }
      if (settled) {
        if (p.status !== "paid") {
          p.paidAt = this.ctx.now;
          p.paymentMethod = p.isCreator ? "creator" : (why.paidMethod ?? "payment_system");
          p.paymentNote = p.isCreator ? "the creator's own share is settled by definition" : (why.paidNote ?? p.paymentNote);
          if (p.isCreator) this.setParticipantStatus(p, "paid", "creator_settled", "the creator's own share is settled by definition");
          else this.setParticipantStatus(p, "paid", why.paidCode ?? "paid", why.paid ?? `paid ${this.money(p.paid)}`);
        }
      } else if (kept.has(p.id)) {
        this.setParticipantStatus(p, "requested", "requested", why.requested ?? `asked to pay ${this.money(p.outstanding)}`);
      } else {
        const partial = p.paid.gt(0) && !p.outstanding.isZero() ? `; ${this.money(p.outstanding)} still owed` : "";
        this.setParticipantStatus(p, "pending", why.reopenedCode ?? "no_open_request", `${why.reopened ?? "no payment request is open"}${partial}`);
      }
    }

    // Completed exactly when nobody owes anything on a split that covers everyone on the bill.
    const steps = completionSteps(bill.status);
    if (steps.length > 0 && splitCovers(bill, this.participants) && this.present.every((p) => p.outstanding.isZero())) {
      for (const step of steps) {
        const code: ReasonCode = step.newStatus === "completed" ? "completed" : "requests_sent";
        this.setBillStatus(
          step.newStatus,
          code,
          step.newStatus === "completed" ? "every participant has paid" : step.reason,
          step.previousStatus as LedgerBill["status"],
        );
      }
      bill.completedAt = this.ctx.now;
      this.effects.completed = true;
    }
  }

  /**
   * Keeps the split true after the people or the total changed: an equal split is recomputed over
   * the people on the bill; any other asks for a new split (which is always allowed). Money already
   * paid stays where it is: settle() turns a share that fell below it into refund due.
   */
  rebalance(): void {
    const { bill } = this;
    if (!bill.splitMethod) return;
    const present = this.present;
    if (bill.splitMethod === "equal" && present.length > 0 && bill.total !== null && bill.currency !== null) {
      this.applyPlan(planSplit({ total: bill.total, currency: bill.currency, participantIds: present.map((p) => p.id), seed: bill.id }, { method: "equal" }));
      return;
    }
    bill.needsResplit = true;
  }

  applyPlan(plan: Allocation[]): void {
    const byId = new Map(plan.map((a) => [a.participantId, a]));
    for (const p of this.present) {
      const a = byId.get(p.id);
      p.share = a?.amount ?? null;
      p.percentage = a?.percentage ?? null;
      p.weight = a?.weight ?? null;
    }
    this.bill.needsResplit = false;
  }

  changes(): Changes {
    const before = new Map(this.before.participants.map((p) => [p.id, p]));
    const beforeRequests = new Map(this.before.requests.map((r) => [r.id, r]));
    return {
      bill: sameBill(this.before.bill, this.bill) ? null : this.bill,
      insertParticipants: this.participants.filter((p) => this.inserted.has(p.id)),
      updateParticipants: this.participants.filter((p) => !this.inserted.has(p.id) && !sameParticipant(before.get(p.id)!, p)),
      insertRequests: this.requests.filter((r) => this.newRequests.has(r.id)),
      updateRequests: this.requests
        .filter((r) => !this.newRequests.has(r.id))
        .filter((r) => {
          const b = beforeRequests.get(r.id)!;
          return b.status !== r.status || b.paymentId !== r.paymentId || b.paymentLink !== r.paymentLink;
        })
        .map((r) => ({
          id: r.id,
          status: r.status,
          statusReason: r.statusReason,
          statusReasonCode: r.statusReasonCode,
          closedAt: r.closedAt,
          paymentId: r.paymentId,
          paymentLink: r.paymentLink,
          qrCode: r.qrCode,
          qrCodeUrl: r.qrCodeUrl,
          paidAt: r.paidAt,
        })),
      payments: this.payments,
      history: this.history,
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
    a.paymentNote === b.paymentNote &&
    a.removedAt?.getTime() === b.removedAt?.getTime()
  );
}

export function eq(a: Decimal | null, b: Decimal | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}
