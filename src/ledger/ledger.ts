// The one writer of money state (docs/money.md): lock the bill, read its state once, ask decide(),
// write every change in one batch with its history rows, outbox notifications and live events,
// and enqueue the jobs they need (their delivery, the hand-over of new requests) in the same
// transaction; commit; then, only after the commit, the outside calls: the payment system.
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { v7 as uuidv7 } from "uuid";
import type { PaymentSystem } from "../adapters/payments/payment-system";
import type { Clock } from "../clock";
import type { Sql, SqlClient } from "../db/sql";
import { billNotFound } from "../domain/errors";
import { formatAmount } from "../domain/money";
import type { PlannedNotification } from "../modules/notifications/notifications.repository";
import type { NotificationsService } from "../modules/notifications/notifications.service";
import type { HandedOver, HandOverItem, HandOverJob } from "../modules/payments/hand-over";
import { QUEUES, type Jobs } from "../jobs/jobs";
import { decide, type DecideContext } from "./decide";
import { liveEvents } from "./live-events";
import type { Decision, LedgerCommand, LedgerState } from "./model";
import { isEmpty, lockBill, readState, writeChanges } from "./store";

const REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/** A short, unambiguous reference (no 0/O, 1/I) that fits the EMV reference field. */
export function newReference(): string {
  const bytes = randomBytes(12);
  return `CB${Array.from(bytes, (b) => REFERENCE_ALPHABET[b % REFERENCE_ALPHABET.length]).join("")}`;
}

export interface LedgerOptions {
  requestTtlHours: number;
  /** The hand-over job of a new request waits this long: the committing process hands it over first. */
  handOverRetryAfterSeconds: number;
}

/** Hands new payment requests to the payment system (payments/hand-over.ts); returns those sent. */
export type HandOver = (items: HandOverItem[]) => Promise<HandedOver[]>;

/** A decision written in its transaction, with the notices (outbox rows) written with it. */
export type Written<R = unknown> = Decision<R> & { notices: PlannedNotification[] };

/** A decision once committed, with the outcome of its hand-over to the payment system. */
export type Committed<R> = Written<R> & { handedOver: HandedOver[] };

export class Ledger {
  constructor(
    private readonly sql: Sql,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: LedgerOptions,
    private readonly notifications: NotificationsService,
    private readonly paymentSystem: PaymentSystem,
    /** The hand-over lives with the payments module (payments/hand-over.ts). */
    private readonly handOver: HandOver,
    private readonly jobs: Jobs,
  ) {}

  /**
   * Runs one command on a bill: its creator's (`userId`; another user's bill is not found) or any
   * (`userId` null: the system). `changedBy` goes into the history rows.
   */
  async run<R = unknown>(billId: string, userId: string | null, changedBy: string, command: LedgerCommand): Promise<Committed<R>> {
    const decision = await this.sql.transaction(async (tx) => {
      if (!(await lockBill(tx, billId, userId))) throw billNotFound();
      return this.decideAndWrite<R>(tx, billId, changedBy, command);
    });
    return { ...decision, handedOver: await this.afterCommit(billId, decision) };
  }

  /**
   * Inside a transaction that already holds the bill's lock: read, decide, write. The webhook uses
   * it after its own claim-and-lock statement, so one event is four round trips; a caller that has
   * just read the state under the same lock passes it (`state`) instead of reading it again.
   */
  async decideAndWrite<R>(
    tx: SqlClient,
    billId: string,
    changedBy: string,
    command: LedgerCommand,
    options: { event?: { id: string; outcome: (result: R) => { outcome: string; detail: string | null } }; state?: LedgerState } = {},
  ): Promise<Written<R>> {
    const { event } = options;
    const state = options.state ?? (await readState(tx, billId, command.kind === "payment_event" ? command.requestId : null));
    const decision = decide(state, command, this.context()) as Decision<R>;
    const notices = this.notices(state, decision);
    const outcome = event?.outcome(decision.result);
    if (!isEmpty(decision.changes) || notices.length || outcome) {
      const cancelled = await writeChanges(tx, billId, changedBy, decision.changes, {
        notifications: notices,
        events: liveEvents(command, decision),
        now: this.clock.now(),
        event: event && outcome ? { id: event.id, ...outcome } : undefined,
      });
      // The outbox rows' delivery, and a keyed hand-over job per new request (a safety net: the
      // committing process hands them over itself right after the commit).
      await this.notifications.enqueueDelivery(tx, notices);
      await this.jobs.enqueueMany(
        tx,
        QUEUES.paymentHandOver,
        decision.changes.effects.handOver.map((requestId) => ({ id: requestId, data: { requestId } satisfies HandOverJob, startAfterSeconds: this.options.handOverRetryAfterSeconds })),
      );
      // What the payment system must stop collecting, by the payment ids stored now (a concurrent
      // hand-over may have given one that the state read before it did not have).
      // (A removed participant's requests go with their row: those keep the id the state had.)
      const stored = new Map(cancelled.map((c) => [c.requestId, c.paymentId]));
      decision.changes.effects.cancelAtPaymentSystem = decision.changes.effects.cancelAtPaymentSystem.map((c) => ({
        requestId: c.requestId,
        paymentId: stored.get(c.requestId) ?? c.paymentId,
      }));
    }
    return { ...decision, notices };
  }

