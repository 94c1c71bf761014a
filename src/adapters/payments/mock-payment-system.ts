// The payment system for development and tests: in-process; creating a payment gives an id and a
// link to the pay page; after a delay it "collects" the money and sends the signed succeeded
// webhook over HTTP to our endpoint (0 = never by itself, only through the pay page's button).
// It remembers where each payment stands and answers getPayment from that. For tests it can fail
// payments, send each event more than once, deliver out of order, and lose webhooks.
import type { Logger } from "pino";
import { v7 as uuidv7 } from "uuid";
import { SignedSender } from "../signed-sender";
import {
  PAYMENT_SIGNATURE_HEADER,
  type CreatedPayment,
  type CreatePaymentInput,
  type PaymentEventBody,
  type PaymentState,
  type PaymentSystem,
} from "./payment-system";

export interface MockPaymentOptions {
  secret: string;
  delayMs: number;
  logger: Logger;
  /** Where the pay page is served (our own base URL). */
  publicBaseUrl: () => string;
  deliveryAttempts?: number;
  firstBackoffMs?: number;
}

export interface PaymentRef {
  paymentId: string;
  reference: string;
  amount: string;
  currency: string;
  webhookUrl: string;
}

export class MockPaymentSystem implements PaymentSystem {
  private readonly sender: SignedSender;
  /**
   * Test controls. `loseWebhooks`: outcomes are recorded (getPayment reports them) but no webhook
   * leaves, as when the payment system dies between paying and sending.
   */
  behaviour = { fail: false, duplicates: 1, outOfOrder: false, loseWebhooks: false };

  constructor(private readonly options: MockPaymentOptions) {
    this.sender = new SignedSender({
      secret: options.secret,
      header: PAYMENT_SIGNATURE_HEADER,
      logger: options.logger,
      maxAttempts: options.deliveryAttempts ?? 8,
      firstBackoffMs: options.firstBackoffMs,
    });
  }

  /** Like the real system, the same payment request (its idempotency key) is one payment. */
  private readonly byRequest = new Map<string, string>();

  /** Where each payment stands, as getPayment reports it. */
  private readonly payments = new Map<string, PaymentRef & Omit<PaymentState, keyof PaymentRef>>();

  async createPayment(input: CreatePaymentInput): Promise<CreatedPayment> {
    const existing = this.byRequest.get(input.paymentRequestId);
    if (existing) return { paymentId: existing, paymentLink: `${this.options.publicBaseUrl()}/pay/${input.payToken}` };
    const paymentId = `pay_${uuidv7().replace(/-/g, "")}`;
    this.byRequest.set(input.paymentRequestId, paymentId);
    const payment = { paymentId, reference: input.reference, amount: input.amount, currency: input.currency, webhookUrl: input.webhookUrl };
    this.payments.set(paymentId, { ...payment, status: "pending" });
    if (this.options.delayMs > 0) {
      this.automatic.set(
        paymentId,
        setTimeout(() => this.settle(payment), this.options.delayMs),
      );
    }
    return { paymentId, paymentLink: `${this.options.publicBaseUrl()}/pay/${input.payToken}` };
  }

  /** Payments cancelled by us: never collected, by the delay or by "Pay now". */
  private readonly cancelled = new Set<string>();

  async cancelPayment(paymentId: string): Promise<void> {
    this.cancelled.add(paymentId);
    clearTimeout(this.automatic.get(paymentId));
    this.automatic.delete(paymentId);
    const payment = this.payments.get(paymentId);
    // One that already ended stays as it ended (the real system answers 409).
    if (payment?.status === "pending") payment.status = "cancelled";
  }

  isCancelled(paymentId: string): boolean {
    return this.cancelled.has(paymentId);
  }

  async getPayment(paymentId: string): Promise<PaymentState | undefined> {
    const payment = this.payments.get(paymentId);
    if (!payment) return undefined;
    const { webhookUrl: _webhookUrl, ...state } = payment;
    return { ...state };
  }

  /** Payments the mock will collect by itself when their delay runs out, unless paid before. */
  private readonly automatic = new Map<string, NodeJS.Timeout>();

  /**
   * The payer pressed "Pay now" (pay page), or the delay ran out: report the outcome. A payment paid
   * through the pay page is not collected again when its delay runs out, as with a real system.
   */
  settle(payment: PaymentRef, delayMs = 0): void {
    clearTimeout(this.automatic.get(payment.paymentId));
    this.automatic.delete(payment.paymentId);
    if (this.cancelled.has(payment.paymentId)) {
      this.options.logger.info({ paymentId: payment.paymentId }, "mock payment system: payment was cancelled; not collected");
      return;
    }
    const type = this.behaviour.fail ? "payment.failed" : "payment.succeeded";
    const reason = this.behaviour.fail ? "card declined" : undefined;
    const event = this.send(payment, type, delayMs, reason);
    this.payments.set(payment.paymentId, {
      ...payment,
      status: this.behaviour.fail ? "failed" : "succeeded",
      ...(this.behaviour.fail ? { reason } : { paidAt: new Date() }),
      eventId: event.id,
    });
    if (this.behaviour.outOfOrder && type === "payment.succeeded") {
      // A stale failure that the payment system delivers after the success.
      this.send(payment, "payment.failed", delayMs + 50, "an earlier attempt failed");
    }
  }

  /** The payment ran out of time unpaid: it ends expired, and the payment system reports it. */
  expire(paymentId: string): void {
    const payment = this.payments.get(paymentId);
    if (!payment || payment.status !== "pending") throw new Error(`mock payment system: no pending payment ${paymentId} to expire`);
    clearTimeout(this.automatic.get(paymentId));
    this.automatic.delete(paymentId);
    const reason = "not paid in time";
    const event = this.send(payment, "payment.expired", 0, reason);
    Object.assign(payment, { status: "expired", reason, eventId: event.id });
  }

  /** Sends one event (as many times as `behaviour.duplicates` says), unless webhooks are lost. */
  send(payment: PaymentRef, type: PaymentEventBody["type"], delayMs = 0, reason?: string): PaymentEventBody {
    const event: PaymentEventBody = {
      id: `evt_${uuidv7().replace(/-/g, "")}`,
      type,
      created: Math.floor(Date.now() / 1000),
      data: { paymentId: payment.paymentId, reference: payment.reference, amount: payment.amount, currency: payment.currency, ...(reason ? { reason } : {}) },
    };
    if (this.behaviour.loseWebhooks) {
      this.options.logger.info({ paymentId: payment.paymentId, eventId: event.id, type }, "mock payment system: webhook lost (never sent)");
      return event;
    }
    const body = JSON.stringify(event);
    for (let i = 0; i < Math.max(1, this.behaviour.duplicates); i += 1) this.sender.sendLater(payment.webhookUrl, body, delayMs);
    return event;
  }

  close(): Promise<void> {
    for (const timer of this.automatic.values()) clearTimeout(timer);
    this.automatic.clear();
    return this.sender.close();
  }
}
