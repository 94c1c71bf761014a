// The figures every report shows, from the ledger's columns (docs/money.md), computed once.
import Decimal from "decimal.js";
import { toDecimal } from "../domain/money";

/**
 * A bill's figures from the ledger's columns: received = applied + refund due. paidCount counts the
 * participants on the bill who are paid (the creator included), unpaidCount those who still owe something.
 */
export function totalsOf(
  participants: readonly {
    paymentStatus: string;
    isCreator: boolean;
    amountToPay: string | null;
    paidAmount: string;
    outstandingAmount: string;
    refundDue: string;
    removedAt?: Date | string | null;
  }[],
) {
  const t = {
    received: new Decimal(0),
    applied: new Decimal(0),
    outstanding: new Decimal(0),
    refundDue: new Decimal(0),
    creatorShare: new Decimal(0),
    paidCount: 0,
    unpaidCount: 0,
  };
  for (const p of participants) {
    if (p.isCreator && p.amountToPay !== null) t.creatorShare = t.creatorShare.plus(toDecimal(p.amountToPay));
    const received = toDecimal(p.paidAmount);
    const refundDue = toDecimal(p.refundDue);
    t.received = t.received.plus(received);
    t.refundDue = t.refundDue.plus(refundDue);
    t.applied = t.applied.plus(received.minus(refundDue));
    t.outstanding = t.outstanding.plus(toDecimal(p.outstandingAmount));
    // A removed participant's money still counts (as refund due); they are no longer counted as payers.
    if (p.removedAt) continue;
    if (p.paymentStatus === "paid") t.paidCount += 1;
    if (!toDecimal(p.outstandingAmount).isZero()) t.unpaidCount += 1;
  }
  return t;
}
