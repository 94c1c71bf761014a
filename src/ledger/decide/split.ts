// Splitting the bill: the plan a request asks for (preview or apply), and applying it. A new split
// is always allowed until the bill is closed: money already paid stays, and settle() turns a share
// that fell below it into refund due (docs/money.md).
import { assertEditable } from "../../domain/bill-status";
import { BusinessRule, Conflict } from "../../domain/errors";
import { planSplit, type Allocation, type SplitRequest } from "../../domain/split";
import type { ItemizedByLine, LedgerBill, LedgerCommand, SplitInput } from "../model";

export type { ItemizedByLine, SplitInput };
import type { Draft } from "./draft";

/** The split a request asks for, against the bill's people and line items (preview or apply). */
export function planFor(bill: LedgerBill, participantIds: readonly string[], request: SplitInput | SplitRequest): Allocation[] {
  if (bill.total === null || bill.currency === null) {
    throw new Conflict(
      "The bill has no total yet: set totalAmount and currency (PUT /bills/{billId}) or wait for the AI to read the receipt",
      "bill_total_missing",
    );
  }
  return planSplit({ total: bill.total, currency: bill.currency, participantIds, seed: bill.id }, resolveLineItems(bill, request));
}

function resolveLineItems(bill: LedgerBill, request: SplitInput | SplitRequest): SplitRequest {
  if (request.method !== "itemized") return request;
  const lineItems = Array.isArray(bill.lineItems) ? (bill.lineItems as { name?: string; amount?: string }[]) : [];
  return {
    method: "itemized",
    extras: request.extras,
    items: request.items.map((item, index) => {
      const byLine = item as ItemizedByLine["items"][number];
      if (byLine.lineItem === undefined) return { name: item.name, amount: item.amount as string, participantIds: item.participantIds };
      const line = lineItems[byLine.lineItem];
      if (!line || typeof line.amount !== "string") {
        throw new BusinessRule(`items.${index}.lineItem: the bill has no line item ${byLine.lineItem}`, "unknown_line_item");
      }
      return { name: item.name ?? line.name, amount: line.amount, participantIds: item.participantIds };
    }),
  };
}

export function split(d: Draft, command: Extract<LedgerCommand, { kind: "split" }>): Allocation[] {
  assertEditable(d.bill.status);
  const plan = planFor(
    d.bill,
    d.present.map((p) => p.id),
    command.request,
  );
  d.applyPlan(plan);
  d.bill.splitMethod = command.request.method;
  d.settle();
  return plan;
}
