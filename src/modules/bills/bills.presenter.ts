// Shapes bill rows for the wire: amounts as strings in the currency's minor units, dates as ISO.
import Decimal from "decimal.js";
import { formatMaybe, toDecimal, type DecimalLike } from "../../domain/money";
import { presentParticipant } from "../participants/participants.presenter";
import type { BillRow, VisibleBill } from "./bills.repository";

/** What the wire shows of a bill: a Prisma row or a bill read with its participants. */
type BillFields = Pick<
  BillRow,
  "id" | "creatorUserId" | "status" | "currency" | "merchantName" | "billDate" | "note" | "splitMethod" | "needsResplit" | "aiProcessed" | "createdAt" | "updatedAt" | "completedAt" | "cancelledAt"
> & { totalAmount: DecimalLike | null };

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function presentBill(bill: BillFields) {
  return {
    id: bill.id,
    creatorUserId: bill.creatorUserId,
    status: bill.status,
    totalAmount: formatMaybe(bill.totalAmount, bill.currency),
    currency: bill.currency,
    merchantName: bill.merchantName,
    billDate: bill.billDate ? bill.billDate.toISOString().slice(0, 10) : null,
    note: bill.note,
    splitMethod: bill.splitMethod,
    needsResplit: bill.needsResplit,
    aiProcessed: bill.aiProcessed,
    createdAt: bill.createdAt.toISOString(),
    updatedAt: bill.updatedAt.toISOString(),
    completedAt: iso(bill.completedAt),
    cancelledAt: iso(bill.cancelledAt),
  };
}

export function presentBillDetails(bill: VisibleBill) {
  let assigned = new Decimal(0);
  let paid = new Decimal(0);
  let anyAssigned = false;
  for (const p of bill.participants) {
    if (p.amountToPay === null) continue;
    anyAssigned = true;
    const amount = toDecimal(p.amountToPay);
    assigned = assigned.plus(amount);
    if (p.paymentStatus === "paid") paid = paid.plus(amount);
  }
  return {
    ...presentBill(bill),
    participants: bill.participants.map((p) => presentParticipant(p, bill.currency)),
    totals: {
      participantCount: bill.participants.length,
      assignedAmount: anyAssigned ? formatMaybe(assigned, bill.currency) : null,
      paidAmount: anyAssigned ? formatMaybe(paid, bill.currency) : null,
      unpaidAmount: anyAssigned ? formatMaybe(assigned.minus(paid), bill.currency) : null,
    },
  };
}

export type BillResponse = ReturnType<typeof presentBill>;
export type BillDetailsResponse = ReturnType<typeof presentBillDetails>;
