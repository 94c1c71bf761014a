// Asking people to pay and knowing reliably who has paid: payment requests, the payment system's
// webhooks, offline payments, expiry, and the bill's completion. Every payment change on a bill
// first row-locks the bill, so webhooks, manual marks and sweeps for one bill run one at a time.
import { randomBytes } from "node:crypto";
import Decimal from "decimal.js";
import type { Logger } from "pino";
import { v7 as uuidv7 } from "uuid";
import type { PaymentEventBody, PaymentSystem } from "../../adapters/payments/payment-system";
import type { Clock } from "../../clock";
import type { Db, Tx } from "../../db/database";
import { batch, type Sql, type Statement } from "../../db/sql";
import { assertEditable } from "../../domain/bill-status";
import { billNotFound, Conflict, NotFound } from "../../domain/errors";
import { buildEmvPayload, emvCurrencySupported } from "../../domain/emv-qr";
import { formatAmount, toDecimal, type DecimalLike } from "../../domain/money";
import { applyPaymentEvent, completionSteps, everyoneSettled, returnsToPending, type WebhookEventType } from "../../domain/payment-status";
import type { AuthUser } from "../../http/auth";
import type { BillRow, BillsRepository } from "../bills/bills.repository";
import { listParticipants, type ParticipantRow } from "../participants/participants.repository";
import type { BillEvents } from "../../events/bill-events";
import type { NotificationsService } from "../notifications/notifications.service";
import { insertPendingStatement, type PlannedNotification } from "../notifications/notifications.repository";
import { recordStatusChange, statusChangeStatement, type ChangedBy, type StatusChange } from "../status/status-history.repository";
import {
  billCompletedStatement,
  cancelOtherOpenRequestsStatement,
  claimEventAndLockBill,
  eventOutcomeStatement,
  openRequestsOf,
  participantPaidStatement,
  participantStatusStatement,
  readPaymentState,
  updateRequestStatement,
  type PaymentRequestRow,
} from "./payments.repository";

export interface PaymentsOptions {
  requestTtlHours: number;
  publicBaseUrl: () => string;
  webhookUrl: () => string;
  emv: { merchantId: string; country: string; city: string };
}

const REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

export class PaymentsService {
  constructor(
    private readonly db: Db,
    private readonly sql: Sql,
    private readonly bills: BillsRepository,
    private readonly paymentSystem: PaymentSystem,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly options: PaymentsOptions,
    private readonly notifications: NotificationsService,
    private readonly events: BillEvents,
  ) {}

  /** Asks everyone who owes money and has no request out for that amount; the bill becomes active. */
  async requestPayments(user: AuthUser, billId: string) {
    return this.request(user, billId, undefined);
  }

  /** The same for one participant; after an expired or failed request it asks again (retry_count + 1). */
  async requestPaymentFor(user: AuthUser, billId: string, participantId: string) {
    return this.request(user, billId, participantId);
  }

