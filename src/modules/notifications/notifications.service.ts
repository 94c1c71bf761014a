// Notifications: who hears about what, on which channel, with a Notifications row per send.
// Bank customers are told in the app; everyone else by SMS (phone) and email (email). A failed
// channel is recorded and never fails the request or the other channels. Called after the
// transaction that caused it has committed.
import type { Logger } from "pino";
import { v7 as uuidv7 } from "uuid";
import type { ChannelName, Channels } from "../../adapters/notify/channels";
import type { Clock } from "../../clock";
import type { Db } from "../../db/database";
import { formatAmount } from "../../domain/money";

export type NotificationType = "payment_request" | "reminder" | "payment_received" | "bill_completed" | "bill_cancelled";

interface Recipient {
  participantId: string | null;
  userId: string | null;
  name: string;
  phone: string | null;
  email: string | null;
  isBankCustomer: boolean;
}

export class NotificationsService {
  constructor(
    private readonly db: Db,
    private readonly channels: Channels,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /** Asks each participant with a new request to pay: their amount and how to pay. */
  async paymentRequested(requestIds: string[]): Promise<void> {
    if (requestIds.length === 0) return;
    const requests = await this.db.paymentRequest.findMany({ where: { id: { in: requestIds } }, include: { participant: true, bill: true } });
    for (const r of requests) {
      const amount = `${formatAmount(r.amount, r.currency)} ${r.currency}`;
      const how = r.channel === "in_app" ? "Open your banking app to pay." : `Pay here: ${r.paymentLink ?? "(link pending)"}`;
      await this.send(r.billId, "payment_request", asRecipient(r.participant), `${merchant(r.bill)}: your share is ${amount}. ${how}`);
    }
  }

  /** Tells the creator that someone paid. */
  async paymentReceived(billId: string, participantId: string): Promise<void> {
    const bill = await this.db.bill.findUnique({ where: { id: billId } });
    const p = await this.db.participant.findUnique({ where: { id: participantId } });
    if (!bill || !p || p.amountToPay === null || !bill.currency) return;
    await this.send(billId, "payment_received", creator(bill.creatorUserId), `${merchant(bill)}: ${p.name} paid ${formatAmount(p.amountToPay, bill.currency)} ${bill.currency}.`);
  }

  /** Tells the creator and every participant that the bill is settled. */
  async billCompleted(billId: string): Promise<void> {
    const bill = await this.db.bill.findUnique({ where: { id: billId }, include: { participants: true } });
    if (!bill) return;
    const text = `${merchant(bill)}: everyone has paid. The bill is settled.`;
    await this.send(billId, "bill_completed", creator(bill.creatorUserId), text);
    for (const p of bill.participants.filter((x) => !x.isCreator)) await this.send(billId, "bill_completed", asRecipient(p), text);
  }

  private async send(billId: string, type: NotificationType, who: Recipient, text: string): Promise<void> {
    const targets: { channel: ChannelName; to: string }[] = who.isBankCustomer
      ? [{ channel: "in_app", to: who.userId ?? who.name }]
      : [...(who.phone ? [{ channel: "sms" as const, to: who.phone }] : []), ...(who.email ? [{ channel: "email" as const, to: who.email }] : [])];
    if (targets.length === 0) {
      this.logger.info({ billId, type, name: who.name }, "no way to reach this person; nothing sent");
      return;
    }
    for (const { channel, to } of targets) {
      const id = uuidv7();
      await this.db.notification.create({
        data: { id, billId, participantId: who.participantId, recipientUserId: who.userId, type, channel, recipient: to, message: text, status: "pending" },
      });
      try {
        await this.channels[channel].send({ to, subject: "ChillBill", text });
        await this.db.notification.update({ where: { id }, data: { status: "sent", attempts: 1, sentAt: this.clock.now() } });
      } catch (err) {
        this.logger.warn({ err, billId, channel }, "notification failed");
        await this.db.notification.update({ where: { id }, data: { status: "failed", attempts: 1, error: (err as Error).message.slice(0, 500) } });
      }
    }
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
