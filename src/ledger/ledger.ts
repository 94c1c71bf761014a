// The one writer of money state (docs/money.md): lock the bill, read its state once, ask decide(),
// and write every change in one batch with its history rows, outbox notifications and live events,
// together with the jobs they need: delivering the notices, handing new requests to the payment
// system, cancelling payments it must no longer collect. All in one transaction, so nothing a crash
// can lose. After the commit the committing process only wakes those jobs, and runs the hand-over
// of its own new requests at once (its outcome comes back as the `handed_over` command).
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { v5 as uuidv5, v7 as uuidv7 } from "uuid";
import type { Clock } from "../clock";
import type { Sql, SqlClient } from "../db/sql";
import { billNotFound } from "../domain/errors";
import { QUEUES, type Jobs } from "../jobs/jobs";
import type { Allocation } from "../domain/split";
import { decide, isPresent, planFor, type DecideContext, type ResultOf } from "./decide";
import { liveEvents } from "./live-events";
import type { Decision, LedgerCommand, LedgerParticipant, LedgerState, SplitInput } from "./model";
import { billCancelledNotices, billCompletedNotices, paymentReceivedNotices, paymentRequestNotices, type NoticeContext } from "./notices";
import type { HandedOver, HandOverItem, HandOverJob, HandOverPort, Outbox, PaymentCancelJob, PlannedNotification } from "./ports";
import { findState, isEmpty, lockBill, readState, writeChanges } from "./store";

const REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/** A short, unambiguous reference (no 0/O, 1/I) that fits the EMV reference field. */
export function newReference(): string {
  const bytes = randomBytes(12);
  return `CB${Array.from(bytes, (b) => REFERENCE_ALPHABET[b % REFERENCE_ALPHABET.length]).join("")}`;
}

/** pg-boss job ids are UUIDs: a payment id (any text) becomes one, the same each time. */
const PAYMENT_CANCEL_NAMESPACE = "6f1c1d52-6a0e-4d0b-9a59-2f6f3c1c9e41";
export function paymentCancelJobId(paymentId: string): string {
  return uuidv5(paymentId, PAYMENT_CANCEL_NAMESPACE);
}

export interface LedgerOptions {
  requestTtlHours: number;
  /** The hand-over job of a new request waits this long: the committing process hands it over first. */
  handOverRetryAfterSeconds: number;
}

export interface LedgerDeps {
  sql: Sql;
  clock: Clock;
  logger: Logger;
  options: LedgerOptions;
  outbox: Outbox;
  jobs: Jobs;
}

/** A decision written in its transaction, with the notices (outbox rows) written with it. */
export type Written<R = unknown> = Decision<R> & { notices: PlannedNotification[] };

/** A decision once committed, with the outcome of its hand-over to the payment system. */
export type Committed<R> = Written<R> & { handedOver: HandedOver[] };

export class Ledger {
  private handOver: HandOverPort | undefined;

  constructor(private readonly deps: LedgerDeps) {}

  /** The hand-over (payments/hand-over.ts) needs the ledger for its outcome: it is attached after both exist. */
  attachHandOver(handOver: HandOverPort): void {
    this.handOver = handOver;
  }

  /**
   * Runs one command on a bill: its creator's (`userId`; another user's bill is not found) or any
   * (`userId` null: the system). `changedBy` goes into the history rows.
   */
  async run<C extends LedgerCommand>(
    billId: string,
    userId: string | null,
    changedBy: string,
    command: C,
    options: { byJob?: boolean } = {},
  ): Promise<Committed<ResultOf<C>>> {
    const decision = await this.deps.sql.transaction(async (tx) => {
      if (!(await lockBill(tx, billId, userId))) throw billNotFound();
      return this.decideAndWrite(tx, billId, changedBy, command, { byJob: options.byJob });
    });
    return { ...decision, handedOver: await this.afterCommit(billId, decision) };
  }

