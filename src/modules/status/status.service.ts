// Where a bill stands: its status, the images' processing, each participant's payment and the
// exact totals (removed participants included, marked, so the totals are the sum of the rows); its history; the caller's summary across bills; and a CSV export of one bill.
import Decimal from "decimal.js";
import type { Db } from "../../db/database";
import { billNotFound } from "../../domain/errors";
import { formatAmount, toDecimal } from "../../domain/money";
import type { AuthUser } from "../../http/auth";
import type { BillsRepository } from "../bills";
import { totalsOf } from "../../ledger/report";

export class StatusService {
  constructor(
    private readonly db: Db,
    private readonly bills: BillsRepository,
  ) {}

  async status(user: AuthUser, billId: string) {
    const bill = await this.bills.findVisible(billId, user.id);
    if (!bill) throw billNotFound();
    const jobIds = [bill.billImageJobId, bill.groupImageJobId].filter((id): id is string => Boolean(id));
    const jobs = jobIds.length ? await this.db.imageJob.findMany({ where: { id: { in: jobIds } }, select: { id: true, state: true } }) : [];
    const state = (id: string | null) => jobs.find((j) => j.id === id)?.state ?? "none";
    const currency = bill.currency;
    const money = (v: Decimal) => (currency ? formatAmount(v, currency) : v.toString());
    const t = totalsOf(bill.everyone);
    return {
      billId: bill.id,
      status: bill.status,
      currency,
      totalAmount: bill.totalAmount === null ? null : money(toDecimal(bill.totalAmount)),
      splitMethod: bill.splitMethod,
      needsResplit: bill.needsResplit,
      images: { billImage: state(bill.billImageJobId), groupImage: state(bill.groupImageJobId), aiProcessed: bill.aiProcessed },
      participants: bill.everyone.map((p) => ({
        id: p.id,
        name: p.name,
        isCreator: p.isCreator,
        paymentStatus: p.paymentStatus,
        amountToPay: p.amountToPay === null ? null : money(toDecimal(p.amountToPay)),
        paidAmount: money(toDecimal(p.paidAmount)),
        outstandingAmount: money(toDecimal(p.outstandingAmount)),
        refundDue: money(toDecimal(p.refundDue)),
        paidAt: p.paidAt?.toISOString() ?? null,
        removedAt: p.removedAt?.toISOString() ?? null,
      })),
      totals: {
        // Settled: money applied plus the creator's own share (settled by definition); with
        // unpaidAmount (= outstanding) it makes up the total of a split bill.
        paidAmount: money(t.applied.plus(t.creatorShare)),
        unpaidAmount: money(t.outstanding),
        creatorShareAmount: money(t.creatorShare),
        receivedAmount: money(t.received),
        appliedAmount: money(t.applied),
        outstandingAmount: money(t.outstanding),
        refundDueAmount: money(t.refundDue),
        paidCount: t.paidCount,
        unpaidCount: t.unpaidCount,
      },
      completedAt: bill.completedAt?.toISOString() ?? null,
    };
  }

  async history(user: AuthUser, billId: string) {
    const bill = await this.bills.findVisible(billId, user.id);
    if (!bill) throw billNotFound();
    const rows = await this.db.statusHistory.findMany({
      where: { billId },
      orderBy: [{ createdAt: "asc" }, { id: "asc" }],
      include: { participant: { select: { name: true } } },
    });
    return {
      billId,
      items: rows.map((h) => ({
        at: h.createdAt.toISOString(),
        entity: h.entityType,
        participantId: h.participantId,
        participantName: h.participantName ?? h.participant?.name ?? null,
        previousStatus: h.previousStatus,
        newStatus: h.newStatus,
        changedBy: h.changedBy,
        reason: h.reason,
        reasonCode: h.reasonCode,
      })),
    };
  }

