// The ledger's picture of one bill's money state, as read under the bill's row lock, and the
// commands that change it. Pure types: no framework, no database.
import type Decimal from "decimal.js";
import type { BillStatus } from "../domain/bill-status";
import type { PaymentRequestStatus } from "../domain/payment-status";
import type { SplitMethod, SplitRequest } from "../domain/split";

export type { BillStatus };
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
  /** Removed from the bill: a tombstone that owes nothing and is owed back all it paid. */
  removedAt: Date | null;
  removedReason: ReasonCode | null;
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
  paymentLink: string | null;
  qrCode: string | null;
  qrCodeUrl: string | null;
  statusReason: string | null;
  /** Why it closed, as a code (what pages decide on). */
  statusReasonCode: ReasonCode | null;
  closedAt: Date | null;
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
  /** Every open request (pending or sent), and those a command names (a payment event, a hand-over) whatever their status. */
  requests: LedgerRequest[];
  /** Per participant, their requests that ended unpaid (failed or expired): a new one is a retry. */
  unpaidRequestCounts: Record<string, number>;
}

/** An itemized split whose items may name one of the bill's line items (by index) instead of an amount. */
export interface ItemizedByLine {
  method: "itemized";
  items: { name?: string; amount?: string; lineItem?: number; participantIds: string[] }[];
  extras?: { tax?: string; serviceCharge?: string; tip?: string };
}

/** What the split command and the preview take: any split, with line items named by index. */
export type SplitInput = Exclude<SplitRequest, { method: "itemized" }> | ItemizedByLine;

export type NewPerson = Omit<Person, "id"> & { aiFaceId?: string | null };

export type BillDetails = Partial<{
  totalAmount: string | null;
  currency: string | null;
  merchantName: string | null;
  billDate: Date | null;
  note: string | null;
  userSetFields: string[];
}>;

/**
 * Why something changed, as a stable code beside the prose of a history row or a request's status
 * reason (docs/money.md lists them). Pages and clients decide on these, never on the words.
 */
export type ReasonCode =
  // bill
  | "bill_created"
  | "requests_sent"
  | "completed"
  | "cancelled_by_creator"
  // participant
  | "added_by_creator"
  | "recognised"
  | "removed_by_creator"
  | "creator_settled"
  | "paid"
  | "marked_paid"
  | "requested"
  | "no_open_request"
  | "payment_failed"
  | "request_expired"
  | "share_changed"
  | "bill_cancelled"
  // payment request
  | "asked"
  | "handed_over"
  | "superseded"
  | "nothing_owed"
  | "paid_elsewhere"
  | "participant_removed"
  | "expired"
  | "failed";

/** A payment request now at the payment system: what it gave back. */
export interface HandOverOutcome {
  requestId: string;
  paymentId: string;
  paymentLink: string;
  qrCode: string | null;
  qrCodeUrl: string | null;
}

export type LedgerCommand =
  /** `from: "ai"`: the AI's late reading never changes the money of a bill whose requests are out. */
  | { kind: "update_bill"; details: BillDetails; from?: "user" | "ai" }
  | { kind: "add_participants"; people: NewPerson[]; reason: string; from?: "user" | "ai" }
  | {
      kind: "update_participant";
      participantId: string;
      changes: { name?: string; phone?: string | null; email?: string | null };
      bankLink?: { userId: string | null; isBankCustomer: boolean };
    }
  | { kind: "remove_participant"; participantId: string }
  | { kind: "split"; request: SplitInput }
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
  /** The payment system took these requests (the hand-over job's outcome). */
  | { kind: "handed_over"; outcomes: HandOverOutcome[] }
  | { kind: "expire"; requestId: string }
  | { kind: "cancel_bill"; reason?: string };

export interface HistoryRow {
  participantId: string | null;
  participantName: string | null;
  entityType: "bill" | "participant" | "payment_request";
  previousStatus: string | null;
  newStatus: string;
  reason: string;
  reasonCode: ReasonCode;
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
  statusReasonCode: ReasonCode | null;
  closedAt: Date | null;
  paymentId: string | null;
  paymentLink: string | null;
  qrCode: string | null;
  qrCodeUrl: string | null;
  paidAt: Date | null;
}

/** What a command does: rows to write, and what happens after the commit. */
export interface Changes {
  bill: LedgerBill | null;
  insertParticipants: LedgerParticipant[];
  /** Removed participants are updated (removedAt set), never deleted. */
  updateParticipants: LedgerParticipant[];
  insertRequests: LedgerRequest[];
  updateRequests: RequestChange[];
  payments: NewPayment[];
  history: HistoryRow[];
  /** What follows: jobs written in the same transaction, and notices. */
  effects: {
    /** New requests to hand to the payment system (a payment-hand-over job each). */
    handOver: string[];
    /** Requests now at the payment system: their participants are told. */
    sent: string[];
    /** Payments the payment system must no longer collect (a payment-cancel job each). */
    cancelAtPaymentSystem: { requestId: string; paymentId: string }[];
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
