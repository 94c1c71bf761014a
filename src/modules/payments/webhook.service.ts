// The payment system's webhook: each event id applied once, through the ledger, committed before
// the answer. Four round trips: claim the event and lock the bill, read, one batch of writes (with
// the live events, `payment.failed` among them), commit (docs/performance.md).
import type { Logger } from "pino";
import type { PaymentEventBody } from "../../adapters/payments/payment-system";
import type { Sql } from "../../db/sql";
import type { PaymentOutcome } from "../../ledger/decide";
import type { Ledger, Written } from "../../ledger/ledger";
import { claimEventAndLockBill, eventOutcomeStatement } from "./payments.repository";

export class PaymentWebhookService {
  constructor(
    private readonly sql: Sql,
    private readonly ledger: Ledger,
    private readonly logger: Logger,
  ) {}

  async handleWebhook(event: PaymentEventBody): Promise<{ eventId: string; outcome: string }> {
    const type = event.type.replace(/^payment\./, "") as "succeeded" | "failed" | "expired";
    const { data } = event;
    let applied: { billId: string; decision: Written<PaymentOutcome> } | undefined;
    const answer = await this.sql.transaction(async (tx) => {
      const claim = await claimEventAndLockBill(tx, {
        id: event.id,
        type,
        paymentId: data.paymentId,
        reference: data.reference,
        amount: data.amount,
        currency: data.currency,
      });
      if (!claim.claimed) return { eventId: event.id, outcome: "duplicate" };
      if (!claim.requestId || !claim.billId) {
        const write = eventOutcomeStatement(event.id, "unknown_payment", "no payment request has this payment id or reference");
        await tx.query(write.text, write.values);
        if (type === "succeeded") this.logger.warn({ eventId: event.id, paymentId: data.paymentId }, "money received for no known payment request: reconcile");
        return { eventId: event.id, outcome: "unknown_payment" };
      }
      const decision = await this.ledger.decideAndWrite(
        tx,
        claim.billId,
        "webhook",
        {
          kind: "payment_event",
          eventId: event.id,
          requestId: claim.requestId,
          type,
          amount: data.amount,
          currency: data.currency,
          paymentId: data.paymentId,
          reason: data.reason,
        },
        { event: { id: event.id, outcome: (result) => result } },
      );
      const { outcome, detail } = decision.result;
      if (outcome === "mismatch")
        this.logger.warn({ eventId: event.id, paymentRequestId: claim.requestId, detail }, "payment currency or amount cannot be applied: reconcile");
      applied = { billId: claim.billId, decision };
      return { eventId: event.id, outcome };
    });
    if (applied && applied.decision.result.outcome === "applied") await this.ledger.afterCommit(applied.billId, applied.decision);
    return answer;
  }
}