  /** Across the caller's bills (not cancelled), by currency: what others owe them, collected, outstanding. */
  async summary(user: AuthUser, range: { from?: string; to?: string }) {
    const from = range.from ? new Date(`${range.from}T00:00:00Z`) : new Date("1970-01-01T00:00:00Z");
    const to = range.to ? nextDay(range.to) : new Date("9999-12-31T00:00:00Z");
    // One aggregate in the database: the creator's own share is not owed to them.
    const rows = await this.db.$queryRaw<
      {
        currency: string;
        bill_count: bigint;
        total: unknown;
        owed: unknown;
        collected: unknown;
        outstanding: unknown;
        received: unknown;
        refund_due: unknown;
      }[]
    >`
      SELECT b.currency,
             count(*) FILTER (WHERE b.status <> 'cancelled') AS bill_count,
             coalesce(sum(b.total_amount) FILTER (WHERE b.status <> 'cancelled'), 0) AS total,
             coalesce(sum(p.owed) FILTER (WHERE b.status <> 'cancelled'), 0) AS owed,
             coalesce(sum(p.applied) FILTER (WHERE b.status <> 'cancelled'), 0) AS collected,
             coalesce(sum(p.outstanding) FILTER (WHERE b.status <> 'cancelled'), 0) AS outstanding,
             coalesce(sum(p.received), 0) AS received,
             coalesce(sum(p.refund_due), 0) AS refund_due
        FROM bills b
        LEFT JOIN LATERAL (
          SELECT sum(amount_to_pay) AS owed,
                 sum(paid_amount - refund_due) AS applied,
                 sum(outstanding_amount) AS outstanding,
                 sum(paid_amount) AS received,
                 sum(refund_due) AS refund_due
            FROM participants
           WHERE bill_id = b.id AND NOT is_creator
        ) p ON true
       WHERE b.creator_id = ${user.id}
         AND b.currency IS NOT NULL
         AND b.created_at >= ${from} AND b.created_at < ${to}
       GROUP BY b.currency
      HAVING count(*) FILTER (WHERE b.status <> 'cancelled') > 0 OR coalesce(sum(p.refund_due), 0) > 0
       ORDER BY b.currency`;
    const dec = (v: unknown) => toDecimal(String(v ?? 0));
    return {
      from: range.from ?? null,
      to: range.to ?? null,
      currencies: rows.map((r) => ({
        currency: r.currency,
        billCount: Number(r.bill_count),
        totalAmount: formatAmount(dec(r.total), r.currency),
        owedToYou: formatAmount(dec(r.owed), r.currency),
        collected: formatAmount(dec(r.collected), r.currency),
        outstanding: formatAmount(dec(r.outstanding), r.currency),
        received: formatAmount(dec(r.received), r.currency),
        refundDue: formatAmount(dec(r.refund_due), r.currency),
      })),
    };
  }

  /** One bill as CSV: participants, amounts, status, paid at. */
  async exportCsv(user: AuthUser, billId: string): Promise<string> {
    const bill = await this.bills.findVisible(billId, user.id);
    if (!bill) throw billNotFound();
    const header = [
      "participant",
      "phone",
      "email",
      "bank_customer",
      "amount_to_pay",
      "currency",
      "payment_status",
      "paid_at",
      "payment_method",
      "paid_amount",
      "outstanding",
      "refund_due",
      "removed_at",
    ];
    const amount = (v: string) => (bill.currency ? formatAmount(v, bill.currency) : toDecimal(v).toString());
    const lines = bill.everyone.map((p) => [
      p.name,
      p.phone ?? "",
      p.email ?? "",
      p.isBankCustomer ? "yes" : "no",
      p.amountToPay === null ? "" : bill.currency ? formatAmount(p.amountToPay, bill.currency) : toDecimal(p.amountToPay).toString(),
      bill.currency ?? "",
      p.paymentStatus,
      p.paidAt?.toISOString() ?? "",
      p.paymentMethod ?? "",
      amount(p.paidAmount),
      amount(p.outstandingAmount),
      amount(p.refundDue),
      p.removedAt?.toISOString() ?? "",
    ]);
    return [header, ...lines].map((row) => row.map(csvCell).join(",")).join("\r\n") + "\r\n";
  }
}

/** RFC 4180 quoting, and no spreadsheet formulas: a cell starting with = + - @ is prefixed with '. */
export function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function nextDay(date: string): Date {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d;
}
