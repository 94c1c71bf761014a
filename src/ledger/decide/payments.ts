// Money arriving: a payment system event (webhook or reconciliation) and a payment the creator
// marks as received offline (docs/money.md).
import Decimal from "decimal.js";
import { assertEditable } from "../../domain/bill-status";
import { Conflict } from "../../domain/errors";
import { minorUnits } from "../../domain/currency";
import { MAX_AMOUNT } from "../../domain/money";
import type { LedgerCommand } from "../model";
import { isOpen, isPresent, ZERO, type Draft } from "./draft";

export type PaymentOutcome = { outcome: "applied" | "ignored" | "mismatch" | "unknown_payment"; detail: string | null };

export function applyPaymentEvent(d: Draft, e: Extract<LedgerCommand, { kind: "payment_event" }>): PaymentOutcome {
  const r = d.requests.find((x) => x.id === e.requestId);
  if (!r) return { outcome: "unknown_payment", detail: "no such payment request on this bill" };
  const p = d.anyone(r.participantId)!;
  if (e.type !== "succeeded") {
    if (!isOpen(r)) return { outcome: "ignored", detail: `request is ${r.status}` };
    d.setRequestStatus(r, e.type, e.type, `payment system: ${e.type}${e.reason ? ` (${e.reason})` : ""}`, { paymentId: e.paymentId });
    d.settle({ reopened: `payment ${e.type}; can be asked again`, reopenedCode: e.type === "failed" ? "payment_failed" : "request_expired" });
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
  if (e.currency !== r.currency || r.currency !== d.currency || !amount.isFinite() || amount.lte(0) || amount.decimalPlaces() > minorUnits(r.currency)) {
    return { outcome: "mismatch", detail: `expected an amount in ${r.currency}, got ${e.amount} ${e.currency}` };
  }
  // A request is one payment at the payment system (one payment id): a second success for a paid
  // request reports the same money again, under another event id. Counted once.
  if (r.status === "paid" || r.counted) return { outcome: "ignored", detail: "the payment of this request was already counted" };
  // Received beyond what a money column holds: kept for a person, not a 500 the payment system retries for ever.
  if (p.paid.plus(amount).gt(MAX_AMOUNT))
    return { outcome: "mismatch", detail: `${d.money(amount)} would take what ${p.name} received past ${MAX_AMOUNT.toFixed()}` };
  // Money that arrived counts, whatever became of the request or its participant: a superseded,
  // expired or cancelled request's payment, or a removed participant's, still goes to their
  // balance (any excess, and everything a removed participant paid, is refund due).
  const before = r.status;
  d.payments.push({
    id: d.ctx.newId(),
    participantId: p.id,
    paymentRequestId: r.id,
    amount,
    currency: r.currency,
    source: "payment_system",
    eventId: e.eventId,
    method: "payment_system",
    note: null,
  });
  p.paid = p.paid.plus(amount);
  r.counted = true;
  d.effects.received.push({ participantId: p.id, participantName: p.name, amount });
  // A failed or expired request that was paid after all becomes paid; a cancelled one stays
  // cancelled (it was closed on purpose), its money counted all the same.
  if (before !== "cancelled")
    d.setRequestStatus(r, "paid", "paid", `payment system: succeeded (${d.money(amount)})`, { paidAt: d.ctx.now, paymentId: e.paymentId });
  d.settle({
    paid: `paid ${d.money(amount)} (payment ${e.paymentId})`,
    paidCode: "paid",
    paidMethod: "payment_system",
    closed: "closed: paid through another request",
    closedCode: "paid_elsewhere",
    reopened: `paid ${d.money(amount)} of ${d.money(r.amount)}`,
    reopenedCode: "paid",
  });
  const detail = !isPresent(p)
    ? `${p.name} was removed from the bill; ${d.money(amount)} counted as refund due`
    : !isOpen({ status: before })
      ? `request was ${before}; ${d.money(amount)} counted toward the balance`
      : amount.equals(r.amount)
        ? null
        : `${d.money(amount)} received for a request of ${d.money(r.amount)}`;
  return { outcome: "applied", detail };
}

/** The creator records that a participant paid what they owe outside the payment system. */
export function markPaid(d: Draft, command: Extract<LedgerCommand, { kind: "mark_paid" }>): undefined {
  assertEditable(d.bill.status);
  const p = d.participant(command.participantId);
  if (p.status === "paid") throw new Conflict(`${p.name} has already paid`, "already_paid");
  if (p.share === null) throw new Conflict("Split the bill first: this participant has no amount to pay", "split_required");
  if (p.outstanding.isZero()) throw new Conflict(`${p.name} owes nothing`, "nothing_owed");
  const method = command.method ?? "offline";
  d.payments.push({
    id: d.ctx.newId(),
    participantId: p.id,
    paymentRequestId: null,
    amount: p.outstanding,
    currency: d.currency,
    source: "offline",
    eventId: null,
    method,
    note: command.note ?? null,
  });
  p.paid = p.paid.plus(p.outstanding);
  d.settle({
    paid: `marked as paid by the creator (${method})${command.note ? `: ${command.note}` : ""}`,
    paidCode: "marked_paid",
    paidMethod: method,
    paidNote: command.note ?? null,
    closed: "closed: marked as paid by the creator",
    closedCode: "paid_elsewhere",
  });
  return undefined;
}
