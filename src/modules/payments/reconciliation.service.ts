// Reconciliation: for a payment request the payment system was given but has not reported on (its
// webhook lost, or never sent), ask it where the payment stands and apply the answer as that webhook
// would have: through PaymentWebhookService, under an event id made from the payment and its status,
// so the money is applied once however often it is asked and whatever webhook comes later.
import { createHash } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { PaymentState, PaymentStatus, PaymentSystem } from "../../adapters/payments/payment-system";
import type { Clock } from "../../clock";
import type { Sql } from "../../db/sql";
import { claimForReconciliation, findUnheardRequests } from "./payments.repository";
import { paymentEventBody } from "./payments.schemas";
import type { PaymentWebhookService } from "./webhook.service";

export interface ReconciliationDeps {
  sql: Sql;
  paymentSystem: PaymentSystem;
  webhook: PaymentWebhookService;
  clock: Clock;
  logger: Logger;
  /** Default of `olderThanMs` (RECONCILE_AFTER_MS). */
  reconcileAfterMs: number;
  /** How long after a request closed unpaid it is still asked about (RECONCILE_CLOSED_WINDOW_HOURS). */
  reconcileClosedWindowMs: number;
}

/** One request asked about, and what came of it. */
export interface Reconciled {
  requestId: string;
  paymentId: string;
  /** Where the payment system says the payment stands (`unknown`: it does not know it); absent when asking failed. */
  status?: PaymentStatus | "unknown";
  /**
   * What it did here: the webhook's answer (`applied`, `duplicate`, `ignored`, `mismatch`,
   * `unknown_payment`); `unchanged` when there was nothing to apply; `error` when asking or
   * applying failed (logged; the request is asked again after `olderThanMs`).
   */
  outcome: string;
}

/** The id of the event reconciliation applies for a payment's status: the same each time it is asked. */
export function reconcileEventId(paymentId: string, status: "succeeded" | "failed" | "expired"): string {
  const id = `reconcile:${paymentId}:${status}`;
  // Event ids are at most 128 characters, and so are payment ids: a long one goes in as its hash.
  return id.length <= 128 ? id : `reconcile:sha256:${createHash("sha256").update(paymentId).digest("hex")}:${status}`;
}

export class ReconciliationService {
  constructor(private readonly deps: ReconciliationDeps) {}

  /**
   * Asks about the requests not heard of for `olderThanMs` (no webhook applied, not asked since):
   * those still sent, and those closed unpaid within RECONCILE_CLOSED_WINDOW_HOURS (a webhook lost
   * before a re-split superseded the request still brings the money in), the longest-unheard
   * first, one at a time. Each is claimed just before it is asked, so
   * instances running this at once never ask about the same request. It stops taking new ones after
   * `budgetMs` (those left are first in line next time), so a run ends inside a job's lease even when
   * the payment system answers slowly. `billId` limits it to one bill.
   */
  async reconcileStale(options: { olderThanMs?: number; billId?: string; limit?: number; budgetMs?: number } = {}): Promise<Reconciled[]> {
    const { olderThanMs = this.deps.reconcileAfterMs, billId, limit = 100, budgetMs = 30_000 } = options;
    const now = this.deps.clock.now().getTime();
    const unheard = { before: new Date(now - olderThanMs), closedSince: new Date(now - this.deps.reconcileClosedWindowMs) };
    const ids = await findUnheardRequests(this.deps.sql, { ...unheard, billId, limit });
    const started = performance.now();
    const results: Reconciled[] = [];
    for (const requestId of ids) {
      if (performance.now() - started >= budgetMs) break;
      const result = await this.reconcileClaimed(requestId, unheard);
      if (result) results.push(result);
    }
    return results;
  }

  /**
   * Asks about one request now, whatever its status (an operator's call): a late success for a
   * failed, expired or cancelled request still counts, as its webhook would. Undefined when the
   * request does not exist or never reached the payment system.
   */
  reconcile(requestId: string): Promise<Reconciled | undefined> {
    return this.reconcileClaimed(requestId, null);
  }

  private async reconcileClaimed(requestId: string, unheard: { before: Date; closedSince: Date } | null): Promise<Reconciled | undefined> {
    const { sql, paymentSystem, clock, logger } = this.deps;
    const claim = await claimForReconciliation(sql, requestId, clock.now(), unheard);
    if (!claim) return undefined;
    const { paymentId } = claim;
    let state: PaymentState | undefined;
    try {
      state = await paymentSystem.getPayment(paymentId);
    } catch (err) {
      logger.warn(
        { err, paymentRequestId: requestId, paymentId },
        "reconciliation: the payment system did not say where the payment stands; asking again later",
      );
      return { requestId, paymentId, outcome: "error" };
    }
    if (!state) {
      logger.warn({ paymentRequestId: requestId, paymentId }, "reconciliation: the payment system does not know this payment");
      return { requestId, paymentId, status: "unknown", outcome: "unchanged" };
    }
    try {
      return { requestId, paymentId, status: state.status, outcome: await this.apply(requestId, paymentId, state) };
    } catch (err) {
      logger.error(
        { err, paymentRequestId: requestId, paymentId, status: state.status },
        "reconciliation: applying the payment system's answer failed; asking again later",
      );
      return { requestId, paymentId, status: state.status, outcome: "error" };
    }
  }

  /** The answer, applied as the webhook reporting it would be; pending and cancelled report nothing. */
  private async apply(requestId: string, paymentId: string, state: PaymentState): Promise<string> {
    const { status } = state;
    if (status === "pending") return "unchanged";
    if (status === "cancelled") {
      // No webhook reports a cancellation, so there is nothing to apply. A closed request's payment
      // is cancelled by us; an open one's was cancelled elsewhere: it stays sent until it expires.
      this.deps.logger.warn({ paymentRequestId: requestId, paymentId }, "reconciliation: the payment system cancelled a payment still open here");
      return "unchanged";
    }
    if (state.paymentId !== paymentId) throw new Error(`the payment system answered about payment ${state.paymentId} when asked about ${paymentId}`);
    // The event the webhook would have carried, checked as the webhook route checks it.
    const event = paymentEventBody.parse({
      id: reconcileEventId(paymentId, status),
      type: `payment.${status}`,
      created: Math.floor((state.paidAt ?? this.deps.clock.now()).getTime() / 1000),
      data: { paymentId, reference: state.reference, amount: state.amount, currency: state.currency, ...(state.reason ? { reason: state.reason } : {}) },
    });
    const { outcome } = await this.deps.webhook.handleWebhook(event);
    this.deps.logger[outcome === "applied" ? "warn" : "info"](
      { paymentRequestId: requestId, paymentId, status, eventId: event.id, paymentSystemEventId: state.eventId, outcome },
      outcome === "applied" ? "reconciliation: applied a payment outcome whose webhook never came" : "reconciliation: nothing new to apply",
    );
    return outcome;
  }
}
