// Participants on the wire: amounts in the bill's currency, dates as ISO strings.
import { formatMaybe, toDecimal, type DecimalLike } from "../../domain/money";
import type { ParticipantRow } from "./participants.repository";

/** What the wire shows of a participant: a Prisma row or one read with its bill. */
type ParticipantFields = Pick<ParticipantRow, "id" | "name" | "userId" | "phone" | "email" | "isBankCustomer" | "isCreator" | "paymentStatus" | "paidAt"> & {
  amountToPay: DecimalLike | null;
  percentage: DecimalLike | null;
  shareWeight: DecimalLike | null;
};

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
  };
}

export type ParticipantResponse = ReturnType<typeof presentParticipant>;
