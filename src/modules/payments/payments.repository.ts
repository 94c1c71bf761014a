// Prisma queries for payment requests, participants' payment state and webhook events.
import type { Db, Tx } from "../../db/database";
import type { Prisma } from "../../generated/prisma/client";

export type PaymentRequestRow = Prisma.PaymentRequestGetPayload<object>;

/** Records a webhook event id; false when it was already recorded (a duplicate delivery). */
export async function claimEvent(tx: Tx, event: { id: string; type: string; paymentId: string; amount: string; currency: string }): Promise<boolean> {
  const rows = await tx.$queryRaw<{ id: string }[]>`
    INSERT INTO payment_events (id, type, payment_id, amount, currency, outcome)
    VALUES (${event.id}, ${event.type}, ${event.paymentId}, ${event.amount}::numeric, ${event.currency}, 'received')
    ON CONFLICT (id) DO NOTHING
    RETURNING id`;
  return rows.length === 1;
}

export function recordEventOutcome(tx: Tx, eventId: string, outcome: string, detail: string | null, paymentRequestId: string | null) {
  return tx.paymentEvent.update({ where: { id: eventId }, data: { outcome, detail: detail?.slice(0, 500), paymentRequestId } });
}

export function findRequestForEvent(client: Db | Tx, paymentId: string, reference: string) {
  return client.paymentRequest.findFirst({ where: { OR: [{ paymentId }, { reference }] } });
}

export function openRequestsOf(tx: Tx, participantId: string) {
  return tx.paymentRequest.findMany({ where: { participantId, status: { in: ["pending", "sent"] } }, orderBy: { createdAt: "asc" } });
}