  private async request(user: AuthUser, billId: string, onlyParticipant: string | undefined) {
    const result = await this.db.$transaction(async (tx) => {
      const bill = await this.bills.lockOwned(tx, billId, user.id);
      if (!bill) throw billNotFound();
      assertEditable(bill.status);
      const participants = await listParticipants(tx, billId);
      const { currency } = assertSplitCoversTotal(bill, participants);

      let targets = participants;
      if (onlyParticipant) {
        const one = participants.find((p) => p.id === onlyParticipant);
        if (!one) throw new NotFound("No participant with this id on this bill", "participant_not_found");
        if (!owes(one)) throw new Conflict(`${one.name} owes nothing${one.isCreator ? " (the creator's share is settled)" : ""}`, "nothing_owed");
        targets = [one];
      }

      const created: string[] = [];
      const skipped: { participantId: string; name: string; reason: string }[] = [];
      for (const p of targets) {
        if (!owes(p)) {
          skipped.push({ participantId: p.id, name: p.name, reason: p.isCreator ? "the creator's own share" : p.paymentStatus === "paid" ? "already paid" : "owes nothing" });
          continue;
        }
        const amount = toDecimal(p.amountToPay!);
        const open = await openRequestsOf(tx, p.id);
        if (open.some((r) => toDecimal(r.amount).equals(amount) && r.currency === currency)) {
          skipped.push({ participantId: p.id, name: p.name, reason: "already asked for this amount" });
          continue;
        }
        // A request for an amount that is no longer right is closed before asking again.
        for (const stale of open) {
          await tx.paymentRequest.update({ where: { id: stale.id }, data: { status: "cancelled", statusReason: "replaced: the amount changed" } });
        }
        // Retries are the requests that ended unpaid; one replaced for a new amount is not a retry.
        const previous = await tx.paymentRequest.count({ where: { participantId: p.id, status: { in: ["failed", "expired"] } } });
        const id = uuidv7();
        await tx.paymentRequest.create({
          data: {
            id,
            billId,
            participantId: p.id,
            amount,
            currency,
            channel: p.isBankCustomer ? "in_app" : "payment_link",
            reference: newReference(),
            payToken: randomBytes(24).toString("base64url"),
            status: "pending",
            expiryDate: new Date(this.clock.now().getTime() + this.options.requestTtlHours * 3_600_000),
            retryCount: previous,
            createdAt: this.clock.now(),
          },
        });
        if (p.paymentStatus === "pending") {
          await tx.participant.update({ where: { id: p.id }, data: { paymentStatus: "requested" } });
          await recordStatusChange(tx, { billId, participantId: p.id, entityType: "participant", previousStatus: "pending", newStatus: "requested", changedBy: user.id, reason: `asked to pay ${formatAmount(amount, currency)} ${currency}` });
        }
        created.push(id);
      }
      const activated = bill.status === "created";
      if (activated) {
        await tx.bill.update({ where: { id: billId }, data: { status: "active" } });
        await recordStatusChange(tx, { billId, entityType: "bill", previousStatus: "created", newStatus: "active", changedBy: user.id, reason: "payment requests sent" });
      }
      return { created, skipped, activated };
    });
    // Outside calls only after the commit.
    if (result.activated) this.events.publish(billId, "bill.status", { status: "active" }, this.clock.now());
    await this.handOver(result.created);
    const requests = result.created.length
      ? await this.db.paymentRequest.findMany({ where: { id: { in: result.created } }, include: { participant: true }, orderBy: { createdAt: "asc" } })
      : [];
    const bill = await this.db.bill.findUniqueOrThrow({ where: { id: billId } });
    return { billId, billStatus: bill.status, requests: requests.map((r) => this.present(r, r.participant.name)), skipped: result.skipped };
  }

  /**
   * Registers pending requests with the payment system and stores its payment id, link and the QR
   * payload. One that fails stays pending and is handed over again by the next request or sweep.
   */
  async handOver(requestIds: string[]): Promise<string[]> {
    const sent: string[] = [];
    for (const id of requestIds) {
      const request = await this.db.paymentRequest.findUnique({ where: { id }, include: { bill: true, participant: true } });
      if (!request || request.status !== "pending") continue;
      try {
        const payment = await this.paymentSystem.createPayment({
          paymentRequestId: request.id,
          reference: request.reference,
          amount: formatAmount(request.amount, request.currency),
          currency: request.currency,
          description: `${request.bill.merchantName ?? "Bill"}: ${request.participant.name}'s share`,
          expiresAt: request.expiryDate,
          payToken: request.payToken!,
          webhookUrl: this.options.webhookUrl(),
        });
        const qrCode =
          request.channel === "payment_link"
            ? emvCurrencySupported(request.currency)
              ? buildEmvPayload({
                  schemeId: "com.chillbill",
                  merchantId: this.options.emv.merchantId,
                  merchantName: request.bill.merchantName ?? "ChillBill",
                  merchantCity: this.options.emv.city,
                  countryCode: this.options.emv.country,
                  currency: request.currency,
                  amount: formatAmount(request.amount, request.currency),
                  reference: request.reference,
                })
              : payment.paymentLink
            : null;
        const { count } = await this.db.paymentRequest.updateMany({
          where: { id, status: "pending" },
          data: { status: "sent", paymentId: payment.paymentId, paymentLink: payment.paymentLink, qrCode },
        });
        if (count === 1) sent.push(id);
      } catch (err) {
        this.logger.warn({ err, paymentRequestId: id }, "the payment system did not take the payment request; it stays pending");
      }
    }
    // The person is told once their request exists at the payment system (link and QR known).
    await this.afterCommit(() => this.notifications.paymentRequested(sent));
    return sent;
  }

