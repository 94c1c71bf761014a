// Payment requests: pending (created, not yet with the payment system) -> sent -> paid | failed |
// expired; open ones can be cancelled. A paid request, and a paid participant, never go back. The
// ledger enforces this (src/ledger/decide/); here are only the status names and the bill's completion steps.
export type PaymentRequestStatus = "pending" | "sent" | "paid" | "failed" | "expired" | "cancelled";

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
