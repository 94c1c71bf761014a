// The ledger's picture of one bill's money state, as read under the bill's row lock, and the
// commands that change it. Pure types: no framework, no database.
import type Decimal from "decimal.js";
import type { PaymentRequestStatus } from "../domain/payment-status";
import type { SplitMethod, SplitRequest } from "../domain/split";

export type BillStatus = "created" | "active" | "completed" | "cancelled";
export type ParticipantStatus = "pending" | "requested" | "paid";

export interface LedgerBill {
  id: string;
  creatorUserId: string;
  status: BillStatus;
  total: Decimal | null;
  currency: string | null;
  splitMethod: SplitMethod | null;
  needsResplit: boolean;
  merchantName: string | null;
  billDate: Date | null;
  note: string | null;
  userSetFields: string[];
  lineItems: unknown;
  completedAt: Date | null;
  cancelledAt: Date | null;
}

/** Who a participant is and how to reach them: the fields every view of a participant shares. */
export interface Person {
  id: string;
  name: string;
  userId: string | null;
  phone: string | null;
  email: string | null;
  isBankCustomer: boolean;
  isCreator: boolean;
}

export interface LedgerParticipant extends Person {
  aiFaceId: string | null;
  share: Decimal | null;
  percentage: Decimal | null;
  weight: Decimal | null;
  status: ParticipantStatus;
  /** Received: the sum of the payments applied to them. */
  paid: Decimal;
  outstanding: Decimal;
  refundDue: Decimal;
  paidAt: Date | null;
  paymentMethod: string | null;
  paymentNote: string | null;
  createdAt: Date;
}

export interface LedgerRequest {
  id: string;
  participantId: string;
  amount: Decimal;
  currency: string;
  channel: "in_app" | "payment_link";
  status: PaymentRequestStatus;
  reference: string;
  payToken: string | null;
  paymentId: string | null;
  statusReason: string | null;
  retryCount: number;
  expiryDate: Date;
  paidAt: Date | null;
  createdAt: Date;
  /** A payment was already counted for it (one request is one payment at the payment system). */
  counted: boolean;
}

export interface LedgerState {
  bill: LedgerBill;
  /** In the order they were added. */
  participants: LedgerParticipant[];
  /** Every open request (pending or sent), and the one a payment event names whatever its status. */
  requests: LedgerRequest[];
  /** Per participant, their requests that ended unpaid (failed or expired): a new one is a retry. */
  unpaidRequestCounts: Record<string, number>;
}

export type NewPerson = Omit<Person, "id"> & { aiFaceId?: string | null };

export type BillDetails = Partial<{
  totalAmount: string | null;
  currency: string | null;
  merchantName: string | null;
  billDate: Date | null;
  note: string | null;
  userSetFields: string[];
}>;

export type LedgerCommand =
  | { kind: "update_bill"; details: BillDetails; whenPaid?: "refuse" | "flag" }
  | { kind: "add_participants"; people: NewPerson[]; reason: string; whenPaid: "refuse" | "flag" }
  | { kind: "update_participant"; participantId: string; changes: { name?: string; phone?: string | null; email?: string | null }; bankLink?: { userId: string | null; isBankCustomer: boolean } }
  | { kind: "remove_participant"; participantId: string }
  | { kind: "split"; request: SplitRequest }
  | { kind: "request_payments"; participantId?: string }
  | {
      kind: "payment_event";
      eventId: string;
      requestId: string;
      type: "succeeded" | "failed" | "expired";
      amount: string;
      currency: string;
      paymentId: string;
      reason?: string;
    }
  | { kind: "mark_paid"; participantId: string; method?: string; note?: string }
  | { kind: "expire"; requestId: string }
  | { kind: "cancel_bill"; reason?: string };

export interface HistoryRow {
  participantId: string | null;
  participantName: string | null;
  entityType: "bill" | "participant" | "payment_request";
  previousStatus: string | null;
  newStatus: string;
  reason: string;
}

export interface NewPayment {
  id: string;
  participantId: string;
  paymentRequestId: string | null;
  amount: Decimal;
  currency: string;
  source: "payment_system" | "offline";
  eventId: string | null;
  method: string | null;
  note: string | null;
}

export interface RequestChange {
  id: string;
  status: PaymentRequestStatus;
  statusReason: string | null;
  paymentId: string | null;
  paidAt: Date | null;
}

/** What a command does: rows to write, and what happens after the commit. */
export interface Changes {
  bill: LedgerBill | null;
  insertParticipants: LedgerParticipant[];
  updateParticipants: LedgerParticipant[];
  deleteParticipants: string[];
  insertRequests: LedgerRequest[];
  updateRequests: RequestChange[];
  payments: NewPayment[];
  history: HistoryRow[];
  /** After the commit. */
  effects: {
    /** New requests to hand to the payment system. */
    handOver: string[];
    /** Requests closed here that the payment system must no longer collect. */
    cancelAtPaymentSystem: { requestId: string; paymentId: string | null }[];
    /** Payments received through the payment system, for the creator's notice. */
    received: { participantId: string; participantName: string; amount: Decimal }[];
    completed: boolean;
    cancelled: boolean;
    activated: boolean;
  };
}

export interface Decision<R = unknown> {
  changes: Changes;
  /** The state after the changes. */
  after: LedgerState;
  result: R;
}
