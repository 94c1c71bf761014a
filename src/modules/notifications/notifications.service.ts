// Notifications: who hears about what, on which channel, with a Notifications row per send.
// Bank customers are told in the app; everyone else by SMS (phone) and email (email). A failed
// channel is recorded and never fails the request or the other channels. Called after the
// transaction that caused it has committed.
import type { Logger } from "pino";
import { v7 as uuidv7 } from "uuid";
import type { ChannelName, Channels } from "../../adapters/notify/channels";
import type { Clock } from "../../clock";
import type { Db } from "../../db/database";
import type { Sql } from "../../db/sql";
import { WriteCoalescer } from "../../db/write-coalescer";
import { billNotFound, Conflict, NotFound } from "../../domain/errors";
import { formatAmount, toDecimal, type DecimalLike } from "../../domain/money";
import type { AuthUser } from "../../http/auth";
import type { Person } from "../../ledger/model";
import type { BillsRepository } from "../bills/bills.repository";
import { decodeCursor, encodeCursor } from "../../http/cursor";
import { insertPendingStatement, markFailed, markSent, type PlannedNotification } from "./notifications.repository";

/**
 * A pending row this old that was never tried was left by a process that stopped before sending it
 * (a send in progress finishes long before: the channels time out sooner).
 */
const NEVER_TRIED_AFTER_MS = 10 * 60_000;

export type NotificationType = "payment_request" | "reminder" | "payment_received" | "bill_completed" | "bill_cancelled";

/** What a notice needs of a bill. */
export interface NoticeBill {
  id: string;
  creatorUserId: string;
  merchantName: string | null;
  currency: string | null;
}

/** A payment request handed over, with what telling its participant needs. */
export interface RequestNotice {
  id: string;
  billId: string;
  merchantName: string | null;
  amount: string;
  currency: string;
  channel: "in_app" | "payment_link";
  paymentLink: string | null;
  participant: Omit<Person, "isCreator">;
}

interface Recipient {
  participantId: string | null;
  userId: string | null;
  name: string;
  phone: string | null;
  email: string | null;
  isBankCustomer: boolean;
}

export class NotificationsService {
  /** "Sent" marks from concurrent deliveries share statements (a webhook burst writes one per batch, not one each). */
  private readonly sentMarks = new WriteCoalescer<string>((ids) => markSent(this.sql, ids, this.clock.now()));

  constructor(
    private readonly db: Db,
    private readonly sql: Sql,
    private readonly bills: BillsRepository,
    private readonly channels: Channels,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly reminderIntervalMs: number,
    private readonly maxAttempts: number,
  ) {}

  /**
   * Asks each participant with a new request to pay: their amount and how to pay. Returns the
   * channels that reached each request's participant (none: unreachable, no phone, email or app).
   */
  async paymentRequested(requests: readonly RequestNotice[]): Promise<Map<string, ChannelName[]>> {
    const reached = new Map<string, ChannelName[]>();
    for (const r of requests) {
      const amount = `${formatAmount(r.amount, r.currency)} ${r.currency}`;
      const how = r.channel === "in_app" ? "Open your banking app to pay." : `Pay here: ${r.paymentLink ?? "(link pending)"}`;
      reached.set(r.id, await this.send(r.billId, "payment_request", asRecipient(r.participant), `${merchant(r)}: your share is ${amount}. ${how}`));
    }
    return reached;
  }

  /**
   * The rows that tell the creator someone paid. The webhook writes them in its own transaction
   * (an outbox: they survive a crash right after the commit) and hands them to deliver() after it.
   */
  paymentReceivedNotices(info: { billId: string; creatorUserId: string; merchantName: string | null; participantName: string; amount: string; currency: string }): PlannedNotification[] {
    const text = `${merchant(info)}: ${info.participantName} paid ${formatAmount(info.amount, info.currency)} ${info.currency}.`;
    return this.plan(info.billId, "payment_received", creator(info.creatorUserId), text);
  }