  /**
   * Inside a transaction that already holds the bill's lock: read, decide, write. The webhook uses
   * it after its own claim-and-lock statement, so one event is four round trips; a caller that has
   * just read the state under the same lock passes it (`state`) instead of reading it again.
   */
  async decideAndWrite<C extends LedgerCommand>(
    tx: SqlClient,
    billId: string,
    changedBy: string,
    command: C,
    options: {
      event?: { id: string; outcome: (result: ResultOf<C>) => { outcome: string; detail: string | null } };
      state?: LedgerState;
      byJob?: boolean;
    } = {},
  ): Promise<Written<ResultOf<C>>> {
    const { event } = options;
    const named = command.kind === "payment_event" ? [command.requestId] : command.kind === "handed_over" ? command.outcomes.map((o) => o.requestId) : [];
    const state = options.state ?? (await readState(tx, billId, named));
    const now = this.deps.clock.now();
    const decision = decide(state, command, this.context(now));
    const notices = this.notices(state, decision, { now, newId: () => uuidv7() });
    const outcome = event?.outcome(decision.result);
    const { effects } = decision.changes;
    if (!isEmpty(decision.changes) || notices.length || outcome) {
      await writeChanges(tx, billId, changedBy, decision.changes, {
        notifications: notices,
        events: liveEvents(command, decision),
        now,
        event: event && outcome ? { id: event.id, ...outcome } : undefined,
      });
      const { jobs } = this.deps;
      await this.deps.outbox.enqueueDelivery(tx, notices);
      // A keyed hand-over job per new request (the committing process hands them over first).
      await jobs.enqueueMany(
        tx,
        QUEUES.paymentHandOver,
        effects.handOver.map((requestId) => ({
          id: requestId,
          data: { requestId } satisfies HandOverJob,
          startAfterSeconds: this.deps.options.handOverRetryAfterSeconds,
        })),
      );
      // A keyed cancel job per payment the payment system must no longer collect.
      await jobs.enqueueMany(
        tx,
        QUEUES.paymentCancel,
        effects.cancelAtPaymentSystem.map((c) => ({
          id: paymentCancelJobId(c.paymentId),
          data: { requestId: c.requestId, paymentId: c.paymentId } satisfies PaymentCancelJob,
        })),
      );
    }
    // Handed over by the committing process: the safety-net jobs have nothing left to do. (A job
    // that is itself handing over ends as completed.)
    if (command.kind === "handed_over" && !options.byJob)
      await this.deps.jobs.cancel(
        tx,
        QUEUES.paymentHandOver,
        command.outcomes.map((o) => o.requestId),
      );
    return { ...decision, notices };
  }

  /** The split a request would give the people on the bill now; writes nothing (no lock). */
  async previewSplit(
    billId: string,
    userId: string,
    request: SplitInput,
  ): Promise<{ bill: LedgerState["bill"]; participants: LedgerParticipant[]; plan: Allocation[] }> {
    const state = await findState(this.deps.sql, billId);
    if (!state || state.bill.creatorUserId !== userId) throw billNotFound();
    const participants = state.participants.filter(isPresent);
    return {
      bill: state.bill,
      participants,
      plan: planFor(
        state.bill,
        participants.map((p) => p.id),
        request,
      ),
    };
  }

  /** After the commit: wake the jobs written with it, and hand this command's new requests over now. */
  async afterCommit(billId: string, decision: Written): Promise<HandedOver[]> {
    const { effects } = decision.changes;
    if (decision.notices.length) this.deps.outbox.wake();
    if (effects.cancelAtPaymentSystem.length) this.deps.jobs.wake(QUEUES.paymentCancel);
    if (!effects.handOver.length || !this.handOver) return [];
    try {
      return await this.handOver.handOverNow(billId, this.handOverItems(billId, decision));
    } catch (err) {
      // The change is committed: nothing after it may fail the request. The jobs take over.
      this.deps.logger.error({ err, billId }, "payment hand-over failed; its job hands the requests over");
      return [];
    }
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

  /** The notices a decision causes, as outbox rows for its own transaction. */
  private notices(state: LedgerState, decision: Decision, ctx: NoticeContext): PlannedNotification[] {
    const { bill } = state;
    const { effects } = decision.changes;
    const after = decision.after;
    const currency = after.bill.currency ?? bill.currency ?? "";
    const requested = effects.sent.flatMap((id) => {
      const r = after.requests.find((x) => x.id === id)!;
      const p = after.participants.find((x) => x.id === r.participantId)!;
      return paymentRequestNotices(ctx, {
        billId: bill.id,
        merchantName: after.bill.merchantName,
        amount: r.amount,
        currency: r.currency,
        channel: r.channel,
        paymentLink: r.paymentLink,
        participant: p,
      });
    });
    const received = effects.received.flatMap((r) =>
      paymentReceivedNotices(ctx, {
        billId: bill.id,
        creatorUserId: bill.creatorUserId,
        merchantName: bill.merchantName,
        participantName: r.participantName,
        amount: r.amount,
        currency,
      }),
    );
    const noticeBill = { id: bill.id, creatorUserId: bill.creatorUserId, merchantName: after.bill.merchantName, currency: after.bill.currency };
    return [
      ...requested,
      ...received,
      ...(effects.completed ? billCompletedNotices(ctx, noticeBill, after.participants.filter(isPresent)) : []),
      // Everyone on the bill, and anyone removed who is still owed money back.
      ...(effects.cancelled
        ? billCancelledNotices(
            ctx,
            noticeBill,
            after.participants.filter((p) => isPresent(p) || p.refundDue.gt(0)),
          )
        : []),
    ];
  }

  private context(now: Date): DecideContext {
    return {
      now,
      newId: () => uuidv7(),
      newReference,
      newPayToken: () => randomBytes(24).toString("base64url"),
      requestTtlMs: this.deps.options.requestTtlHours * 3_600_000,
    };
  }
}
