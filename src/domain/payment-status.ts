// Payment requests: pending (created, not yet with the payment system) -> sent -> paid | failed |
// expired; open ones can be cancelled. A paid request, and a paid participant, never go back.
import { toDecimal, type DecimalLike } from "./money";
export type PaymentRequestStatus = "pending" | "sent" | "paid" | "failed" | "expired" | "cancelled";

const NEXT: Record<PaymentRequestStatus, readonly PaymentRequestStatus[]> = {
  pending: ["sent", "paid", "failed", "expired", "cancelled"],
  sent: ["paid", "failed", "expired", "cancelled"],
  paid: [],
  failed: [],
  expired: [],
  cancelled: [],
};

export function canRequestTransition(from: PaymentRequestStatus, to: PaymentRequestStatus): boolean {
  return NEXT[from].includes(to);
}

export type WebhookEventType = "succeeded" | "failed" | "expired";

/** What an event does to a request in a given state: the new state, or why it changes nothing. */
export function applyPaymentEvent(
  current: PaymentRequestStatus,
  event: WebhookEventType,
): { to: PaymentRequestStatus } | { ignored: "already_paid" | "closed_request" | "already_final" } {
  const to: PaymentRequestStatus = event === "succeeded" ? "paid" : event;
  if (canRequestTransition(current, to)) return { to };
  // Money collected wins over a failure or expiry we recorded first (late or out-of-order delivery,
  // or our expiry sweep just before a last-second payment). A cancelled request stays closed.
  if (event === "succeeded" && (current === "failed" || current === "expired")) return { to: "paid" };
  if (current === "paid") return { ignored: "already_paid" };
  if (event === "succeeded") return { ignored: "closed_request" };
  return { ignored: "already_final" };
}

/** A participant who has paid, or whose share is zero, owes nothing: they count as settled. */
export function isSettled(p: { paymentStatus: string; amountToPay: DecimalLike | null }): boolean {
  return p.paymentStatus === "paid" || (p.amountToPay !== null && toDecimal(p.amountToPay).isZero());
}

/** The bill is complete when it has participants and every one of them is settled. */
export function everyoneSettled(participants: readonly { paymentStatus: string; amountToPay: DecimalLike | null }[]): boolean {
  return participants.length > 0 && participants.every(isSettled);
}

/** A participant who was asked to pay goes back to pending, to be asked again, once no request of theirs is open. */
export function returnsToPending(participantStatus: string, openRequestsLeft: number): boolean {
  return participantStatus === "requested" && openRequestsLeft === 0;
}

/**
 * The bill's status changes once every participant has settled: a bill still `created` (everyone
 * paid before any request was sent) passes through `active`, so the history shows both steps.
 * None when the bill is already completed or cancelled.
 */
export function completionSteps(billStatus: string): { previousStatus: string; newStatus: "active" | "completed"; reason: string }[] {
  if (billStatus !== "created" && billStatus !== "active") return [];
  return [
    ...(billStatus === "created" ? [{ previousStatus: "created", newStatus: "active" as const, reason: "everyone paid before payment requests were sent" }] : []),
    { previousStatus: "active", newStatus: "completed", reason: "every participant has paid" },
  ];
}
