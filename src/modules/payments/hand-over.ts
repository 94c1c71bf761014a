// Hands payment requests the ledger created to the payment system, after their transaction
// committed: the payment system gives a payment id and link; we store them with the QR payload and
// the QR image's URL, and the request becomes `sent`, and its participant's notice is enqueued in that same transaction.
// The process that committed hands over at once; the payment-hand-over job, keyed by the request
// id and enqueued with the request, takes over if it could not (the payment system was down, or
// the process died). One the ledger closed meanwhile is cancelled at the payment system at once.
import type { Logger } from "pino";
import type { PaymentSystem } from "../../adapters/payments/payment-system";
import type { Clock } from "../../clock";
import type { Sql } from "../../db/sql";
import { buildEmvPayload, emvCurrencySupported } from "../../domain/emv-qr";
import { formatAmount } from "../../domain/money";
import type { ChannelName } from "../../adapters/notify/channels";
import { QUEUES, type Job, type Jobs } from "../../jobs/jobs";
import { qrImagePath } from "./pay-page";
import type { PlannedNotification } from "../notifications/notifications.repository";
import type { NotificationsService, RequestNotice } from "../notifications/notifications.service";

/** The payment-hand-over job; its job id is the request's id. */
export interface HandOverJob {
  requestId: string;
}

export interface HandOverOptions {
  webhookUrl: () => string;
  emv: { merchantId: string; country: string; city: string };
}

/** A request to hand over, with what the payment system and the notice need (no read needed). */
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
  participant: RequestNotice["participant"];
}

/** A request now at the payment system, and which channels told its participant. */
export interface HandedOver {
  id: string;
  paymentId: string;
  paymentLink: string;
  qrCode: string | null;
  /** The QR image, relative to the public base URL: payment links only. */
  qrCodeUrl: string | null;
  reached: ChannelName[];
}

const PENDING_ITEMS = `
  SELECT r.id, r.bill_id, r.amount::text AS amount, r.currency, r.reference, r.pay_token, r.channel::text AS channel, r.expiry_date,
         b.merchant_name, p.id AS participant_id, p.user_id, p.name, p.phone, p.email, p.is_cake_user
    FROM payment_requests r JOIN bills b ON b.id = r.bill_id JOIN participants p ON p.id = r.participant_id
   WHERE r.status = 'pending'`;

interface PendingRow {
  id: string;
  bill_id: string;
  amount: string;
  currency: string;
  reference: string;
  pay_token: string;
  channel: "in_app" | "payment_link";
  expiry_date: Date;
  merchant_name: string | null;
  participant_id: string;
  user_id: string | null;
  name: string;
  phone: string | null;
  email: string | null;
  is_cake_user: boolean;
}

const toItem = (r: PendingRow): HandOverItem => ({
  id: r.id,
  billId: r.bill_id,
  amount: r.amount,
  currency: r.currency,
  reference: r.reference,
  payToken: r.pay_token,
  channel: r.channel,
  expiryDate: r.expiry_date,
  merchantName: r.merchant_name,
  participant: { id: r.participant_id, userId: r.user_id, name: r.name, phone: r.phone, email: r.email, isBankCustomer: r.is_cake_user },
});

export class PaymentHandOver {
  constructor(
    private readonly sql: Sql,
    private readonly paymentSystem: PaymentSystem,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: HandOverOptions,
    private readonly notifications: NotificationsService,
    private readonly jobs: Jobs,
  ) {}

