// Queries for bills. No rules here: the service decides, this reads and writes. Prisma, except for
// reading one bill with its participants, the most frequent call, which is one plain SQL statement.
import type { Db, Tx } from "../../db/database";
import { calendarDate, jsonColumn, type Sql } from "../../db/sql";
import type { BillStatus, ParticipantPaymentStatus, Prisma, SplitMethod } from "../../generated/prisma/client";
import type { KeysetCursor } from "../../http/cursor";
import type { Person } from "../../ledger/model";

export type BillRow = Prisma.BillGetPayload<object>;

/** A participant as reading a bill returns them: amounts as exact decimal strings. */
export interface VisibleParticipant extends Person {
  amountToPay: string | null;
  percentage: string | null;
  shareWeight: string | null;
  paymentStatus: ParticipantPaymentStatus;
  paidAt: Date | null;
  paymentMethod: string | null;
  /** The ledger's amounts (docs/money.md). */
  paidAmount: string;
  outstandingAmount: string;
  refundDue: string;
  /** A removed participant (a tombstone): in reports, not in the bill's list of people. */
  removedAt: Date | null;
}

/** A bill with its participants (in the order they were added), as reading a bill returns it. */
export interface VisibleBill {
  id: string;
  creatorUserId: string;
  status: BillStatus;
  totalAmount: string | null;
  currency: string | null;
  merchantName: string | null;
  billDate: Date | null;
  note: string | null;
  splitMethod: SplitMethod | null;
  needsResplit: boolean;
  aiProcessed: boolean;
  billImageJobId: string | null;
  groupImageJobId: string | null;
  createdAt: Date;
  updatedAt: Date;
  completedAt: Date | null;
  cancelledAt: Date | null;
  /** The people on the bill, in the order they were added. */
  participants: VisibleParticipant[];
  /** Everyone the bill has had, removed participants' tombstones included, in that order: reports use it. */
  everyone: VisibleParticipant[];
}

/** A participant as the statement below sends them, in JSON: the payment time as text. */
type VisibleParticipantJson = Omit<VisibleParticipant, "paidAt" | "removedAt"> & { paidAt: string | null; removedAt: string | null };

// The participants come back as one JSON array, so the bill is one statement and one round trip.
// Exported for the benchmark's raw-pg baseline, which must run exactly this SQL.
export const VISIBLE_BILL_SQL = `
  SELECT b.id, b.creator_id, b.status::text AS status, b.total_amount::text AS total_amount, b.currency,
         b.merchant_name, b.bill_date::text AS bill_date, b.note, b.split_method::text AS split_method, b.needs_resplit,
         b.ai_processed, b.bill_image_job_id, b.group_image_job_id, b.created_at, b.updated_at, b.completed_at, b.cancelled_at,
         COALESCE((
           SELECT json_agg(json_build_object(
                    'id', p.id, 'name', p.name, 'userId', p.user_id, 'phone', p.phone, 'email', p.email,
                    'isBankCustomer', p.is_cake_user, 'isCreator', p.is_creator, 'amountToPay', p.amount_to_pay::text,
                    'percentage', p.percentage::text, 'shareWeight', p.share_weight::text, 'paymentStatus', p.payment_status,
                    'paidAt', p.paid_at, 'paymentMethod', p.payment_method, 'paidAmount', p.paid_amount::text,
                    'outstandingAmount', p.outstanding_amount::text, 'refundDue', p.refund_due::text, 'removedAt', p.removed_at)
                  ORDER BY p.created_at, p.id)
             FROM participants p WHERE p.bill_id = b.id), '[]') AS participants
    FROM bills b
   WHERE b.id = $1::uuid
     AND (b.creator_id = $2 OR EXISTS (SELECT 1 FROM participants v WHERE v.bill_id = b.id AND v.user_id = $2 AND v.removed_at IS NULL))`;