  /**
   * The rows that tell the creator and every participant that the bill is settled. Planned by the
   * ledger and written in the transaction that completes the bill (an outbox), delivered after it.
   */
  billCompletedNotices(bill: NoticeBill, participants: readonly Person[]): PlannedNotification[] {
    const text = `${merchant(bill)}: everyone has paid. The bill is settled.`;
    return [
      ...this.plan(bill.id, "bill_completed", creator(bill.creatorUserId), text),
      ...participants.filter((p) => !p.isCreator).flatMap((p) => this.plan(bill.id, "bill_completed", asRecipient(p), text)),
    ];
  }

  /** The rows that tell every participant the bill was cancelled, and whoever paid what is owed back (an outbox, as above). */
  billCancelledNotices(bill: NoticeBill, participants: readonly (Person & { refundDue: DecimalLike })[]): PlannedNotification[] {
    return participants
      .filter((p) => !p.isCreator)
      .flatMap((p) => {
        const refund = bill.currency && !toDecimal(p.refundDue).isZero() ? ` ${formatAmount(p.refundDue, bill.currency)} ${bill.currency} you paid is owed back to you.` : "";
        return this.plan(bill.id, "bill_cancelled", asRecipient(p), `${merchant(bill)}: the bill was cancelled. You owe nothing for it.${refund}`);
      });
  }

  /** POST send-notifications: every participant who owes hears their share and how to pay. */
  async notifyShares(user: AuthUser, billId: string) {
    const bill = await this.bills.findOwned(this.db, billId, user.id);
    if (!bill) throw billNotFound();
    if (!bill.currency || !bill.splitMethod || bill.needsResplit) {
      throw new Conflict("Split the bill first: there are no shares to tell people about", "split_required");
    }
    const participants = await this.db.participant.findMany({
      where: { billId },
      include: { paymentRequests: { where: { status: "sent" }, orderBy: { createdAt: "desc" }, take: 1 } },
      orderBy: [{ createdAt: "asc" }, { id: "asc" }],
    });
    const notified: { participantId: string; name: string; channels: string[] }[] = [];
    const skipped: { participantId: string; name: string; reason: string }[] = [];
    for (const p of participants) {
      const reason = p.isCreator ? "the creator's own share" : p.paymentStatus === "paid" ? "already paid" : p.amountToPay === null || toDecimal(p.amountToPay).isZero() ? "owes nothing" : undefined;
      if (reason) {
        skipped.push({ participantId: p.id, name: p.name, reason });
        continue;
      }
      const request = p.paymentRequests[0];
      const how = p.isBankCustomer ? "Open your banking app to pay." : request?.paymentLink ? `Pay here: ${request.paymentLink}` : "A payment link will follow.";
      const channels = await this.send(billId, "payment_request", asRecipient(p), `${merchant(bill)}: your share is ${formatAmount(p.amountToPay!, bill.currency)} ${bill.currency}. ${how}`);
      if (channels.length) notified.push({ participantId: p.id, name: p.name, channels });
      else skipped.push({ participantId: p.id, name: p.name, reason: "no phone, email or bank account to reach them" });
    }
    return { billId, notified, skipped };
  }

