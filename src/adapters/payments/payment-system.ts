// The bank's payment system: it takes a payment to collect, gives back its id and a payment link,
// and later reports what happened by a signed webhook to /api/chillbill/webhook/payment-callback.
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

export interface PaymentSystem {
  createPayment(input: CreatePaymentInput): Promise<CreatedPayment>;
  /**
   * Stops collecting a payment we no longer want (superseded by a new amount, paid another way, or
   * its bill cancelled). Cancelling one that is already cancelled, or unknown, is not an error.
   */
  cancelPayment(paymentId: string): Promise<void>;
  close(): Promise<void>;
}
