// Writes a split: every participant's amount (and percentage or weight) in one statement.
import type Decimal from "decimal.js";
import type { Tx } from "../../db/database";
import type { SplitMethod } from "../../domain/split";

export interface StoredAllocation {
  participantId: string;
  amount: Decimal | null;
  percentage?: Decimal | null;
  weight?: Decimal | null;
}

export async function writeAllocations(tx: Tx, billId: string, method: SplitMethod | null, allocations: StoredAllocation[]): Promise<void> {
  if (allocations.length > 0) {
    const ids = allocations.map((a) => a.participantId);
    const amounts = allocations.map((a) => a.amount?.toFixed() ?? null);
    const percentages = allocations.map((a) => a.percentage?.toFixed() ?? null);
    const weights = allocations.map((a) => a.weight?.toFixed() ?? null);
    await tx.$executeRaw`
      UPDATE participants AS p
         SET amount_to_pay = v.amount, percentage = v.percentage, share_weight = v.weight, updated_at = now()
        FROM unnest(${ids}::uuid[], ${amounts}::numeric[], ${percentages}::numeric[], ${weights}::numeric[])
             AS v(id, amount, percentage, weight)
       WHERE p.id = v.id AND p.bill_id = ${billId}::uuid`;
  }
  await tx.bill.update({ where: { id: billId }, data: { splitMethod: method, needsResplit: false } });
}
