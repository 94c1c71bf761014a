// Applying and previewing splits. The arithmetic is domain/split.ts; this loads the bill and its
// people, guards the rules that need the database (total known, nobody paid yet), and writes.
import Decimal from "decimal.js";
import type { Db, Tx } from "../../db/database";
import { assertEditable } from "../../domain/bill-status";
import { billNotFound, BusinessRule, Conflict, NotFound } from "../../domain/errors";
import { formatAmount, toDecimal } from "../../domain/money";
import { planSplit, type Allocation, type SplitMethod, type SplitRequest } from "../../domain/split";
import type { AuthUser } from "../../http/auth";
import type { BillRow, BillsRepository } from "../bills/bills.repository";
import { listParticipants, type ParticipantRow } from "../participants/participants.repository";
import type { CalculateInput } from "./split.schemas";
import { writeAllocations } from "./split.repository";


export class SplitService {
  constructor(
    private readonly db: Db,
    private readonly bills: BillsRepository,
  ) {}

  /** Applies a split: every participant's amount is stored, in one transaction. */
  async apply(user: AuthUser, billId: string, input: CalculateInput) {
    return this.db.$transaction(async (tx) => {
      const bill = await this.bills.lockOwned(tx, billId, user.id);
      if (!bill) throw billNotFound();
      assertEditable(bill.status);
      const participants = await listParticipants(tx, billId);
      assertNobodyPaid(participants);
      const { plan, total, currency } = computePlan(bill, participants, input);
      await writeAllocations(tx, billId, input.method, plan);
      return presentPlan(bill, currency, total, input.method, plan, participants, true);
    });
  }

  /** The plan the same input would produce; saves nothing. */
  async calculate(user: AuthUser, billId: string, input: CalculateInput) {
    const bill = await this.bills.findOwned(this.db, billId, user.id);
    if (!bill) throw billNotFound();
    const participants = await listParticipants(this.db, billId);
    const { plan, total, currency } = computePlan(bill, participants, input);
    return presentPlan(bill, currency, total, input.method, plan, participants, false);
  }
}

/**
 * Keeps the split true after the people or the total changed: an equal split is recomputed; any
 * other split no longer covers exactly the right people or amount, so the bill is marked as
 * needing a new one. When someone has already paid, an equal split cannot move either: the
 * caller chooses to refuse the change (a user's edit) or to flag the bill (an AI callback).
 */
export async function rebalanceSplit(tx: Tx, billId: string, whenPaid: "refuse" | "flag"): Promise<void> {
  const bill = await tx.bill.findUniqueOrThrow({ where: { id: billId } });
  if (!bill.splitMethod) return;
  const participants = await listParticipants(tx, billId);
  const someonePaid = participants.some((p) => p.paymentStatus === "paid" && !p.isCreator);
  const canRecompute = bill.splitMethod === "equal" && participants.length > 0 && bill.totalAmount !== null && bill.currency !== null;
  if (canRecompute && someonePaid && whenPaid === "refuse") assertNobodyPaid(participants);
  if (canRecompute && !someonePaid) {
    const plan = planSplit(
      { total: toDecimal(bill.totalAmount!), currency: bill.currency!, participantIds: participants.map((p) => p.id), seed: bill.id },
      { method: "equal" },
    );
    await writeAllocations(tx, billId, "equal", plan);
    return;
  }
  await tx.bill.update({ where: { id: billId }, data: { needsResplit: true } });
}

function assertNobodyPaid(participants: ParticipantRow[]): void {
  const paid = participants.filter((p) => p.paymentStatus === "paid" && !p.isCreator);
  if (paid.length > 0) {
    throw new Conflict(
      `${paid.map((p) => p.name).join(", ")} ${paid.length === 1 ? "has" : "have"} already paid; the split can no longer change`,
      "split_locked",
    );
  }
}

function computePlan(bill: BillRow, participants: ParticipantRow[], input: CalculateInput) {
  if (bill.totalAmount === null || bill.currency === null) {
    throw new Conflict(
      "The bill has no total yet: set totalAmount and currency (PUT /bills/{billId}) or wait for the AI to read the receipt",
      "bill_total_missing",
    );
  }
  const total = toDecimal(bill.totalAmount);
  const plan = planSplit(
    { total, currency: bill.currency, participantIds: participants.map((p) => p.id), seed: bill.id },
    toDomainRequest(bill, input),
  );
  return { plan, total, currency: bill.currency };
}

function toDomainRequest(bill: BillRow, input: CalculateInput): SplitRequest {
  if (input.method !== "itemized") return input as SplitRequest;
  const lineItems = Array.isArray(bill.lineItems) ? (bill.lineItems as { name?: string; amount?: string }[]) : [];
  return {
    method: "itemized",
    extras: input.extras,
    items: input.items.map((item, index) => {
      if (item.lineItem === undefined) return { name: item.name, amount: item.amount as string, participantIds: item.participantIds };
      const line = lineItems[item.lineItem];
      if (!line || typeof line.amount !== "string") {
        throw new BusinessRule(`items.${index}.lineItem: the bill has no line item ${item.lineItem}`, "unknown_line_item");
      }
      return { name: item.name ?? line.name, amount: line.amount, participantIds: item.participantIds };
    }),
  };
}

function presentPlan(
  bill: BillRow,
  currency: string,
  total: Decimal,
  method: SplitMethod,
  plan: Allocation[],
  participants: ParticipantRow[],
  saved: boolean,
) {
  const byId = new Map(plan.map((a) => [a.participantId, a]));
  return {
    billId: bill.id,
    method,
    currency,
    totalAmount: formatAmount(total, currency),
    saved,
    allocations: participants.map((p) => {
      const a = byId.get(p.id)!;
      return {
        participantId: p.id,
        name: p.name,
        amountToPay: formatAmount(a.amount, currency),
        percentage: a.percentage?.toFixed() ?? null,
        weight: a.weight?.toFixed() ?? null,
      };
    }),
  };
}