  /**
   * Hands requests the ledger just created over, from what it already holds. Only a request still
   * pending becomes sent: one closed meanwhile is cancelled at the payment system at once.
   */
  async handOverItems(items: readonly HandOverItem[], options: { byJob?: boolean } = {}): Promise<HandedOver[]> {
    if (items.length === 0) return [];
    // The payment system de-duplicates by our request id (its idempotency key): a repeat never makes two payments.
    const created = await Promise.all(
      items.map(async (r) => {
        const amount = formatAmount(r.amount, r.currency);
        try {
          const payment = await this.paymentSystem.createPayment({
            paymentRequestId: r.id,
            reference: r.reference,
            amount,
            currency: r.currency,
            description: `${r.merchantName ?? "Bill"}: ${r.participant.name}'s share`,
            expiresAt: r.expiryDate,
            payToken: r.payToken,
            webhookUrl: this.options.webhookUrl(),
          });
          return {
            item: r,
            payment_id: payment.paymentId,
            payment_link: payment.paymentLink,
            qr_code: this.qrPayload(r, amount, payment.paymentLink),
            // The image exists from now on (the pay page serves it once the request is sent).
            qr_code_url: r.channel === "payment_link" ? qrImagePath(r.payToken) : null,
          };
        } catch (err) {
          this.logger.warn({ err, paymentRequestId: r.id }, "the payment system did not take the payment request; it stays pending");
          return undefined;
        }
      }),
    );
    const taken = created.filter((c) => c !== undefined);
    if (taken.length === 0) return [];
    // Not a ledger command: it changes no amount and opens or closes nothing. It only records the
    // payment system's ids on a request the ledger made, and only while the request is still
    // pending, with the notice to its participant; a request the ledger closed meanwhile is
    // cancelled at the payment system below.
    const reached = new Map<string, ChannelName[]>();
    const { sent, stored } = await this.sql.transaction(async (tx) => {
      const sent = new Set(
        (
          await tx.query<{ id: string }>(
            `UPDATE payment_requests r SET status = 'sent', payment_id = x.payment_id, payment_link = x.payment_link, qr_code = x.qr_code,
                   qr_code_url = x.qr_code_url, updated_at = $2::timestamptz
               FROM json_to_recordset($1::json) AS x(id uuid, payment_id text, payment_link text, qr_code text, qr_code_url text)
              WHERE r.id = x.id AND r.status = 'pending'
             RETURNING r.id`,
            [
              JSON.stringify(taken.map((t) => ({ id: t.item.id, payment_id: t.payment_id, payment_link: t.payment_link, qr_code: t.qr_code, qr_code_url: t.qr_code_url }))),
              this.clock.now(),
            ],
          )
        ).map((r) => r.id),
      );
      // The person is told once their request exists at the payment system (link and QR known).
      const notices: PlannedNotification[] = [];
      for (const t of taken.filter((x) => sent.has(x.item.id))) {
        const rows = this.notifications.paymentRequestNotices({ ...t.item, paymentLink: t.payment_link });
        reached.set(t.item.id, rows.map((n) => n.channel));
        notices.push(...rows);
      }
      await this.notifications.enqueue(tx, notices);
      // Handed over by the committing process: the safety-net job keyed by the request's id has
      // nothing left to do. (The job itself, when it is the one handing over, ends as completed.)
      if (!options.byJob) await this.jobs.cancel(tx, QUEUES.paymentHandOver, [...sent]);
      // What the others hold now: another hand-over of the same request (the payment system gave it
      // the same payment) is not a payment to cancel.
      const others = taken.filter((t) => !sent.has(t.item.id)).map((t) => t.item.id);
      const stored = new Map(
        others.length
          ? (await tx.query<{ id: string; payment_id: string | null }>("SELECT id, payment_id FROM payment_requests WHERE id = ANY($1::uuid[])", [others])).map((r) => [r.id, r.payment_id])
          : [],
      );
      return { sent, stored };
    });
    if (reached.size) this.notifications.wake();
    // Closed while it was being handed over (superseded, paid another way, bill cancelled).
    for (const c of taken.filter((t) => !sent.has(t.item.id) && stored.get(t.item.id) !== t.payment_id)) {
      await this.paymentSystem.cancelPayment(c.payment_id).catch((err) => this.logger.warn({ err, paymentId: c.payment_id }, "could not cancel a payment closed during its hand-over"));
    }
    const handed = taken.filter((t) => sent.has(t.item.id));
    return handed.map((t) => ({ id: t.item.id, paymentId: t.payment_id, paymentLink: t.payment_link, qrCode: t.qr_code, qrCodeUrl: t.qr_code_url, reached: reached.get(t.item.id) ?? [] }));
  }

  /**
   * The payment-hand-over job: hands over those of its requests still pending and not past their
   * expiry date. Throws while one could not be handed over, so pg-boss tries again with backoff.
   */
  async runJobs(jobs: readonly Job<HandOverJob>[]): Promise<void> {
    const ids = jobs.map((j) => j.data.requestId);
    const due = await this.sql.query<PendingRow>(`${PENDING_ITEMS} AND r.id = ANY($1::uuid[]) AND r.expiry_date > $2::timestamptz ORDER BY r.created_at, r.id`, [ids, this.clock.now()]);
    const handed = await this.handOverItems(due.map(toItem), { byJob: true });
    if (handed.length < due.length) throw new Error(`${due.length - handed.length} payment request(s) not taken by the payment system yet`);
  }

  private qrPayload(r: HandOverItem, amount: string, paymentLink: string): string | null {
    if (r.channel !== "payment_link") return null;
    if (!emvCurrencySupported(r.currency)) return paymentLink;
    return buildEmvPayload({
      schemeId: "com.chillbill",
      merchantId: this.options.emv.merchantId,
      merchantName: r.merchantName ?? "ChillBill",
      merchantCity: this.options.emv.city,
      countryCode: this.options.emv.country,
      currency: r.currency,
      amount,
      reference: r.reference,
    });
  }
}