  /**
   * POST send-reminders (and the automatic schedule, with changedBy "system"): reminds those who
   * have not paid, but nobody twice within the reminder interval.
   */
  async remind(billId: string, options: { user?: AuthUser } = {}) {
    const bill = options.user ? await this.bills.findOwned(this.db, billId, options.user.id) : await this.db.bill.findUnique({ where: { id: billId } });
    if (!bill) throw billNotFound();
    if (bill.status !== "active") {
      throw new Conflict(`Only an active bill has people to remind; this one is ${bill.status}`, "bill_not_active", { currentStatus: bill.status });
    }
    const now = this.clock.now();
    const since = new Date(now.getTime() - this.reminderIntervalMs);
    const participants = await this.db.participant.findMany({
      where: { billId },
      include: {
        paymentRequests: { where: { status: "sent" }, orderBy: { createdAt: "desc" }, take: 1 },
        notifications: { where: { type: "reminder", status: "sent" }, orderBy: { createdAt: "desc" }, take: 1 },
      },
      orderBy: [{ createdAt: "asc" }, { id: "asc" }],
    });
    const reminded: { participantId: string; name: string; channels: string[] }[] = [];
    const skipped: { participantId: string; name: string; reason: string }[] = [];
    for (const p of participants) {
      if (p.isCreator || p.paymentStatus === "paid") {
        skipped.push({ participantId: p.id, name: p.name, reason: p.isCreator ? "the creator's own share" : "already paid" });
        continue;
      }
      const request = p.paymentRequests[0];
      if (!request) {
        skipped.push({ participantId: p.id, name: p.name, reason: "no open payment request; ask them to pay first" });
        continue;
      }
      const last = p.notifications[0];
      if (last && last.createdAt > since) {
        const next = new Date(last.createdAt.getTime() + this.reminderIntervalMs);
        skipped.push({ participantId: p.id, name: p.name, reason: `reminded at ${last.createdAt.toISOString()}; next reminder after ${next.toISOString()}` });
        continue;
      }
      const how = p.isBankCustomer ? "Open your banking app to pay." : `Pay here: ${request.paymentLink}`;
      const channels = await this.send(billId, "reminder", asRecipient(p), `Reminder from ${merchant(bill)}: you still owe ${formatAmount(request.amount, request.currency)} ${request.currency}. ${how}`);
      reminded.push({ participantId: p.id, name: p.name, channels });
    }
    return { billId, reminded, skipped };
  }

  /** The automatic schedule: reminds on every active bill that has someone due a reminder. */
  async remindDue(): Promise<number> {
    const since = new Date(this.clock.now().getTime() - this.reminderIntervalMs);
    const bills = await this.db.bill.findMany({
      where: {
        status: "active",
        paymentRequests: { some: { status: "sent", createdAt: { lt: since } } },
      },
      select: { id: true },
      take: 200,
    });
    let count = 0;
    for (const b of bills) count += (await this.remind(b.id)).reminded.length;
    return count;
  }

  /**
   * Sends failed notifications again, up to the configured number of attempts in all, and those
   * never tried because the process stopped between writing them and sending them.
   */
  async retryFailed(): Promise<number> {
    const neverTriedBefore = new Date(this.clock.now().getTime() - NEVER_TRIED_AFTER_MS);
    const failed = await this.db.notification.findMany({
      where: {
        OR: [
          { status: "failed", attempts: { lt: this.maxAttempts } },
          { status: "pending", attempts: 0, createdAt: { lt: neverTriedBefore } },
        ],
      },
      take: 200,
      orderBy: { createdAt: "asc" },
    });
    let sent = 0;
    for (const n of failed) {
      // Claim the attempt first, so two sweeps never send the same notification twice.
      const { count } = await this.db.notification.updateMany({ where: { id: n.id, status: n.status, attempts: n.attempts }, data: { attempts: n.attempts + 1, status: "pending" } });
      if (count === 0 || !n.recipient) continue;
      try {
        await this.channels[n.channel].send({ to: n.recipient, subject: "ChillBill", text: n.message });
        await this.db.notification.update({ where: { id: n.id }, data: { status: "sent", sentAt: this.clock.now(), error: null } });
        sent += 1;
      } catch (err) {
        await this.db.notification.update({ where: { id: n.id }, data: { status: "failed", error: (err as Error).message.slice(0, 500) } });
      }
    }
    return sent;
  }