  /**
   * Requests committed but never handed over (the payment system was down, or the process died
   * between the commit and the hand-over) are handed over by this sweep. The payment system
   * de-duplicates by our request id (its idempotency key), so a repeat never makes two payments.
   */
  async handOverStalePending(olderThanMs = 30_000): Promise<number> {
    const stale = await this.db.paymentRequest.findMany({
      where: { status: "pending", createdAt: { lt: new Date(this.clock.now().getTime() - olderThanMs) }, expiryDate: { gt: this.clock.now() } },
      select: { id: true },
      orderBy: { createdAt: "asc" },
      take: 200,
    });
    return (await this.handOver(stale.map((r) => r.id))).length;
  }

  /** The creator records an offline payment; any open request is closed so no webhook can count it again. */
  async markPaid(user: AuthUser, billId: string, participantId: string, input: { note?: string; method?: string }) {
    const completed = await this.db.$transaction(async (tx) => {
      const bill = await this.bills.lockOwned(tx, billId, user.id);
      if (!bill) throw billNotFound();
      assertEditable(bill.status);
      const p = await tx.participant.findFirst({ where: { id: participantId, billId } });
      if (!p) throw new NotFound("No participant with this id on this bill", "participant_not_found");
      if (p.paymentStatus === "paid") throw new Conflict(`${p.name} has already paid`, "already_paid");
      if (p.amountToPay === null) throw new Conflict("Split the bill first: this participant has no amount to pay", "split_required");
      const now = this.clock.now();
      await tx.participant.update({
        where: { id: p.id },
        data: { paymentStatus: "paid", paidAmount: p.amountToPay, paidAt: now, paymentMethod: input.method ?? "offline", paymentNote: input.note ?? null },
      });
      await tx.paymentRequest.updateMany({
        where: { participantId: p.id, status: { in: ["pending", "sent"] } },
        data: { status: "cancelled", statusReason: "closed: marked as paid by the creator" },
      });
      await recordStatusChange(tx, {
        billId,
        participantId: p.id,
        entityType: "participant",
        previousStatus: p.paymentStatus,
        newStatus: "paid",
        changedBy: user.id,
        reason: `marked as paid by the creator (${input.method ?? "offline"})${input.note ? `: ${input.note}` : ""}`,
      });
      return this.completeIfAllPaid(tx, bill, user.id);
    });
    this.events.publish(billId, "payment.received", { participantId, method: input.method ?? "offline" }, this.clock.now());
    if (completed) {
      this.events.publish(billId, "bill.status", { status: "completed" }, this.clock.now());
      await this.afterCommit(() => this.notifications.billCompleted(billId));
    }
  }