  /** After the commit: the payment system, and the notifications the change caused. */
  async afterCommit(billId: string, decision: Written): Promise<HandedOver[]> {
    const { changes } = decision;
    // Written as outbox rows with their job in the transaction: delivered now by this process's
    // worker, or by any instance's if we die first.
    if (decision.notices.length) this.notifications.wake();
    // Closed here, so no longer collectable there: the pay page refuses them at once in any case.
    for (const c of changes.effects.cancelAtPaymentSystem) {
      if (!c.paymentId) continue;
      await this.safely(`cancelling payment ${c.paymentId} at the payment system`, () => this.paymentSystem.cancelPayment(c.paymentId!));
    }
    let handedOver: HandedOver[] = [];
    if (changes.effects.handOver.length) await this.safely("payment hand-over", async () => void (handedOver = await this.handOver(this.handOverItems(billId, decision))));
    return handedOver;
  }

  /** What the hand-over needs of the new requests, from the state the ledger already holds. */
  private handOverItems(billId: string, decision: Decision): HandOverItem[] {
    const { after } = decision;
    return decision.changes.effects.handOver.map((id) => {
      const r = after.requests.find((x) => x.id === id)!;
      const p = after.participants.find((x) => x.id === r.participantId)!;
      return {
        id,
        billId,
        amount: r.amount.toFixed(),
        currency: r.currency,
        reference: r.reference,
        payToken: r.payToken!,
        channel: r.channel,
        expiryDate: r.expiryDate,
        merchantName: after.bill.merchantName,
        participant: { id: p.id, userId: p.userId, name: p.name, phone: p.phone, email: p.email, isBankCustomer: p.isBankCustomer },
      };
    });
  }

  private async safely(what: string, work: () => Promise<void>): Promise<void> {
    // The change is committed: nothing after it may fail the request. Jobs retry what failed here.
    await work().catch((err) => this.logger.error({ err }, `${what} failed`));
  }

  /** The notices a decision causes, as outbox rows for its own transaction. */
  private notices(state: LedgerState, decision: Decision): PlannedNotification[] {
    const { bill } = state;
    const { effects } = decision.changes;
    const after = decision.after;
    const received = effects.received.flatMap((r) =>
      this.notifications.paymentReceivedNotices({
        billId: bill.id,
        creatorUserId: bill.creatorUserId,
        merchantName: bill.merchantName,
        participantName: r.participantName,
        amount: formatAmount(r.amount, bill.currency ?? "USD"),
        currency: bill.currency ?? "",
      }),
    );
    const noticeBill = { id: bill.id, creatorUserId: bill.creatorUserId, merchantName: after.bill.merchantName, currency: after.bill.currency };
    return [
      ...received,
      ...(effects.completed ? this.notifications.billCompletedNotices(noticeBill, after.participants) : []),
      ...(effects.cancelled ? this.notifications.billCancelledNotices(noticeBill, after.participants) : []),
    ];
  }

  private context(): DecideContext {
    return {
      now: this.clock.now(),
      newId: () => uuidv7(),
      newReference,
      newPayToken: () => randomBytes(24).toString("base64url"),
      requestTtlMs: this.options.requestTtlHours * 3_600_000,
    };
  }
}
