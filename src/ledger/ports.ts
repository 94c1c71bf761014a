// What the ledger needs from outside, and the types it hands across (modules implement these; the
// ledger imports nothing from src/modules).
import type { SqlClient } from "../db/sql";

export type NoticeChannel = "in_app" | "sms" | "email";
export type NotificationType = "payment_request" | "reminder" | "payment_received" | "bill_completed" | "bill_cancelled";

/** One message to one address on one channel, as its Notifications row (an outbox row). */
export interface PlannedNotification {
  id: string;
  billId: string;
  participantId: string | null;
  recipientUserId: string | null;
  type: NotificationType;
  channel: NoticeChannel;
  recipient: string;
  message: string;
  createdAt: Date;
}

/** Delivery of the outbox rows the ledger writes: a job in the same transaction, and a wake after the commit. */
export interface Outbox {
  enqueueDelivery(tx: SqlClient, rows: readonly PlannedNotification[]): Promise<void>;
  wake(): void;
}

/** A new request to hand to the payment system, with what it needs (no read needed). */
export interface HandOverItem {
  id: string;
  billId: string;
  amount: string;
  currency: string;
  reference: string;
  payToken: string;
  channel: "in_app" | "payment_link";
  expiryDate: Date;
  merchantName: string | null;
  participant: { id: string; userId: string | null; name: string; phone: string | null; email: string | null; isBankCustomer: boolean };
}

/** A request now at the payment system, and which channels told its participant. */
export interface HandedOver {
  id: string;
  paymentId: string;
  paymentLink: string;
  qrCode: string | null;
  /** The QR image, relative to the public base URL: payment links only. */
  qrCodeUrl: string | null;
  reached: NoticeChannel[];
}

/**
 * The hand-over, run by the committing process at once (its payment-hand-over job, written in the
 * ledger's transaction, takes over when this could not finish). Its outcome comes back through the
 * ledger's `handed_over` command.
 */
export interface HandOverPort {
  handOverNow(billId: string, items: readonly HandOverItem[]): Promise<HandedOver[]>;
}

/** The payment-hand-over job; its job id is the request's id. */
export interface HandOverJob {
  requestId: string;
}

/** The payment-cancel job: stop the payment system collecting a payment; keyed by the payment id. */
export interface PaymentCancelJob {
  requestId: string;
  paymentId: string;
}
