// The live events a ledger decision causes (docs/deployment.md), written in its transaction
// with its other changes: what a watcher of the bill's stream sees of it.
import type { NewBillEvent } from "../events/events.store";
import type { PaymentOutcome } from "./decide";
import type { Decision, LedgerCommand } from "./model";

export function liveEvents(command: LedgerCommand, decision: Decision): NewBillEvent[] {
  const { changes } = decision;
  const events: NewBillEvent[] = [];
  if (command.kind === "payment_event" && command.type !== "succeeded" && (decision.result as PaymentOutcome).outcome === "applied") {
    const participantId = decision.after.requests.find((r) => r.id === command.requestId)?.participantId;
    events.push({ type: "payment.failed", data: { participantId, type: command.type } });
  }
  // Through the payment system (method "payment_system") or recorded by the creator (their method).
  for (const p of changes.payments) events.push({ type: "payment.received", data: { participantId: p.participantId, method: p.method ?? p.source } });
  for (const h of changes.history) if (h.entityType === "bill") events.push({ type: "bill.status", data: { status: h.newStatus } });
  return events;
}