  /**
   * Applies one payment-system event, once; returns what it did. Committed before the caller
   * answers 2xx. Plain SQL in four round trips (claim and lock, read, one batch of writes, commit):
   * this is the path the payment system can hammer (docs/performance.md).
   */
  async handleWebhook(event: PaymentEventBody): Promise<{ eventId: string; outcome: string }> {
    const type = event.type.replace(/^payment\./, "") as WebhookEventType;
    const { data } = event;
    let paid: { billId: string; participantId: string; completed: boolean; notices: PlannedNotification[] } | undefined;
    let failed: { billId: string; participantId: string } | undefined;
    const answer = await this.sql.transaction(async (tx) => {
      const outcome = async (name: string, detail: string | null) => {
        const write = eventOutcomeStatement(event.id, name, detail);
        await tx.query(write.text, write.values);
        return { eventId: event.id, outcome: name };
      };
      const claim = await claimEventAndLockBill(tx, { id: event.id, type, paymentId: data.paymentId, reference: data.reference, amount: data.amount, currency: data.currency });
      if (!claim.claimed) return { eventId: event.id, outcome: "duplicate" };
      if (!claim.requestId) return outcome("unknown_payment", "no payment request has this payment id or reference");

      const { request, participant, bill, participants, otherOpenRequests } = await readPaymentState(tx, claim.requestId);
      const decision = applyPaymentEvent(request.status, type);
      if ("ignored" in decision) {
        const ignored = decision.ignored === "closed_request" ? "closed_request" : "ignored";
        if (ignored === "closed_request") this.logger.warn({ eventId: event.id, paymentRequestId: request.id }, "money received for a closed payment request: reconcile");
        return outcome(ignored, `request is ${request.status}`);
      }
      if (type === "succeeded" && !matches(request, data)) {
        const detail = `expected ${formatAmount(request.amount, request.currency)} ${request.currency}, got ${data.amount} ${data.currency}`;
        this.logger.warn({ eventId: event.id, paymentRequestId: request.id, detail }, "payment amount or currency does not match the request");
        return outcome("mismatch", detail);
      }

      const now = this.clock.now();
      const change = (c: Omit<StatusChange, "billId" | "changedBy">) => statusChangeStatement({ ...c, billId: bill.id, changedBy: "webhook" });
      const writes: Statement[] = [
        updateRequestStatement(request.id, { status: decision.to, paymentId: data.paymentId, paidAt: type === "succeeded" ? now : null, reason: data.reason ?? `payment ${type}`, now }),
        change({ participantId: participant.id, entityType: "payment_request", previousStatus: request.status, newStatus: decision.to, reason: `payment system: ${type}${data.reason ? ` (${data.reason})` : ""}` }),
      ];
      if (type === "succeeded") {
        // Asked again after a failure, then the first payment went through after all: the newer
        // request must not be paid too.
        writes.push(cancelOtherOpenRequestsStatement(participant.id, request.id, "closed: paid through another request", now));
        if (participant.paymentStatus !== "paid") {
          writes.push(participantPaidStatement(participant.id, request.amount, "payment_system", now));
          writes.push(change({ participantId: participant.id, entityType: "participant", previousStatus: participant.paymentStatus, newStatus: "paid", reason: `paid ${formatAmount(request.amount, request.currency)} ${request.currency} (payment ${data.paymentId})` }));
        }
        const afterThis = participants.map((p) => (p.id === participant.id ? { ...p, paymentStatus: "paid" } : p));
        const steps = completionSteps(bill.status);
        const completed = steps.length > 0 && everyoneSettled(afterThis);
        if (completed) {
          writes.push(billCompletedStatement(bill.id, now));
          for (const step of steps) writes.push(change({ entityType: "bill", ...step }));
        }
        const notices = this.notifications.paymentReceivedNotices({
          billId: bill.id,
          creatorUserId: bill.creatorUserId,
          merchantName: bill.merchantName,
          participantName: participant.name,
          amount: request.amount,
          currency: request.currency,
        });
        if (notices.length) writes.push(insertPendingStatement(notices));
        paid = { billId: bill.id, participantId: participant.id, completed, notices };
      } else {
        // The request is closed now; with no other open request the participant can be asked again.
        if (returnsToPending(participant.paymentStatus, otherOpenRequests)) {
          writes.push(participantStatusStatement(participant.id, "pending", now));
          writes.push(change({ participantId: participant.id, entityType: "participant", previousStatus: "requested", newStatus: "pending", reason: `payment ${type}; can be asked again` }));
        }
        failed = { billId: bill.id, participantId: participant.id };
      }
      writes.push(eventOutcomeStatement(event.id, "applied", null));
      const all = batch(writes);
      await tx.query(all.text, all.values);
      return { eventId: event.id, outcome: "applied" };
    });
    if (failed) this.events.publish(failed.billId, "payment.failed", { participantId: failed.participantId, type }, this.clock.now());
    if (paid) {
      const { billId, participantId, completed, notices } = paid;
      this.events.publish(billId, "payment.received", { participantId, method: "payment_system" }, this.clock.now());
      if (completed) this.events.publish(billId, "bill.status", { status: "completed" }, this.clock.now());
      await this.afterCommit(async () => {
        await this.notifications.deliver(notices);
        if (completed) await this.notifications.billCompleted(billId);
      });
    }
    return answer;
  }

  /** Notifications never fail the request that caused them: it is already committed. */
  private async afterCommit(work: () => Promise<void>): Promise<void> {
    await work().catch((err) => this.logger.error({ err }, "notifications after a payment failed"));
  }

  /** Marks overdue requests expired; their participants can be asked again. */
  async expireOverdue(): Promise<number> {
    const overdue = await this.db.paymentRequest.findMany({
      where: { status: { in: ["pending", "sent"] }, expiryDate: { lt: this.clock.now() } },
      select: { id: true, billId: true },
      take: 500,
    });
    let expired = 0;
    for (const { id, billId } of overdue) {
      await this.db.$transaction(async (tx) => {
        await this.bills.lock(tx, billId);
        const before = await tx.paymentRequest.findUniqueOrThrow({ where: { id }, select: { status: true } });
        const { count } = await tx.paymentRequest.updateMany({
          where: { id, status: { in: ["pending", "sent"] }, expiryDate: { lt: this.clock.now() } },
          data: { status: "expired", statusReason: "expired before it was paid" },
        });
        if (count === 0) return;
        expired += 1;
        const request = await tx.paymentRequest.findUniqueOrThrow({ where: { id }, include: { participant: true } });
        await recordStatusChange(tx, { billId, participantId: request.participantId, entityType: "payment_request", previousStatus: before.status, newStatus: "expired", changedBy: "system", reason: "expired before it was paid" });
        await this.reopenParticipant(tx, request.participant, "system", "payment request expired");
      });
    }
    return expired;
  }

