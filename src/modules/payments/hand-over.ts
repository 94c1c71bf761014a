// Hands payment requests the ledger created to the payment system, after their transaction
// committed: the payment system gives a payment id and link; we store them with the QR payload and
// the request becomes `sent`. A request that fails stays pending and is handed over again by the
// sweep; one the ledger closed meanwhile is cancelled at the payment system at once.
import type { Logger } from "pino";
import type { PaymentSystem } from "../../adapters/payments/payment-system";
import type { Clock } from "../../clock";
import type { Sql } from "../../db/sql";
import { buildEmvPayload, emvCurrencySupported } from "../../domain/emv-qr";
import { formatAmount } from "../../domain/money";
import type { NotificationsService } from "../notifications/notifications.service";

export interface HandOverOptions {
  webhookUrl: () => string;
  emv: { merchantId: string; country: string; city: string };
}

interface PendingRow {
  id: string;
  amount: string;
  currency: string;
  reference: string;
  pay_token: string;
  channel: "in_app" | "payment_link";
  expiry_date: Date;
  merchant_name: string | null;
  participant_name: string;
}

export class PaymentHandOver {
  constructor(
    private readonly sql: Sql,
    private readonly paymentSystem: PaymentSystem,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: HandOverOptions,
    private readonly notifications: NotificationsService,
  ) {}

  /** Hands the pending requests among `ids` over; returns the ids now sent. */
  async handOver(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const pending = await this.sql.query<PendingRow>(
      `SELECT r.id, r.amount::text AS amount, r.currency, r.reference, r.pay_token, r.channel::text AS channel, r.expiry_date,
              b.merchant_name, p.name AS participant_name
         FROM payment_requests r JOIN bills b ON b.id = r.bill_id JOIN participants p ON p.id = r.participant_id
        WHERE r.id = ANY($1::uuid[]) AND r.status = 'pending'`,
      [ids],
    );
    // The payment system de-duplicates by our request id (its idempotency key): a repeat never makes two payments.
    const created = await Promise.all(
      pending.map(async (r) => {
        const amount = formatAmount(r.amount, r.currency);
        try {
          const payment = await this.paymentSystem.createPayment({
            paymentRequestId: r.id,
            reference: r.reference,
            amount,
            currency: r.currency,
            description: `${r.merchant_name ?? "Bill"}: ${r.participant_name}'s share`,
            expiresAt: r.expiry_date,
            payToken: r.pay_token,
            webhookUrl: this.options.webhookUrl(),
          });
          return { id: r.id, payment_id: payment.paymentId, payment_link: payment.paymentLink, qr_code: this.qrPayload(r, amount, payment.paymentLink) };
        } catch (err) {
          this.logger.warn({ err, paymentRequestId: r.id }, "the payment system did not take the payment request; it stays pending");
          return undefined;
        }
      }),
    );
    const taken = created.filter((c) => c !== undefined);
    if (taken.length === 0) return [];
    const sent = (
      await this.sql.query<{ id: string }>(
        `UPDATE payment_requests r SET status = 'sent', payment_id = x.payment_id, payment_link = x.payment_link, qr_code = x.qr_code, updated_at = $2::timestamptz
           FROM json_to_recordset($1::json) AS x(id uuid, payment_id text, payment_link text, qr_code text)
          WHERE r.id = x.id AND r.status = 'pending'
         RETURNING r.id`,
        [JSON.stringify(taken), this.clock.now()],
      )
    ).map((r) => r.id);
    // Closed while it was being handed over (superseded, paid another way, bill cancelled).
    for (const c of taken.filter((t) => !sent.includes(t.id))) {
      await this.paymentSystem.cancelPayment(c.payment_id).catch((err) => this.logger.warn({ err, paymentId: c.payment_id }, "could not cancel a payment closed during its hand-over"));
    }
    // The person is told once their request exists at the payment system (link and QR known).
    await this.notifications.paymentRequested(sent).catch((err) => this.logger.error({ err }, "payment request notifications failed"));
    return sent;
  }

  /**
   * Requests committed but never handed over (the payment system was down, or the process died
   * between the commit and the hand-over).
   */
  async handOverStalePending(olderThanMs = 30_000): Promise<number> {
    const now = this.clock.now();
    const stale = await this.sql.query<{ id: string }>(
      `SELECT id FROM payment_requests WHERE status = 'pending' AND created_at < $1::timestamptz AND expiry_date > $2::timestamptz
        ORDER BY created_at LIMIT 200`,
      [new Date(now.getTime() - olderThanMs), now],
    );
    return (await this.handOver(stale.map((r) => r.id))).length;
  }

  private qrPayload(r: PendingRow, amount: string, paymentLink: string): string | null {
    if (r.channel !== "payment_link") return null;
    if (!emvCurrencySupported(r.currency)) return paymentLink;
    return buildEmvPayload({
      schemeId: "com.chillbill",
      merchantId: this.options.emv.merchantId,
      merchantName: r.merchant_name ?? "ChillBill",
      merchantCity: this.options.emv.city,
      countryCode: this.options.emv.country,
      currency: r.currency,
      amount,
      reference: r.reference,
    });
  }
}
