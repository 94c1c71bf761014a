// Telling people on request: their shares (send-notifications) and reminders, by hand or on the
// reminder schedule. Bank customers are told in the app; everyone else by SMS (phone) and email
// (email). The rows go through the outbox (notifications.outbox.ts), which delivers them; the
// ledger's own notices (payment requests, payments received, ...) go there too. The inbox a bank
// customer reads is notifications.inbox.ts.
import type { Logger } from "pino";
import { v7 as uuidv7 } from "uuid";
import type { Clock } from "../../clock";
import type { Db } from "../../db/database";
import type { Sql } from "../../db/sql";
import { billNotFound, Conflict, NotFound } from "../../domain/errors";
import { formatAmount, toDecimal } from "../../domain/money";
import type { AuthUser } from "../../http/auth";
import { asRecipient, merchant, planNotice, type Recipient } from "../../ledger/notices";
import type { NotificationType } from "../../ledger/ports";
import type { BillsRepository } from "../bills";
import type { PlannedNotification } from "./notifications.repository";
import type { NotificationOutbox } from "./notifications.outbox";

export type { NotificationType };

/** What NotificationsService is built from (the composition root, app.ts, passes them by name). */
export interface NotificationsServiceDeps {
  db: Db;
  sql: Sql;
  bills: BillsRepository;
  clock: Clock;
  logger: Logger;
  reminderIntervalMs: number;
  /** Where the rows go, with their delivery job (notifications.outbox.ts). */
  outbox: NotificationOutbox;
}

export class NotificationsService {
  constructor(private readonly deps: NotificationsServiceDeps) {}

  /** POST send-notifications: every participant who owes hears their share and how to pay. */
  async notifyShares(user: AuthUser, billId: string) {
    const bill = await this.deps.bills.findOwned(this.deps.db, billId, user.id);
    if (!bill) throw billNotFound();
    if (!bill.currency || !bill.splitMethod || bill.needsResplit) {
      throw new Conflict("Split the bill first: there are no shares to tell people about", "split_required");
    }
    const participants = await this.deps.db.participant.findMany({
      where: { billId, removedAt: null },
      include: { paymentRequests: { where: { status: "sent" }, orderBy: { createdAt: "desc" }, take: 1 } },
      orderBy: [{ createdAt: "asc" }, { id: "asc" }],
    });
    const notified: { participantId: string; name: string; channels: string[] }[] = [];
    const skipped: { participantId: string; name: string; reason: string }[] = [];
    const rows: PlannedNotification[] = [];
    for (const p of participants) {
      const reason = p.isCreator
        ? "the creator's own share"
        : p.paymentStatus === "paid"
          ? "already paid"
          : p.amountToPay === null || toDecimal(p.amountToPay).isZero()
            ? "owes nothing"
            : undefined;
      if (reason) {
        skipped.push({ participantId: p.id, name: p.name, reason });
        continue;
      }
      const request = p.paymentRequests[0];
      const how = p.isBankCustomer
        ? "Open your banking app to pay."
        : request?.paymentLink
          ? `Pay here: ${request.paymentLink}`
          : "A payment link will follow.";
      const planned = this.plan(
        billId,
        "payment_request",
        asRecipient(p),
        `${merchant(bill)}: your share is ${formatAmount(p.amountToPay!, bill.currency)} ${bill.currency}. ${how}`,
      );
      rows.push(...planned);
      if (planned.length) notified.push({ participantId: p.id, name: p.name, channels: planned.map((n) => n.channel) });
      else skipped.push({ participantId: p.id, name: p.name, reason: "no phone, email or bank account to reach them" });
    }
    if (rows.length) {
      await this.deps.sql.transaction((tx) => this.deps.outbox.enqueue(tx, rows));
      this.deps.outbox.wake();
    }
    return { billId, notified, skipped };
  }

