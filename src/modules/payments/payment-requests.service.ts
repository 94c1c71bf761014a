// Asking people to pay: requests for everyone who owes (or one participant), and their expiry.
// The ledger decides and writes; the hand-over to the payment system follows the commit.
import type { Clock } from "../../clock";
import type { Sql } from "../../db/sql";
import { formatAmount } from "../../domain/money";
import type { AuthUser } from "../../http/auth";
import type { Ledger } from "../../ledger/ledger";
import { qrImagePath } from "./pay-page";

/** A payment request as the wire shows it, in column names. */
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
  qr_code_url: string | null;
  expiry_date: Date;
  retry_count: number;
  created_at: Date;
}

/** What PaymentRequestsService is built from (the composition root, app.ts, passes them by name). */
export interface PaymentRequestsServiceDeps {
  sql: Sql;
  ledger: Ledger;
  clock: Clock;
  publicBaseUrl: () => string;
}

export class PaymentRequestsService {
  constructor(private readonly deps: PaymentRequestsServiceDeps) {}

  /** Asks everyone who owes money and has no request out for it; the bill becomes active. */
  async requestPayments(user: AuthUser, billId: string) {
    return this.request(user, billId, undefined);
  }

  /** The same for one participant; after an expired or failed request it asks again (retry_count + 1). */
  async requestPaymentFor(user: AuthUser, billId: string, participantId: string) {
    return this.request(user, billId, participantId);
  }

  private async request(user: AuthUser, billId: string, participantId: string | undefined) {
    const decision = await this.deps.ledger.run(billId, user.id, user.id, { kind: "request_payments", participantId });
    const { created, skipped } = decision.result;
    const { after } = decision;
    // Presented from what the ledger and the hand-over already hold: nothing to read again.
    const requests = created.map((id) => {
      const r = after.requests.find((x) => x.id === id)!;
      const handed = decision.handedOver.find((h) => h.id === id);
      return this.present(
        {
          id,
          participant_id: r.participantId,
          participant_name: after.participants.find((p) => p.id === r.participantId)!.name,
          amount: r.amount.toFixed(),
          currency: r.currency,
          channel: r.channel,
          status: handed ? "sent" : r.status,
          reference: r.reference,
          payment_id: handed?.paymentId ?? null,
          payment_link: handed?.paymentLink ?? null,
          pay_token: r.payToken,
          qr_code: handed?.qrCode ?? null,
          qr_code_url: handed?.qrCodeUrl ?? null,
          expiry_date: r.expiryDate,
          retry_count: r.retryCount,
          created_at: r.createdAt,
        },
        handed ? (handed.reached.length ? "sent" : "unreachable") : "not_sent_yet",
        handed?.reached ?? [],
      );
    });
    return { billId, billStatus: after.bill.status, requests, skipped };
  }

  /**
   * Marks overdue requests expired, each through the ledger; their participants can be asked again.
   * `billId` limits the sweep to one bill (an operator's call, or a test on a shared database).
   */
  async expireOverdue(scope: { billId?: string } = {}): Promise<number> {
    const overdue = await this.deps.sql.query<{ id: string; bill_id: string }>(
      `SELECT id, bill_id FROM payment_requests
        WHERE status IN ('pending', 'sent') AND expiry_date < $1::timestamptz AND ($2::uuid IS NULL OR bill_id = $2::uuid)
        ORDER BY expiry_date LIMIT 500`,
      [this.deps.clock.now(), scope.billId ?? null],
    );
    let expired = 0;
    for (const r of overdue) {
      const decision = await this.deps.ledger.run(r.bill_id, null, "system", { kind: "expire", requestId: r.id });
      if (decision.result) expired += 1;
    }
    return expired;
  }

  /**
   * A request on the wire. `notification` says whether its participant was told: `sent`,
   * `unreachable` (no phone, email or banking app), or `not_sent_yet` (not at the payment system
   * yet; they are told once it is).
   */
  present(r: PaymentRequestRow, notification?: "sent" | "unreachable" | "not_sent_yet", notifiedBy: string[] = []) {
    // The pay page and QR exist once the payment system has the request (qr_code_url is set then,
    // for payment links); the stored URL is relative to the public base URL.
    const qrUrl = (path: string | null) => (r.qr_code_url && path ? `${this.deps.publicBaseUrl()}${path}` : null);
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
      qrCodeSvgUrl: qrUrl(r.pay_token && qrImagePath(r.pay_token, "svg")),
      qrCodePngUrl: qrUrl(r.qr_code_url),
      expiryDate: r.expiry_date.toISOString(),
      retryCount: r.retry_count,
      createdAt: r.created_at.toISOString(),
      ...(notification ? { notification, notifiedBy } : {}),
    };
  }
}
