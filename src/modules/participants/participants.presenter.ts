// Participants on the wire: amounts in the bill's currency, dates as ISO strings.
import { formatMaybe, toDecimal } from "../../domain/money";
import type { ParticipantRow } from "./participants.repository";

export function presentParticipant(p: ParticipantRow, currency: string | null) {
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
  };
}

export type ParticipantResponse = ReturnType<typeof presentParticipant>;
