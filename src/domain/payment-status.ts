// Payment requests: pending (created, not yet with the payment system) -> sent -> paid | failed |
// expired; open ones can be cancelled. A paid request, and a paid participant, never go back.
// The rules that apply payments are the ledger's (src/ledger/decide/).
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

/**
 * The bill's status changes once every participant has settled: a bill still `created` (everyone
 * paid before any request was sent) passes through `active`, so the history shows both steps.
 * None when the bill is already completed or cancelled.
 */
export function completionSteps(billStatus: string): { previousStatus: string; newStatus: "active" | "completed"; reason: string }[] {
  if (billStatus !== "created" && billStatus !== "active") return [];
  return [
    ...(billStatus === "created"
      ? [{ previousStatus: "created", newStatus: "active" as const, reason: "everyone paid before payment requests were sent" }]
      : []),
    { previousStatus: "active", newStatus: "completed", reason: "every participant has paid" },
  ];
}