interface VisibleBillRow {
  id: string;
  creator_id: string;
  status: BillStatus;
  total_amount: string | null;
  currency: string | null;
  merchant_name: string | null;
  bill_date: string | null;
  note: string | null;
  split_method: SplitMethod | null;
  needs_resplit: boolean;
  ai_processed: boolean;
  bill_image_job_id: string | null;
  group_image_job_id: string | null;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
  cancelled_at: Date | null;
  participants: VisibleParticipantJson[] | string;
}

export type BillCursor = KeysetCursor;

export class BillsRepository {
  constructor(
    private readonly db: Db,
    private readonly sql: Sql,
  ) {}

  /** The Prisma client, for reads outside a transaction. */
  get client(): Db {
    return this.db;
  }

  /**
   * A new bill's first row, total included. Not a ledger command: with no participants, shares or
   * requests yet there is no money state to keep consistent; every change after this one (the
   * total too) goes through the ledger.
   */
  create(tx: Tx, data: Prisma.BillUncheckedCreateInput): Promise<BillRow> {
    return tx.bill.create({ data });
  }

  /** The bill if the user created it; undefined otherwise (callers answer 404, never 403). */
  async findOwned(client: Db | Tx, billId: string, userId: string): Promise<BillRow | undefined> {
    return (await client.bill.findFirst({ where: { id: billId, creatorUserId: userId } })) ?? undefined;
  }

  /**
   * Row-locks the user's bill for the rest of a Prisma transaction (another user's bill is not
   * touched). Uploads use it; money changes lock through the ledger (src/ledger/store.ts lockBill).
   */
  async lockOwned(tx: Tx, billId: string, userId: string): Promise<BillRow | undefined> {
    const rows = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM bills WHERE id = ${billId}::uuid AND creator_id = ${userId} FOR UPDATE`;
    if (rows.length === 0) return undefined;
    return (await tx.bill.findUnique({ where: { id: billId } })) ?? undefined;
  }

  /** The bill with its participants, if the user created it or is a participant of it. */
  async findVisible(billId: string, userId: string): Promise<VisibleBill | undefined> {
    const [row] = await this.sql.query<VisibleBillRow>(VISIBLE_BILL_SQL, [billId, userId]);
    if (!row) return undefined;
    const everyone = jsonColumn(row.participants).map((p) => ({
      ...p,
      paidAt: p.paidAt === null ? null : new Date(p.paidAt),
      removedAt: p.removedAt === null ? null : new Date(p.removedAt),
    }));
    return {
      id: row.id,
      creatorUserId: row.creator_id,
      status: row.status,
      totalAmount: row.total_amount,
      currency: row.currency,
      merchantName: row.merchant_name,
      // A calendar date: read as text, so the server's or the driver's time zone cannot shift it.
      billDate: calendarDate(row.bill_date),
      note: row.note,
      splitMethod: row.split_method,
      needsResplit: row.needs_resplit,
      aiProcessed: row.ai_processed,
      billImageJobId: row.bill_image_job_id,
      groupImageJobId: row.group_image_job_id,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      completedAt: row.completed_at,
      cancelledAt: row.cancelled_at,
      participants: everyone.filter((p) => p.removedAt === null),
      everyone,
    };
  }

  /** One page of the user's bills, newest first, keyset-paginated on (created_at, id). */
  listOwned(userId: string, options: { statuses?: BillStatus[]; after?: BillCursor; take: number }): Promise<BillRow[]> {
    const where: Prisma.BillWhereInput = { creatorUserId: userId };
    if (options.statuses?.length) where.status = { in: options.statuses };
    if (options.after) {
      // The upper bound lets the index start at the cursor instead of filtering from the newest row.
      where.createdAt = { lte: options.after.createdAt };
      where.OR = [{ createdAt: { lt: options.after.createdAt } }, { createdAt: options.after.createdAt, id: { lt: options.after.id } }];
    }
    return this.db.bill.findMany({ where, orderBy: [{ createdAt: "desc" }, { id: "desc" }], take: options.take });
  }
}
