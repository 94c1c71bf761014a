// What a pay page shows, decided from the ledger's state and never from prose: the request's status
// and reason code (payment_requests.status_reason_code) say what became of this link, the
// participant's balances (paid_amount, outstanding_amount, refund_due, removed_at) say where its
// person stands, and their current open request says where to pay what is still owed. Pure: the
// page (pay-page.ts) renders the state, the repository (payments.repository.ts) reads the view.
import Decimal from "decimal.js";
import { formatAmount } from "../../domain/money";
import type { PaymentRequestStatus } from "../../domain/payment-status";

/** What the decision reads: one request, its participant's balances, its bill, and the participant's other open request. */
export interface PayPageView {
  status: PaymentRequestStatus;
  /** Why it closed (src/ledger/model.ts ReasonCode); null while open, and on rows from before the codes. */
  statusReasonCode: string | null;
  amount: string;
  currency: string;
  participant: { paid: string; outstanding: string; refundDue: string; removedAt: Date | null };
  bill: { status: string; currency: string | null };
  /** The participant's open request (pending or sent) other than this one: at most one exists. */
  current: { payToken: string; amount: string; currency: string } | null;
}

export interface Money {
  amount: string;
  currency: string;
}

/** Where the person stands when this link cannot be paid: pay elsewhere, ask for a link, or nothing owed. */
export type Standing =
  { kind: "pay_at"; payToken: string; amount: Money } | { kind: "ask"; owed: Money } | { kind: "settled"; received: Money | null; refundDue: Money | null };

export type CancelReason = "bill_cancelled" | "participant_removed" | "nothing_owed" | "paid_elsewhere" | "other";

export type PayPageState =
  /** Open, nothing received yet: pay the request's amount here. */
  | { kind: "payable"; amount: Money }
  /** This link's money arrived and nothing more is owed. `received` is what they paid, not what the request asked. */
  | { kind: "paid_in_full"; received: Money; refundDue: Money | null }
  /** Some money arrived and some is still owed: here (this request is open), at their current request, or ask. */
  | { kind: "partly_paid"; received: Money; owed: Money; pay: { kind: "here"; amount: Money } | Extract<Standing, { kind: "pay_at" | "ask" }> }
  /** The amount owed changed after this link was sent. */
  | { kind: "superseded"; next: Standing }
  /** Nothing is owed through this link: the bill was cancelled, the person removed, or the share settled or gone. */
  | { kind: "cancelled"; reason: CancelReason; next: Standing }
  | { kind: "expired"; next: Standing }
  | { kind: "failed"; next: Standing }
  /** Not handed over to the payment system yet. */
  | { kind: "not_ready" };

/** The HTTP status of each state: 200 for what can be paid or was paid, 410 for a closed link, 503 while not ready. */
export const PAY_PAGE_HTTP_STATUS: Record<PayPageState["kind"], number> = {
  payable: 200,
  paid_in_full: 200,
  partly_paid: 200,
  superseded: 410,
  cancelled: 410,
  expired: 410,
  failed: 410,
  not_ready: 503,
};

const CANCEL_REASONS: readonly string[] = ["bill_cancelled", "participant_removed", "nothing_owed", "paid_elsewhere"];

/**
 * The one decision of what a pay page shows. The link's own status and reason code pick the state;
 * the balances fill in what was received, what is owed and where to pay it. Money is only ever
 * called received or paid when paid_amount says it arrived.
 */
export function payPageState(view: PayPageView): PayPageState {
  const currency = view.bill.currency ?? view.currency;
  const money = (amount: string, cur = currency): Money => ({ amount: formatAmount(amount, cur), currency: cur });
  const positive = (amount: string): Money | null => (new Decimal(amount).gt(0) ? money(amount) : null);
  const p = view.participant;
  const received = positive(p.paid);
  const owed = positive(p.outstanding);
  const next: Standing = owed
    ? view.current
      ? { kind: "pay_at", payToken: view.current.payToken, amount: money(view.current.amount, view.current.currency) }
      : { kind: "ask", owed }
    : { kind: "settled", received, refundDue: positive(p.refundDue) };

  // Nobody owes anything on a cancelled bill or as a removed participant, whatever became of the
  // link (a paid link included): what they paid is refund due.
  if (view.bill.status === "cancelled") return { kind: "cancelled", reason: "bill_cancelled", next };
  if (p.removedAt !== null) return { kind: "cancelled", reason: "participant_removed", next };

  switch (view.status) {
    case "pending":
      return { kind: "not_ready" };
    case "sent":
      // Open: it asks what is still owed (the ledger keeps it so), payable here.
      return received
        ? { kind: "partly_paid", received, owed: owed ?? money(view.amount, view.currency), pay: { kind: "here", amount: money(view.amount, view.currency) } }
        : { kind: "payable", amount: money(view.amount, view.currency) };
    case "paid":
      // Its payment arrived (received > 0). Whether that covered the share is the balance's to say.
      if (!received) return { kind: "cancelled", reason: "other", next };
      if (next.kind === "settled") return { kind: "paid_in_full", received, refundDue: next.refundDue };
      return { kind: "partly_paid", received, owed: owed!, pay: next };
    case "expired":
      return { kind: "expired", next };
    case "failed":
      return { kind: "failed", next };
    case "cancelled": {
      const code = view.statusReasonCode;
      if (code === "superseded") return { kind: "superseded", next };
      return { kind: "cancelled", reason: code !== null && CANCEL_REASONS.includes(code) ? (code as CancelReason) : "other", next };
    }
    default: {
      const _exhaustive: never = view.status;
      throw new Error(`unknown payment request status ${String(_exhaustive)}`);
    }
  }
}
