// Commands on payment requests: asking people to pay, the payment system taking a request (the
// hand-over job's outcome), and expiry (docs/money.md).
import { assertEditable } from "../../domain/bill-status";
import { Conflict } from "../../domain/errors";
import { formatAmount } from "../../domain/money";
import type { LedgerCommand } from "../model";
import { isOpen, ZERO, type Draft } from "./draft";

export type RequestResult = { created: string[]; skipped: { participantId: string; name: string; reason: string }[] };

/** What became of each hand-over outcome. */
export type HandOverResult = { sent: string[]; cancelled: string[]; ignored: string[] };

/** Payment requests need a split that gives everyone an amount and adds up to the total. */
function assertSplitCoversTotal(d: Draft): void {
  const { bill } = d;
  const present = d.present;
  if (bill.total === null || bill.currency === null) {
    throw new Conflict("The bill has no total yet: set it or wait for the AI, then split it", "split_required");
  }
  if (!bill.splitMethod || bill.needsResplit || present.length === 0 || present.some((p) => p.share === null)) {
    throw new Conflict("Split the bill first: payment requests need a split that covers every participant", "split_required");
  }
  const assigned = present.reduce((sum, p) => sum.plus(p.share!), ZERO);
  if (!assigned.equals(bill.total)) {
    throw new Conflict(
      `The split covers ${formatAmount(assigned, bill.currency)} of ${formatAmount(bill.total, bill.currency)} ${bill.currency}; split again`,
      "split_required",
    );
  }
}

/** Asks everyone who owes (or one participant) for what they owe; the bill becomes active. */
export function requestPayments(d: Draft, command: Extract<LedgerCommand, { kind: "request_payments" }>): RequestResult {
  const { bill } = d;
  assertEditable(bill.status);
  let targets = d.present;
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
      skipped.push({
        participantId: p.id,
        name: p.name,
        reason: p.isCreator ? "the creator's own share" : p.status === "paid" ? "already paid" : "owes nothing",
      });
    } else if (d.openRequestOf(p.id)) {
      skipped.push({ participantId: p.id, name: p.name, reason: "already asked for this amount" });
    } else {
      created.push(d.issueRequest(p, p.outstanding).id);
    }
  }
  if (bill.status === "created") {
    d.setBillStatus("active", "requests_sent", "payment requests sent");
    d.effects.activated = true;
  }
  d.settle();
  return { created, skipped };
}

/**
 * The payment system took requests: each still pending becomes sent (pending -> sent in the
 * history), with its payment id and link, and its participant is told. One the ledger closed
 * meanwhile keeps the payment id for the record, and that payment is cancelled there (a job): no
 * payment the payment system can collect belongs to a closed request. Applying the same outcome
 * again changes nothing.
 */
export function handedOver(d: Draft, command: Extract<LedgerCommand, { kind: "handed_over" }>): HandOverResult {
  const result: HandOverResult = { sent: [], cancelled: [], ignored: [] };
  for (const o of command.outcomes) {
    const r = d.requests.find((x) => x.id === o.requestId);
    if (!r) {
      result.ignored.push(o.requestId);
      continue;
    }
    if (r.status === "pending") {
      const p = d.anyone(r.participantId);
      d.history.push({
        participantId: p?.id ?? null,
        participantName: p?.name ?? null,
        entityType: "payment_request",
        previousStatus: "pending",
        newStatus: "sent",
        reason: `${r.reference}: taken by the payment system (payment ${o.paymentId})`,
        reasonCode: "handed_over",
      });
      Object.assign(r, { status: "sent", paymentId: o.paymentId, paymentLink: o.paymentLink, qrCode: o.qrCode, qrCodeUrl: o.qrCodeUrl });
      d.effects.sent.push(r.id);
      result.sent.push(r.id);
    } else if (r.paymentId === o.paymentId && isOpen(r)) {
      result.ignored.push(r.id); // already recorded: the same outcome again
    } else if (r.status === "paid" || r.counted) {
      // Paid (by its reference, before the hand-over's answer was recorded): nothing to collect.
      if (!r.paymentId) r.paymentId = o.paymentId;
      result.ignored.push(r.id);
    } else {
      // Closed before the payment system's answer came back (superseded, cancelled, expired,
      // failed), or another payment for an open one: that payment must not stay collectable.
      if (!r.paymentId) Object.assign(r, { paymentId: o.paymentId, paymentLink: o.paymentLink, qrCode: o.qrCode, qrCodeUrl: o.qrCodeUrl });
      d.effects.cancelAtPaymentSystem.push({ requestId: r.id, paymentId: o.paymentId });
      result.cancelled.push(r.id);
    }
  }
  return result;
}

/** An open request past its expiry date expires; its participant can be asked again. */
export function expire(d: Draft, command: Extract<LedgerCommand, { kind: "expire" }>): boolean {
  const r = d.requests.find((x) => x.id === command.requestId);
  if (!r || !isOpen(r) || r.expiryDate.getTime() >= d.ctx.now.getTime()) return false;
  d.setRequestStatus(r, "expired", "expired", "expired before it was paid");
  d.settle({ reopened: "payment request expired; can be asked again", reopenedCode: "request_expired" });
  return true;
}
