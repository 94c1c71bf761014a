// Asking people to pay: requests for everyone who owes (or one participant), and their expiry.
// The ledger decides and writes; the hand-over to the payment system follows the commit.
import type { Clock } from "../../clock";
import type { Sql } from "../../db/sql";
import { formatAmount } from "../../domain/money";
import type { AuthUser } from "../../http/auth";
import type { RequestResult } from "../../ledger/decide";
import type { Ledger } from "../../ledger/ledger";
import type { PaymentHandOver } from "./hand-over";

export interface PaymentRequestRow {
  id: string;
  participant_id: string;
  participant_name: string;
  amount: string;
  currency: string;
  channel: "in_app" | "payment_link";
  status: string;
  reference: string;
  payment_id: string | null;
  payment_link: string | null;
  pay_token: string | null;
  qr_code: string | null;
  expiry_date: Date;
  retry_count: number;
  created_at: Date;
}

export class PaymentRequestsService {
  constructor(
    private readonly sql: Sql,
    private readonly ledger: Ledger,
    private readonly handOverService: PaymentHandOver,
    private readonly clock: Clock,
    private readonly publicBaseUrl: () => string,
  ) {}

  /** Asks everyone who owes money and has no request out for it; the bill becomes active. */
  async requestPayments(user: AuthUser, billId: string) {
    return this.request(user, billId, undefined);
  }

  /** The same for one participant; after an expired or failed request it asks again (retry_count + 1). */
  async requestPaymentFor(user: AuthUser, billId: string, participantId: string) {
    return this.request(user, billId, participantId);
  }

  private async request(user: AuthUser, billId: string, participantId: string | undefined) {
    const decision = await this.ledger.run<RequestResult>(billId, user.id, user.id, { kind: "request_payments", participantId });
    const { created, skipped } = decision.result;
    const rows = created.length
      ? await this.sql.query<PaymentRequestRow>(`${REQUEST_ROWS} WHERE r.id = ANY($1::uuid[]) ORDER BY r.created_at, r.id`, [created])
      : [];
    return { billId, billStatus: decision.after.bill.status, requests: rows.map((r) => this.present(r)), skipped };
  }

  /** Marks overdue requests expired, each through the ledger; their participants can be asked again. */
  async expireOverdue(): Promise<number> {
    const overdue = await this.sql.query<{ id: string; bill_id: string }>(
      "SELECT id, bill_id FROM payment_requests WHERE status IN ('pending', 'sent') AND expiry_date < $1::timestamptz ORDER BY expiry_date LIMIT 500",
      [this.clock.now()],
    );
    let expired = 0;
    for (const r of overdue) {
      const decision = await this.ledger.run<boolean>(r.bill_id, null, "system", { kind: "expire", requestId: r.id });
      if (decision.result) expired += 1;
    }
    return expired;
  }

  handOver(ids: string[]): Promise<string[]> {
    return this.handOverService.handOver(ids);
  }

  handOverStalePending(olderThanMs?: number): Promise<number> {
    return this.handOverService.handOverStalePending(olderThanMs);
  }

  present(r: PaymentRequestRow) {
    // The pay page and QR exist once the payment system has the request.
    const qrBase = r.pay_token && r.payment_link ? `${this.publicBaseUrl()}/pay/${r.pay_token}` : null;
    return {
      id: r.id,
      participantId: r.participant_id,
      participantName: r.participant_name,
      amount: formatAmount(r.amount, r.currency),
      currency: r.currency,
      channel: r.channel,
      status: r.status,
      reference: r.reference,
      paymentId: r.payment_id,
      paymentLink: r.payment_link,
      qrCode: r.qr_code,
      qrCodeSvgUrl: r.channel === "payment_link" && qrBase ? `${qrBase}/qr.svg` : null,
      qrCodePngUrl: r.channel === "payment_link" && qrBase ? `${qrBase}/qr.png` : null,
      expiryDate: r.expiry_date.toISOString(),
      retryCount: r.retry_count,
      createdAt: r.created_at.toISOString(),
    };
  }
}

export const REQUEST_ROWS = `
  SELECT r.id, r.participant_id, p.name AS participant_name, r.amount::text AS amount, r.currency, r.channel::text AS channel,
         r.status::text AS status, r.reference, r.payment_id, r.payment_link, r.pay_token, r.qr_code, r.expiry_date, r.retry_count, r.created_at
    FROM payment_requests r JOIN participants p ON p.id = r.participant_id`;
