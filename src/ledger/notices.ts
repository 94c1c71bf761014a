// Who hears about what a ledger command did, in which words, on which channel: planned purely from
// the decision, and written as outbox rows in the ledger's own transaction (docs/money.md). Bank
// customers are told in the app; everyone else by SMS (phone) and email (email).
import { formatAmount, toDecimal, type DecimalLike } from "../domain/money";
import type { Person } from "./model";
import type { NoticeChannel, NotificationType, PlannedNotification } from "./ports";

export interface Recipient {
  participantId: string | null;
  userId: string | null;
  name: string;
  phone: string | null;
  email: string | null;
  isBankCustomer: boolean;
}

/** What a notice needs of a bill. */
export interface NoticeBill {
  id: string;
  creatorUserId: string;
  merchantName: string | null;
  currency: string | null;
}

/** Ids and time come from the caller, so planning stays pure. */
export interface NoticeContext {
  newId(): string;
  now: Date;
}

/** One row per channel that reaches the person: the app for bank customers, else SMS and email. */
export function planNotice(ctx: NoticeContext, billId: string, type: NotificationType, who: Recipient, text: string): PlannedNotification[] {
  const targets: { channel: NoticeChannel; to: string }[] = who.isBankCustomer
    ? [{ channel: "in_app", to: who.userId ?? who.name }]
    : [...(who.phone ? [{ channel: "sms" as const, to: who.phone }] : []), ...(who.email ? [{ channel: "email" as const, to: who.email }] : [])];
  return targets.map(({ channel, to }) => ({
    id: ctx.newId(),
    billId,
    participantId: who.participantId,
    recipientUserId: who.userId,
    type,
    channel,
    recipient: to,
    message: text,
    createdAt: ctx.now,
  }));
}

export function merchant(bill: { merchantName: string | null }): string {
  return bill.merchantName ?? "Your bill";
}

export function asRecipient(p: {
  id: string;
  userId: string | null;
  name: string;
  phone: string | null;
  email: string | null;
  isBankCustomer: boolean;
}): Recipient {
  return { participantId: p.id, userId: p.userId, name: p.name, phone: p.phone, email: p.email, isBankCustomer: p.isBankCustomer };
}

export function creator(userId: string): Recipient {
  return { participantId: null, userId, name: "creator", phone: null, email: null, isBankCustomer: true };
}

/** A payment request at the payment system, with what telling its participant needs. */
export interface RequestNotice {
  billId: string;
  merchantName: string | null;
  amount: DecimalLike;
  currency: string;
  channel: "in_app" | "payment_link";
  paymentLink: string | null;
  participant: Omit<Person, "isCreator">;
}

/** The rows that ask a participant with a new request to pay: their amount and how to pay (none: unreachable). */
export function paymentRequestNotices(ctx: NoticeContext, r: RequestNotice): PlannedNotification[] {
  const amount = `${formatAmount(r.amount, r.currency)} ${r.currency}`;
  const how = r.channel === "in_app" ? "Open your banking app to pay." : `Pay here: ${r.paymentLink ?? "(link pending)"}`;
  return planNotice(ctx, r.billId, "payment_request", asRecipient(r.participant), `${merchant(r)}: your share is ${amount}. ${how}`);
}

/** The rows that tell the creator someone paid. */
export function paymentReceivedNotices(
  ctx: NoticeContext,
  info: { billId: string; creatorUserId: string; merchantName: string | null; participantName: string; amount: DecimalLike; currency: string },
): PlannedNotification[] {
  const text = `${merchant(info)}: ${info.participantName} paid ${formatAmount(info.amount, info.currency)} ${info.currency}.`;
  return planNotice(ctx, info.billId, "payment_received", creator(info.creatorUserId), text);
}

/** The rows that tell the creator and every participant that the bill is settled. */
export function billCompletedNotices(ctx: NoticeContext, bill: NoticeBill, participants: readonly Person[]): PlannedNotification[] {
  const text = `${merchant(bill)}: everyone has paid. The bill is settled.`;
  return [
    ...planNotice(ctx, bill.id, "bill_completed", creator(bill.creatorUserId), text),
    ...participants.filter((p) => !p.isCreator).flatMap((p) => planNotice(ctx, bill.id, "bill_completed", asRecipient(p), text)),
  ];
}

/** The rows that tell every participant the bill was cancelled, and whoever paid what is owed back. */
export function billCancelledNotices(
  ctx: NoticeContext,
  bill: NoticeBill,
  participants: readonly (Person & { refundDue: DecimalLike })[],
): PlannedNotification[] {
  return participants
    .filter((p) => !p.isCreator)
    .flatMap((p) => {
      const refund =
        bill.currency && !toDecimal(p.refundDue).isZero() ? ` ${formatAmount(p.refundDue, bill.currency)} ${bill.currency} you paid is owed back to you.` : "";
      return planNotice(ctx, bill.id, "bill_cancelled", asRecipient(p), `${merchant(bill)}: the bill was cancelled. You owe nothing for it.${refund}`);
    });
}