  /** A bank customer's in-app notifications, newest first, keyset-paginated on (created_at, id). */
  async inApp(user: AuthUser, query: { limit: number; cursor?: string }) {
    const after = query.cursor ? decodeCursor(query.cursor) : undefined;
    const rows = await this.db.notification.findMany({
      where: {
        recipientUserId: user.id,
        channel: "in_app",
        ...(after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {}),
      },
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      take: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      items: page.map((n) => ({ id: n.id, billId: n.billId, type: n.type, message: n.message, status: n.status, createdAt: n.createdAt.toISOString(), readAt: n.readAt?.toISOString() ?? null })),
      nextCursor: rows.length > query.limit && last ? encodeCursor({ createdAt: last.createdAt, id: last.id }) : null,
    };
  }

  /** Marks one of the caller's in-app notifications read (idempotent); 404 for anyone else's. */
  async markRead(user: AuthUser, notificationId: string) {
    const { count } = await this.db.notification.updateMany({
      where: { id: notificationId, recipientUserId: user.id, channel: "in_app", readAt: null },
      data: { readAt: this.clock.now() },
    });
    const row = await this.db.notification.findFirst({ where: { id: notificationId, recipientUserId: user.id, channel: "in_app" } });
    if (!row) throw new NotFound("No notification with this id for you", "notification_not_found");
    return { id: row.id, readAt: row.readAt!.toISOString(), changed: count === 1 };
  }

  private async send(billId: string, type: NotificationType, who: Recipient, text: string): Promise<ChannelName[]> {
    const rows = this.plan(billId, type, who, text);
    if (rows.length === 0) {
      this.logger.info({ billId, type, name: who.name }, "no way to reach this person; nothing sent");
      return [];
    }
    const insert = insertPendingStatement(rows);
    await this.sql.query(insert.text, insert.values);
    await this.deliver(rows);
    return rows.map((r) => r.channel);
  }

  /** One row per channel that reaches the person: the app for bank customers, else SMS and email. */
  private plan(billId: string, type: NotificationType, who: Recipient, text: string): PlannedNotification[] {
    const targets: { channel: ChannelName; to: string }[] = who.isBankCustomer
      ? [{ channel: "in_app", to: who.userId ?? who.name }]
      : [...(who.phone ? [{ channel: "sms" as const, to: who.phone }] : []), ...(who.email ? [{ channel: "email" as const, to: who.email }] : [])];
    const createdAt = this.clock.now();
    return targets.map(({ channel, to }) => ({
      id: uuidv7(),
      billId,
      participantId: who.participantId,
      recipientUserId: who.userId,
      type,
      channel,
      recipient: to,
      message: text,
      createdAt,
    }));
  }

  /**
   * Sends pending rows on their channels and records each result. Never throws: a failed channel is
   * recorded as failed, and a row whose result could not be recorded stays pending for the sweep.
   */
  async deliver(rows: readonly PlannedNotification[]): Promise<void> {
    const sent: string[] = [];
    for (const n of rows) {
      try {
        await this.channels[n.channel].send({ to: n.recipient, subject: "ChillBill", text: n.message });
        sent.push(n.id);
      } catch (err) {
        this.logger.warn({ err, billId: n.billId, channel: n.channel }, "notification failed");
        await markFailed(this.sql, n.id, (err as Error).message).catch((dbErr) => this.logger.error({ err: dbErr, notificationId: n.id }, "could not record a failed notification"));
      }
    }
    await this.sentMarks.add(sent).catch((err) => this.logger.error({ err, notificationIds: sent }, "could not record sent notifications; the sweep will send them again"));
  }
}

function merchant(bill: { merchantName: string | null }): string {
  return bill.merchantName ?? "Your bill";
}

function asRecipient(p: { id: string; userId: string | null; name: string; phone: string | null; email: string | null; isBankCustomer: boolean }): Recipient {
  return { participantId: p.id, userId: p.userId, name: p.name, phone: p.phone, email: p.email, isBankCustomer: p.isBankCustomer };
}

function creator(userId: string): Recipient {
  return { participantId: null, userId, name: "creator", phone: null, email: null, isBankCustomer: true };
}
