// The bank's payment system: it takes a payment to collect, gives back its id and a payment link,
// and later reports what happened by a signed webhook to /api/chillbill/webhook/payment-callback.
// It can also be asked where a payment stands (reconciliation, for a webhook that never came).
export const PAYMENT_SIGNATURE_HEADER = "x-payment-signature";

export interface CreatePaymentInput {
  paymentRequestId: string;
  /** Our short reference, also in the QR code and in every webhook event. */
  reference: string;
  amount: string;
  currency: string;
  description: string;
  expiresAt: Date;
  /** The unguessable token of our pay page for this request. */
  payToken: string;
  webhookUrl: string;
}

export interface CreatedPayment {
  paymentId: string;
  paymentLink: string;
}

/** The webhook body, as the payment system sends it. */
export interface PaymentEventBody {
  id: string;
  type: "payment.succeeded" | "payment.failed" | "payment.expired";
  created: number;
  data: { paymentId: string; reference: string; amount: string; currency: string; reason?: string };
}

/** Where a payment stands at the payment system. */
export type PaymentStatus = "pending" | "succeeded" | "failed" | "expired" | "cancelled";

/**
 * A payment as the payment system knows it now: what a webhook would have reported (its `data`),
 * with the status in place of the event type. `pending`: not paid yet; `cancelled`: we cancelled it
 * (no webhook reports that).
 */
export interface PaymentState {
  paymentId: string;
  status: PaymentStatus;
  /** Our reference, as we gave it. */
  reference: string;
  /** What was collected when it succeeded; else what it asks. A decimal string. */
  amount: string;
  currency: string;
  /** When it was paid (succeeded only). */
  paidAt?: Date;
  /** Why it failed or expired, when the payment system says. */
  reason?: string;
  /** The id of the event that reports this status, if the payment system has sent (or lost) one. */
  eventId?: string;
}

export interface PaymentSystem {
  createPayment(input: CreatePaymentInput): Promise<CreatedPayment>;
  /**
   * Stops collecting a payment we no longer want (superseded by a new amount, paid another way, or
   * its bill cancelled). Cancelling one that is already cancelled, or unknown, is not an error.
   */
  cancelPayment(paymentId: string): Promise<void>;
  /** Where the payment stands now; undefined when the payment system does not know it. */
  getPayment(paymentId: string): Promise<PaymentState | undefined>;
  close(): Promise<void>;
}
