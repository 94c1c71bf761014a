// Prisma queries for bills. No rules here: the service decides, this reads and writes.
import type { Db, Tx } from "../../db/database";
import type { BillStatus, Prisma } from "../../generated/prisma/client";

export const billWithParticipants = {
  participants: { orderBy: [{ createdAt: "asc" }, { id: "asc" }] },
} satisfies Prisma.BillInclude;

export type BillRow = Prisma.BillGetPayload<object>;
export type BillWithParticipants = Prisma.BillGetPayload<{ include: typeof billWithParticipants }>;

export interface BillCursor {
  createdAt: Date;
  id: string;
}

export class BillsRepository {
  constructor(private readonly db: Db) {}

  create(tx: Tx, data: Prisma.BillUncheckedCreateInput): Promise<BillRow> {
    return tx.bill.create({ data });
  }

  /** The bill if the user created it; undefined otherwise (callers answer 404, never 403). */
  async findOwned(client: Db | Tx, billId: string, userId: string): Promise<BillRow | undefined> {
    return (await client.bill.findFirst({ where: { id: billId, creatorUserId: userId } })) ?? undefined;
  }

  /** Row-locks the user's bill for the rest of the transaction (another user's bill is not touched). */
  lockOwned(tx: Tx, billId: string, userId: string): Promise<BillRow | undefined> {
    return this.lockWhere(tx, billId, userId);
  }

  /**
   * Row-locks a bill whoever owns it (callbacks, webhooks, sweeps). Every change to a bill's
   * payments or AI results takes this lock first, so they run one at a time per bill.
   */
  lock(tx: Tx, billId: string): Promise<BillRow | undefined> {
    return this.lockWhere(tx, billId);
  }

  private async lockWhere(tx: Tx, billId: string, userId?: string): Promise<BillRow | undefined> {
    const rows = userId
      ? await tx.$queryRaw<{ id: string }[]>`SELECT id FROM bills WHERE id = ${billId}::uuid AND creator_user_id = ${userId} FOR UPDATE`
      : await tx.$queryRaw<{ id: string }[]>`SELECT id FROM bills WHERE id = ${billId}::uuid FOR UPDATE`;
    if (rows.length === 0) return undefined;
    return (await tx.bill.findUnique({ where: { id: billId } })) ?? undefined;
  }

  /** The bill with its participants, if the user created it or is a participant of it. */
  async findVisible(billId: string, userId: string): Promise<BillWithParticipants | undefined> {
    return (
      (await this.db.bill.findFirst({
        where: { id: billId, OR: [{ creatorUserId: userId }, { participants: { some: { userId } } }] },
        include: billWithParticipants,
      })) ?? undefined
    );
  }

  /** One page of the user's bills, newest first, keyset-paginated on (created_at, id). */
  listOwned(userId: string, options: { statuses?: BillStatus[]; after?: BillCursor; take: number }): Promise<BillRow[]> {
    const where: Prisma.BillWhereInput = { creatorUserId: userId };
    if (options.statuses?.length) where.status = { in: options.statuses };
    if (options.after) {
      // The upper bound lets the index start at the cursor instead of filtering from the newest row.
      where.createdAt = { lte: options.after.createdAt };
      where.OR = [
        { createdAt: { lt: options.after.createdAt } },
        { createdAt: options.after.createdAt, id: { lt: options.after.id } },
      ];
    }
    return this.db.bill.findMany({ where, orderBy: [{ createdAt: "desc" }, { id: "desc" }], take: options.take });
  }

  update(tx: Tx, billId: string, data: Prisma.BillUncheckedUpdateInput): Promise<BillRow> {
    return tx.bill.update({ where: { id: billId }, data });
  }

  /** Cancels the payment requests still open on a bill; returns how many. */
  async cancelOpenPaymentRequests(tx: Tx, billId: string): Promise<number> {
    const { count } = await tx.paymentRequest.updateMany({
      where: { billId, status: { in: ["pending", "sent"] } },
      data: { status: "cancelled" },
    });
    return count;
  }
}
