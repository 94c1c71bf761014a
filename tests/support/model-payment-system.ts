// The payment system of the money model test (tests/api/money-model.test.ts): the recording one
// (tests/support/recording-payment-system.ts: every create, cancel and collection on its books,
// a create keyed by our request id, a cancel that stops what is still pending), with what the model
// needs besides:
// - a create's answer can be held back (the payment exists there, the caller waits until the test
//   releases it, while other commands run) or lost (the payment exists there, the caller gets an
//   error, as after a timeout: the hand-over job asks again);
// - a payment can no longer be collected past the expiry it was created with (the clock's time);
// - a payment that ended unpaid can still be collected when the payer was quicker than our cancel
//   or the expiry (collectLate), and the payment system can end one failed or expired (end).
//
//   const payments = new ModelPaymentSystem(clock);
//   const t = await createTestApp({ clock, adapters: { payments } });
import type { CreatedPayment, CreatePaymentInput } from "../../src/adapters/payments/payment-system";
import type { Clock } from "../../src/clock";
import { RecordingPaymentSystem, type RecordedPayment } from "./recording-payment-system";

/** What a create call does with its answer. */
export type CreateAnswer = "now" | "held" | "lost";

export class ModelPaymentSystem extends RecordingPaymentSystem {
  /** What the next create calls do with their answer (the test sets it around one command). */
  answer: CreateAnswer = "now";
  private readonly expiresAt = new Map<string, Date>();
  private readonly held: { requestId: string; resolve: () => void }[] = [];
  private waiting: (() => void)[] = [];

  constructor(private readonly clock: Clock) {
    super();
  }

  override async createPayment(input: CreatePaymentInput): Promise<CreatedPayment> {
    const answer = this.answer;
    const created = await super.createPayment(input);
    if (!this.expiresAt.has(created.paymentId)) this.expiresAt.set(created.paymentId, input.expiresAt);
    if (answer === "lost") throw new Error("the payment system did not answer in time");
    if (answer === "held") {
      await new Promise<void>((resolve) => {
        this.held.push({ requestId: input.paymentRequestId, resolve });
        for (const wake of this.waiting.splice(0)) wake();
      });
    }
    return created;
  }

  /** Can a payer still pay it here: pending, and not past its expiry? */
  collectable(p: RecordedPayment): boolean {
    return p.status === "pending" && this.clock.now() < (this.expiresAt.get(p.id) ?? new Date(0));
  }

  paymentOf(requestId: string): RecordedPayment | undefined {
    for (const p of this.payments.values()) if (p.requestId === requestId) return p;
    return undefined;
  }

  /**
   * A payer pays, even a payment that ended unpaid here: they were quicker than our cancel or its
   * expiry (one still pending is simply collected). Nothing if it was collected already.
   */
  collectLate(paymentId: string, amount: string): void {
    const p = this.payments.get(paymentId);
    if (!p || p.status === "succeeded") return;
    p.status = "pending";
    this.collect(paymentId, amount);
  }

  /** The payment system ends a payment that is still pending, unpaid. */
  end(paymentId: string, status: "failed" | "expired"): void {
    const p = this.payments.get(paymentId);
    if (p?.status === "pending") p.status = status;
  }

  /** Resolves when a create call's answer is next held. */
  whenHeld(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** The requests whose create answers are held. */
  heldRequests(): string[] {
    return this.held.map((h) => h.requestId);
  }

  /** The held answers arrive. */
  release(): void {
    for (const h of this.held.splice(0)) h.resolve();
  }

  override async close(): Promise<void> {
    this.release();
    await super.close();
  }
}
