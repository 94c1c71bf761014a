// The real payment system over HTTP: POST <PAYMENT_API_URL>/payments with JSON; it answers with
// its payment id and the payment link, and reports by the signed webhook. POST
// <PAYMENT_API_URL>/payments/{id}/cancel stops collecting one.
import type { CreatedPayment, CreatePaymentInput, PaymentSystem } from "./payment-system";

export class HttpPaymentSystem implements PaymentSystem {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async createPayment(input: CreatePaymentInput): Promise<CreatedPayment> {
    const res = await fetch(`${this.baseUrl.replace(/\/$/, "")}/payments`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": input.paymentRequestId },
      body: JSON.stringify({
        reference: input.reference,
        amount: input.amount,
        currency: input.currency,
        description: input.description,
        expiresAt: input.expiresAt.toISOString(),
        webhookUrl: input.webhookUrl,
        metadata: { paymentRequestId: input.paymentRequestId },
      }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw new Error(`The payment system refused the payment: HTTP ${res.status}`);
    const body = (await res.json()) as { id?: unknown; paymentLink?: unknown };
    if (typeof body.id !== "string" || typeof body.paymentLink !== "string") {
      throw new Error("The payment system's answer has no payment id or link");
    }
    return { paymentId: body.id, paymentLink: body.paymentLink };
  }

  async cancelPayment(paymentId: string): Promise<void> {
    const res = await fetch(`${this.baseUrl.replace(/\/$/, "")}/payments/${encodeURIComponent(paymentId)}/cancel`, {
      method: "POST",
      headers: { "idempotency-key": `cancel-${paymentId}` },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    await res.arrayBuffer().catch(() => undefined);
    // 404: it never existed there; 409: it already ended (paid or cancelled): nothing left to stop.
    if (!res.ok && res.status !== 404 && res.status !== 409) throw new Error(`The payment system did not cancel payment ${paymentId}: HTTP ${res.status}`);
  }

  async close(): Promise<void> {}
}