  /**
   * POST send-reminders (and the automatic schedule, without a user): reminds those who have not
   * paid, but nobody twice within the reminder interval. The bill's row is locked while deciding
   * and writing, so reminders called at the same time (on any instance) never both go out.
   */
  async remind(billId: string, options: { user?: AuthUser } = {}) {
    const now = this.deps.clock.now();
    const since = new Date(now.getTime() - this.deps.reminderIntervalMs);
    const reminded: { participantId: string; name: string; channels: string[] }[] = [];
    const skipped: { participantId: string; name: string; reason: string }[] = [];
    const rows: PlannedNotification[] = [];
    await this.deps.sql.transaction(async (tx) => {
      const [bill] = await tx.query<{ status: string; merchant_name: string | null }>(
        "SELECT status::text AS status, merchant_name FROM bills WHERE id = $1::uuid AND ($2::text IS NULL OR creator_id = $2) FOR UPDATE",
        [billId, options.user?.id ?? null],
      );
      if (!bill) throw billNotFound();
      if (bill.status !== "active") {
        throw new Conflict(`Only an active bill has people to remind; this one is ${bill.status}`, "bill_not_active", { currentStatus: bill.status });
      }
      const participants = await tx.query<ReminderRow>(
        `SELECT p.id, p.user_id, p.name, p.phone, p.email, p.is_cake_user, p.is_creator, p.payment_status::text AS payment_status,
                r.amount::text AS amount, r.currency, r.payment_link,
                (SELECT max(n.created_at) FROM notifications n
                  WHERE n.participant_id = p.id AND n.type = 'reminder' AND n.status <> 'failed') AS last_reminded_at
           FROM participants p
           LEFT JOIN LATERAL (
             SELECT amount, currency, payment_link FROM payment_requests
              WHERE participant_id = p.id AND status = 'sent' ORDER BY created_at DESC, id DESC LIMIT 1
           ) r ON true
          WHERE p.bill_id = $1::uuid AND p.removed_at IS NULL
          ORDER BY p.created_at, p.id`,
        [billId],
      );
      for (const p of participants) {
        const who = { participantId: p.id, name: p.name };
        if (p.is_creator || p.payment_status === "paid") {
          skipped.push({ ...who, reason: p.is_creator ? "the creator's own share" : "already paid" });
          continue;
        }
        if (p.amount === null || p.currency === null) {
          skipped.push({ ...who, reason: "no open payment request; ask them to pay first" });
          continue;
        }
        const last = p.last_reminded_at;
        if (last && last > since) {
          const next = new Date(last.getTime() + this.deps.reminderIntervalMs);
          skipped.push({ ...who, reason: `reminded at ${last.toISOString()}; next reminder after ${next.toISOString()}` });
          continue;
        }
        const how = p.is_cake_user ? "Open your banking app to pay." : `Pay here: ${p.payment_link}`;
        const recipient = { id: p.id, userId: p.user_id, name: p.name, phone: p.phone, email: p.email, isBankCustomer: p.is_cake_user };
        const planned = this.plan(
          billId,
          "reminder",
          asRecipient(recipient),
          `Reminder from ${merchant({ merchantName: bill.merchant_name })}: you still owe ${formatAmount(p.amount, p.currency)} ${p.currency}. ${how}`,
        );
        rows.push(...planned);
        reminded.push({ ...who, channels: planned.map((n) => n.channel) });
      }
      await this.deps.outbox.enqueue(tx, rows);
    });
    if (rows.length) this.deps.outbox.wake();
    return { billId, reminded, skipped };
  }

  /**
   * The automatic schedule (a job that fires once across all instances): reminds on every active
   * bill with a request out longer than the interval, a page of bills at a time in id order until
   * none is left. A bill that is no longer active, or gone, by the time its turn comes is skipped.
   * `billId` limits it to one bill (an operator's call, or a test on a shared database).
   */
  async remindDue(scope: { billId?: string } = {}): Promise<{ bills: number; reminded: number }> {
    const since = new Date(this.deps.clock.now().getTime() - this.deps.reminderIntervalMs);
    let after: string | null = null;
    const total = { bills: 0, reminded: 0 };
    for (;;) {
      const page: { id: string }[] = await this.deps.sql.query<{ id: string }>(
        `SELECT b.id FROM bills b
          WHERE b.status = 'active' AND ($2::uuid IS NULL OR b.id > $2::uuid) AND ($3::uuid IS NULL OR b.id = $3::uuid)
            AND EXISTS (SELECT 1 FROM payment_requests r WHERE r.bill_id = b.id AND r.status = 'sent' AND r.created_at < $1::timestamptz)
          ORDER BY b.id LIMIT 200`,
        [since, after, scope.billId ?? null],
      );
      for (const { id } of page) {
        try {
          total.reminded += (await this.remind(id)).reminded.length;
          total.bills += 1;
        } catch (err) {
          if (!(err instanceof Conflict || err instanceof NotFound)) throw err;
          this.deps.logger.info({ billId: id, reason: (err as Error).message }, "bill skipped by the reminder run");
        }
      }
      if (page.length < 200) return total;
      after = page[page.length - 1].id;
    }
  }

  /** One row per channel that reaches the person (the ledger's planning, ledger/notices.ts). */
  private plan(billId: string, type: NotificationType, who: Recipient, text: string): PlannedNotification[] {
    return planNotice({ newId: () => uuidv7(), now: this.deps.clock.now() }, billId, type, who, text);
  }
}

interface ReminderRow {
  id: string;
  user_id: string | null;
  name: string;
  phone: string | null;
  email: string | null;
  is_cake_user: boolean;
  is_creator: boolean;
  payment_status: string;
  amount: string | null;
  currency: string | null;
  payment_link: string | null;
  last_reminded_at: Date | null;
}
