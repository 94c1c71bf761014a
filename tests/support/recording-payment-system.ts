// An in-process payment system for API tests that keeps the payment system's side of the books: every
// payment the service created (with the description and amount it was created with), every cancel
// call, and every payment a payer collected. It never collects anything by itself: a test collects
// a payment (`collect`) and delivers the signed webhook it returns. With it a test can check the
// edge between the two systems: what the payment system can still collect, and what it collected.
//
//   const payments = new RecordingPaymentSystem();
//   const t = await createTestApp({ adapters: { payments } });
import { v7 as uuidv7 } from "uuid";
import type {
  CreatedPayment,
  CreatePaymentInput,
  PaymentEventBody,
  PaymentState,
  PaymentStatus,
  PaymentSystem,
} from "../../src/adapters/payments/payment-system";

export interface RecordedPayment {
  id: string;
  /** Our payment request id: the create call's idempotency key. */
  requestId: string;
  reference: string;
  /** What it asks, as the service sent it. */
  amount: string;
  currency: string;
  description: string;
  status: PaymentStatus;
  /** Set when a payer paid it (status succeeded): what was collected and the event reporting it. */
  collected?: { amount: string; eventId: string; at: Date };
}

export interface CancelCall {
  paymentId: string;
  /** Where the payment stood when the call came ("unknown": no such payment). */
  before: PaymentStatus | "unknown";
}

export class RecordingPaymentSystem implements PaymentSystem {
  readonly payments = new Map<string, RecordedPayment>();
  /** Every create call, repeats (same idempotency key) included. */
  readonly creates: { requestId: string; paymentId: string; repeat: boolean }[] = [];
  readonly cancels: CancelCall[] = [];
  /** Called once per new payment, after it exists (before the create call returns). */
  onCreate: ((payment: RecordedPayment) => void) | undefined;
  /** Milliseconds each call takes (default 0), as a network round trip would. */
  latencyMs: () => number = () => 0;

  private readonly byRequest = new Map<string, string>();

  async createPayment(input: CreatePaymentInput): Promise<CreatedPayment> {
    await this.delay();
    const existing = this.byRequest.get(input.paymentRequestId);
    if (existing) {
      this.creates.push({ requestId: input.paymentRequestId, paymentId: existing, repeat: true });
      return { paymentId: existing, paymentLink: `https://pay.example/checkout/${existing}` };
    }
    const payment: RecordedPayment = {
      id: `rpay_${uuidv7().replace(/-/g, "")}`,
      requestId: input.paymentRequestId,
      reference: input.reference,
      amount: input.amount,
      currency: input.currency,
      description: input.description,
      status: "pending",
    };
    this.payments.set(payment.id, payment);
    this.byRequest.set(input.paymentRequestId, payment.id);
    this.creates.push({ requestId: input.paymentRequestId, paymentId: payment.id, repeat: false });
    this.onCreate?.(payment);
    return { paymentId: payment.id, paymentLink: `https://pay.example/checkout/${payment.id}` };
  }

  /** Stops a payment that is still pending; one that already ended stays as it ended (not an error). */
  async cancelPayment(paymentId: string): Promise<void> {
    await this.delay();
    const payment = this.payments.get(paymentId);
    this.cancels.push({ paymentId, before: payment?.status ?? "unknown" });
    if (payment?.status === "pending") payment.status = "cancelled";
  }

  async getPayment(paymentId: string): Promise<PaymentState | undefined> {
    const p = this.payments.get(paymentId);
    if (!p) return undefined;
    return {
      paymentId: p.id,
      status: p.status,
      reference: p.reference,
      amount: p.collected?.amount ?? p.amount,
      currency: p.currency,
      ...(p.collected ? { paidAt: p.collected.at, eventId: p.collected.eventId } : {}),
    };
  }

  /**
   * A payer pays a payment that is still collectable (pending): it succeeds here, and the returned
   * signed-webhook body reports it. `amount` (default: what it asks) is what was collected.
   */
  collect(paymentId: string, amount?: string): PaymentEventBody {
    const payment = this.payments.get(paymentId);
    if (!payment || payment.status !== "pending")
      throw new Error(`recording payment system: payment ${paymentId} is ${payment?.status ?? "unknown"}, not collectable`);
    const event: PaymentEventBody = {
      id: `evt_${uuidv7().replace(/-/g, "")}`,
      type: "payment.succeeded",
      created: Math.floor(Date.now() / 1000),
      data: { paymentId, reference: payment.reference, amount: amount ?? payment.amount, currency: payment.currency },
    };
    payment.status = "succeeded";
    payment.collected = { amount: event.data.amount, eventId: event.id, at: new Date() };
    return event;
  }

  async close(): Promise<void> {}

  private async delay(): Promise<void> {
    const ms = this.latencyMs();
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  }
}
