// Shapes bill rows for the wire: amounts as strings in the currency's minor units, dates as ISO.
import Decimal from "decimal.js";
import { formatMaybe, toDecimal, type DecimalLike } from "../../domain/money";
import { totalsOf } from "../../ledger/report";
import { presentParticipant } from "../participants";
import type { BillRow, VisibleBill } from "./bills.repository";

/** What the wire shows of a bill: a Prisma row or a bill read with its participants. */
type BillFields = Pick<
  BillRow,
  | "id"
  | "creatorUserId"
  | "status"
  | "currency"
  | "merchantName"
  | "billDate"
  | "note"
  | "splitMethod"
  | "needsResplit"
  | "aiProcessed"
  | "createdAt"
  | "updatedAt"
  | "completedAt"
  | "cancelledAt"
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
  // The people on the bill; the totals count removed participants' money too (their refund due).
  const present = bill.participants;
  let assigned = new Decimal(0);
  let anyAssigned = false;
  for (const p of present) {
    if (p.amountToPay === null) continue;
    anyAssigned = true;
    assigned = assigned.plus(toDecimal(p.amountToPay));
  }
  const t = totalsOf(bill.everyone);
  return {
    ...presentBill(bill),
    participants: present.map((p) => presentParticipant(p, bill.currency)),
    totals: {
      participantCount: present.length,
      assignedAmount: anyAssigned ? formatMaybe(assigned, bill.currency) : null,
      // Settled (applied plus the creator's own share) and outstanding, as in the status report.
      paidAmount: anyAssigned ? formatMaybe(t.applied.plus(t.creatorShare), bill.currency) : null,
      unpaidAmount: anyAssigned ? formatMaybe(t.outstanding, bill.currency) : null,
      receivedAmount: formatMaybe(t.received, bill.currency),
      refundDueAmount: formatMaybe(t.refundDue, bill.currency),
    },
  };
}

export type BillResponse = ReturnType<typeof presentBill>;
export type BillDetailsResponse = ReturnType<typeof presentBillDetails>;