  private async reopenParticipant(tx: Tx, participant: ParticipantRow, changedBy: ChangedBy, reason: string): Promise<void> {
    if (participant.paymentStatus !== "requested") return;
    if (!returnsToPending(participant.paymentStatus, (await openRequestsOf(tx, participant.id)).length)) return;
    await tx.participant.update({ where: { id: participant.id }, data: { paymentStatus: "pending" } });
    await recordStatusChange(tx, { billId: participant.billId, participantId: participant.id, entityType: "participant", previousStatus: "requested", newStatus: "pending", changedBy, reason: `${reason}; can be asked again` });
  }

  /** When the last participant has paid, the bill is completed in the same transaction. */
  private async completeIfAllPaid(tx: Tx, bill: BillRow, changedBy: ChangedBy): Promise<boolean> {
    const steps = completionSteps(bill.status);
    if (steps.length === 0 || !everyoneSettled(await listParticipants(tx, bill.id))) return false;
    await tx.bill.update({ where: { id: bill.id }, data: { status: "completed", completedAt: this.clock.now() } });
    for (const step of steps) await recordStatusChange(tx, { billId: bill.id, entityType: "bill", changedBy, ...step });
    return true;
  }

  present(r: PaymentRequestRow, participantName: string) {
    // The pay page and QR exist once the payment system has the request.
    const qrBase = r.payToken && r.paymentLink ? `${this.options.publicBaseUrl()}/pay/${r.payToken}` : null;
    return {
      id: r.id,
      participantId: r.participantId,
      participantName,
      amount: formatAmount(r.amount, r.currency),
      currency: r.currency,
      channel: r.channel,
      status: r.status,
      reference: r.reference,
      paymentId: r.paymentId,
      paymentLink: r.paymentLink,
      qrCode: r.qrCode,
      qrCodeSvgUrl: r.channel === "payment_link" && qrBase ? `${qrBase}/qr.svg` : null,
      qrCodePngUrl: r.channel === "payment_link" && qrBase ? `${qrBase}/qr.png` : null,
      expiryDate: r.expiryDate.toISOString(),
      retryCount: r.retryCount,
      createdAt: r.createdAt.toISOString(),
    };
  }
}

function owes(p: ParticipantRow): boolean {
  return !p.isCreator && p.paymentStatus !== "paid" && p.amountToPay !== null && !toDecimal(p.amountToPay).isZero();
}

/** Payment requests need a split that gives everyone an amount and adds up to the total. */
function assertSplitCoversTotal(bill: BillRow, participants: ParticipantRow[]): { total: Decimal; currency: string } {
  if (bill.totalAmount === null || bill.currency === null) {
    throw new Conflict("The bill has no total yet: set it or wait for the AI, then split it", "split_required");
  }
  if (!bill.splitMethod || bill.needsResplit || participants.length === 0 || participants.some((p) => p.amountToPay === null)) {
    throw new Conflict("Split the bill first: payment requests need a split that covers every participant", "split_required");
  }
  const total = toDecimal(bill.totalAmount);
  const assigned = participants.reduce((sum, p) => sum.plus(toDecimal(p.amountToPay!)), new Decimal(0));
  if (!assigned.equals(total)) {
    throw new Conflict(`The split covers ${formatAmount(assigned, bill.currency)} of ${formatAmount(total, bill.currency)} ${bill.currency}; split again`, "split_required");
  }
  return { total, currency: bill.currency };
}

function matches(request: { amount: DecimalLike; currency: string }, data: PaymentEventBody["data"]): boolean {
  try {
    return data.currency === request.currency && toDecimal(data.amount).equals(toDecimal(request.amount));
  } catch {
    return false;
  }
}

/** A short, unambiguous reference (no 0/O, 1/I) that fits the EMV reference field. */
function newReference(): string {
  const bytes = randomBytes(12);
  return `CB${Array.from(bytes, (b) => REFERENCE_ALPHABET[b % REFERENCE_ALPHABET.length]).join("")}`;
}
