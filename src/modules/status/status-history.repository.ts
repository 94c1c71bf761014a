// Writes the bill's first StatusHistory row when it is created. Every later transition is written
// by the ledger (src/ledger/store.ts), in the transaction that makes it.
import { v7 as uuidv7 } from "uuid";
import type { Tx } from "../../db/database";

export type ChangedBy = string; // a user id, or "webhook" / "system"

export interface StatusChange {
  billId: string;
  participantId?: string | null;
  entityType: "bill" | "participant" | "payment_request";
  previousStatus: string | null;
  newStatus: string;
  changedBy: ChangedBy;
  reason?: string;
  reasonCode?: string;
}

export async function recordStatusChange(tx: Tx, change: StatusChange, at?: Date): Promise<void> {
  await tx.statusHistory.create({
    data: {
      id: uuidv7(),
      billId: change.billId,
      participantId: change.participantId ?? null,
      entityType: change.entityType,
      previousStatus: change.previousStatus,
      newStatus: change.newStatus,
      changedBy: change.changedBy,
      reason: change.reason?.slice(0, 500),
      reasonCode: change.reasonCode ?? null,
      ...(at ? { createdAt: at } : {}),
    },
  });
}
