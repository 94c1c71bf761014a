// The real payment system over HTTP: POST <PAYMENT_API_URL>/payments with JSON; it answers with
// its payment id and the payment link, and reports by the signed webhook. POST
// <PAYMENT_API_URL>/payments/{id}/cancel stops collecting one; GET <PAYMENT_API_URL>/payments/{id}
// says where one stands.
import { z } from "zod";
import { ZERO_PADDED_DECIMAL_STRING } from "../../domain/money";
import type { CreatedPayment, CreatePaymentInput, PaymentState, PaymentSystem } from "./payment-system";

/** The payment system's answer to GET /payments/{id}, checked like a webhook's data. */
const paymentAnswer = z.object({
  id: z.string().min(1).max(128),
  status: z.enum(["pending", "succeeded", "failed", "expired", "cancelled"]),
  reference: z.string().min(1).max(25),
  amount: z.string().regex(ZERO_PADDED_DECIMAL_STRING),
  currency: z.string().regex(/^[A-Z]{3}$/),
  paidAt: z.iso.datetime({ offset: true }).optional(),
  reason: z.string().max(300).optional(),
  eventId: z.string().min(1).max(128).optional(),
});

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

  async getPayment(paymentId: string): Promise<PaymentState | undefined> {
    const res = await fetch(`${this.baseUrl.replace(/\/$/, "")}/payments/${encodeURIComponent(paymentId)}`, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (res.status === 404) {
      await res.arrayBuffer().catch(() => undefined);
      return undefined;
    }
    if (!res.ok) {
      await res.arrayBuffer().catch(() => undefined);
      throw new Error(`The payment system did not say where payment ${paymentId} stands: HTTP ${res.status}`);
    }
    const parsed = paymentAnswer.safeParse(await res.json().catch(() => undefined));
    if (!parsed.success)
      throw new Error(
        `The payment system's answer for payment ${paymentId} is not a payment: ${parsed.error.issues[0].path.join(".") || "body"} ${parsed.error.issues[0].message}`,
      );
    const body = parsed.data;
    // An answer about another payment must not be applied to this one.
    if (body.id !== paymentId) throw new Error(`The payment system answered for payment ${body.id} when asked about ${paymentId}`);
    return {
      paymentId: body.id,
      status: body.status,
      reference: body.reference,
      amount: body.amount,
      currency: body.currency,
      ...(body.paidAt ? { paidAt: new Date(body.paidAt) } : {}),
      ...(body.reason ? { reason: body.reason } : {}),
      ...(body.eventId ? { eventId: body.eventId } : {}),
    };
  }

  async close(): Promise<void> {}
}
