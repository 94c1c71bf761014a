// The ledger's edges at the payment system (docs/money.md), as jobs the ledger writes in its own
// transaction:
// - payment-hand-over (keyed by the request id): the payment system creates the payment and gives
//   its id and link; the outcome goes back through the ledger's `handed_over` command, which takes
//   the bill's lock first like every other command (pending -> sent, the participant told; a
//   request closed meanwhile gets its payment cancelled). The committing process runs it at once
//   (handOverNow); the job, delayed a little, takes over when that could not finish.
// - payment-cancel (keyed by the payment id): the payment system stops collecting a payment whose
//   request closed here, retried until it answers.
import type { Logger } from "pino";
import type { PaymentSystem } from "../../adapters/payments/payment-system";
import type { Clock } from "../../clock";
import type { Sql } from "../../db/sql";
import { buildEmvPayload, emvCurrencySupported } from "../../domain/emv-qr";
import { formatAmount } from "../../domain/money";
import type { Job } from "../../jobs/jobs";
import type { Ledger } from "../../ledger/ledger";
import type { HandOverOutcome } from "../../ledger/model";
import type { HandedOver, HandOverItem, HandOverJob, HandOverPort, PaymentCancelJob } from "../../ledger/ports";
import { qrImagePath } from "./pay-page";

export type { HandedOver, HandOverItem, HandOverJob, PaymentCancelJob };

export interface HandOverOptions {
  webhookUrl: () => string;
  emv: { merchantId: string; country: string; city: string };
}

export interface HandOverDeps {
  sql: Sql;
  paymentSystem: PaymentSystem;
  clock: Clock;
  logger: Logger;
  ledger: Ledger;
  options: HandOverOptions;
}

// A request the job still has to hand over: pending and not past its expiry, or closed before its
// hand-over was recorded (the payment system may have made its payment: it is asked again, by our
// request id, which it de-duplicates on, and the ledger has that payment cancelled).
const DUE_ITEMS = `
  SELECT r.id, r.bill_id, r.amount::text AS amount, r.currency, r.reference, r.pay_token, r.channel::text AS channel, r.expiry_date,
         b.merchant_name, p.id AS participant_id, p.user_id, p.name, p.phone, p.email, p.is_cake_user
    FROM payment_requests r JOIN bills b ON b.id = r.bill_id JOIN participants p ON p.id = r.participant_id
   WHERE r.id = ANY($1::uuid[]) AND r.payment_id IS NULL AND r.pay_token IS NOT NULL
     AND ((r.status = 'pending' AND r.expiry_date > $2::timestamptz) OR r.status IN ('cancelled', 'expired', 'failed'))
   ORDER BY r.created_at, r.id`;

interface DueRow {
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

const toItem = (r: DueRow): HandOverItem => ({
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

export class PaymentHandOver implements HandOverPort {
  constructor(private readonly deps: HandOverDeps) {}

  /** The committing process hands its new requests over at once (their jobs are the safety net). */
  handOverNow(billId: string, items: readonly HandOverItem[]): Promise<HandedOver[]> {
    return this.handOver(billId, items, false).then((r) => r.handed);
  }

  /**
   * Asks the payment system for a payment per request (it de-duplicates by our request id, so a
   * repeat never makes two), then records what it gave through the ledger. Returns those now sent,
   * and how many the payment system did not take.
   */
  private async handOver(billId: string, items: readonly HandOverItem[], byJob: boolean): Promise<{ handed: HandedOver[]; notTaken: number }> {
    if (items.length === 0) return { handed: [], notTaken: 0 };
    const created = await Promise.all(items.map((item) => this.create(item)));
    const outcomes = created.filter((c): c is HandOverOutcome => c !== undefined);
    const notTaken = items.length - outcomes.length;
    if (outcomes.length === 0) return { handed: [], notTaken };
    const decision = await this.deps.ledger.run(billId, null, "payment_system", { kind: "handed_over", outcomes }, { byJob });
    const sent = new Set(decision.result.sent);
    const handed = outcomes
      .filter((o) => sent.has(o.requestId))
      .map((o) => {
        const participantId = items.find((i) => i.id === o.requestId)!.participant.id;
        const reached = decision.notices.filter((n) => n.type === "payment_request" && n.participantId === participantId).map((n) => n.channel);
        return { id: o.requestId, paymentId: o.paymentId, paymentLink: o.paymentLink, qrCode: o.qrCode, qrCodeUrl: o.qrCodeUrl, reached };
      });
    return { handed, notTaken };
  }

  private async create(r: HandOverItem): Promise<HandOverOutcome | undefined> {
    const amount = formatAmount(r.amount, r.currency);
    try {
      const payment = await this.deps.paymentSystem.createPayment({
        paymentRequestId: r.id,
        reference: r.reference,
        amount,
        currency: r.currency,
        description: `${r.merchantName ?? "Bill"}: ${r.participant.name}'s share`,
        expiresAt: r.expiryDate,
        payToken: r.payToken,
        webhookUrl: this.deps.options.webhookUrl(),
      });
      return {
        requestId: r.id,
        paymentId: payment.paymentId,
        paymentLink: payment.paymentLink,
        qrCode: this.qrPayload(r, amount, payment.paymentLink),
        // The image exists from now on (the pay page serves it once the request is sent).
        qrCodeUrl: r.channel === "payment_link" ? qrImagePath(r.payToken) : null,
      };
    } catch (err) {
      this.deps.logger.warn({ err, paymentRequestId: r.id }, "the payment system did not take the payment request; it stays pending");
      return undefined;
    }
  }

  /**
   * The payment-hand-over job: hands over those of its requests still due (see DUE_ITEMS). Throws
   * while one could not be handed over, so pg-boss tries again with backoff.
   */
  async runJobs(jobs: readonly Job<HandOverJob>[]): Promise<void> {
    const ids = jobs.map((j) => j.data.requestId);
    const due = await this.deps.sql.query<DueRow>(DUE_ITEMS, [ids, this.deps.clock.now()]);
    const byBill = new Map<string, HandOverItem[]>();
    for (const row of due) byBill.set(row.bill_id, [...(byBill.get(row.bill_id) ?? []), toItem(row)]);
    let notTaken = 0;
    for (const [billId, items] of byBill) notTaken += (await this.handOver(billId, items, true)).notTaken;
    if (notTaken > 0) throw new Error(`${notTaken} payment request(s) not taken by the payment system yet`);
  }

  /** The payment-cancel job: the payment system stops collecting these payments (cancelling twice is fine). */
  async runCancelJobs(jobs: readonly Job<PaymentCancelJob>[]): Promise<void> {
    for (const job of jobs) await this.deps.paymentSystem.cancelPayment(job.data.paymentId);
  }

  private qrPayload(r: HandOverItem, amount: string, paymentLink: string): string | null {
    if (r.channel !== "payment_link") return null;
    if (!emvCurrencySupported(r.currency)) return paymentLink;
    return buildEmvPayload({
      schemeId: "com.chillbill",
      merchantId: this.deps.options.emv.merchantId,
      merchantName: r.merchantName ?? "ChillBill",
      merchantCity: this.deps.options.emv.city,
      countryCode: this.deps.options.emv.country,
      currency: r.currency,
      amount,
      reference: r.reference,
    });
  }
}
