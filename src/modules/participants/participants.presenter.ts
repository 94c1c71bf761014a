// Participants on the wire: amounts in the bill's currency, dates as ISO strings.
import { formatMaybe, toDecimal, type DecimalLike } from "../../domain/money";
import type { LedgerParticipant, Person } from "../../ledger/model";

/** What the wire shows of a participant, whichever way it was read. */
export interface ParticipantFields extends Person {
  paymentStatus: string;
  paidAt: Date | null;
  amountToPay: DecimalLike | null;
  percentage: DecimalLike | null;
  shareWeight: DecimalLike | null;
  paidAmount: DecimalLike;
  outstandingAmount: DecimalLike;
  refundDue: DecimalLike;
}

export function presentParticipant(p: ParticipantFields, currency: string | null) {
  return {
    id: p.id,
    name: p.name,
    userId: p.userId,
    phone: p.phone,
    email: p.email,
    isBankCustomer: p.isBankCustomer,
    isCreator: p.isCreator,
    amountToPay: formatMaybe(p.amountToPay, currency),
    percentage: p.percentage === null ? null : toDecimal(p.percentage).toString(),
    shareWeight: p.shareWeight === null ? null : toDecimal(p.shareWeight).toString(),
    paymentStatus: p.paymentStatus,
    paidAt: p.paidAt ? p.paidAt.toISOString() : null,
    /** Received from them (every payment applied); what they still owe; what is owed back to them. */
    paidAmount: formatMaybe(p.paidAmount, currency),
    outstandingAmount: formatMaybe(p.outstandingAmount, currency),
    refundDue: formatMaybe(p.refundDue, currency),
  };
}

/** A participant as the ledger holds them, in the presenter's terms. */
export function fromLedger(p: LedgerParticipant): ParticipantFields {
  return {
    ...p,
    paymentStatus: p.status,
    amountToPay: p.share,
    shareWeight: p.weight,
    paidAmount: p.paid,
    outstandingAmount: p.outstanding,
    refundDue: p.refundDue,
  };
}
