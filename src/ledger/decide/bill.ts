// Commands on the bill itself: its details and total, and cancelling it (docs/money.md).
import Decimal from "decimal.js";
import { assertEditable, assertTransition } from "../../domain/bill-status";
import { Conflict } from "../../domain/errors";
import type { LedgerCommand } from "../model";
import { eq, type Draft } from "./draft";

/**
 * New details or a new total. Any change is allowed until the bill is completed or cancelled: a new
 * total recomputes an equal split or asks for a new one, and money already paid stays (a share
 * that falls below it becomes refund due). Only the currency is fixed, once requests went out or money arrived in it.
 */
export function updateBill(d: Draft, command: Extract<LedgerCommand, { kind: "update_bill" }>): undefined {
  const { bill } = d;
  assertEditable(bill.status);
  const { details } = command;
  const total = details.totalAmount === undefined ? bill.total : details.totalAmount === null ? null : new Decimal(details.totalAmount);
  const currency = details.currency === undefined ? bill.currency : details.currency;
  let moneyChanged = !eq(total, bill.total) || currency !== bill.currency;
  if (moneyChanged && command.from === "ai" && bill.status !== "created") {
    // The AI's reading arrived after payment requests went out: the amounts the user asked for stay.
    moneyChanged = false;
  } else if (moneyChanged) {
    // Requests and payments are in the bill's currency: once any exists, it is fixed (an amount in
    // one currency must never count 1:1 in another).
    if (currency !== bill.currency && bill.currency !== null && (bill.status !== "created" || d.participants.some((p) => p.paid.gt(0)))) {
      throw new Conflict(`Payment requests or payments in ${bill.currency} exist; the currency can no longer change`, "currency_locked", {
        currentStatus: bill.status,
      });
    }
    if (bill.status !== "created" && total === null) {
      throw new Conflict("Payment requests have been sent: the bill needs a total", "bill_total_required", { currentStatus: bill.status });
    }
    bill.total = total;
    bill.currency = currency;
  }
  if (details.merchantName !== undefined) bill.merchantName = details.merchantName;
  if (details.billDate !== undefined) bill.billDate = details.billDate;
  if (details.note !== undefined) bill.note = details.note;
  if (details.userSetFields !== undefined) bill.userSetFields = details.userSetFields;
  if (moneyChanged) d.rebalance();
  d.settle();
  return undefined;
}

export function cancelBill(d: Draft, command: Extract<LedgerCommand, { kind: "cancel_bill" }>): undefined {
  const { bill } = d;
  assertTransition(bill.status, "cancelled");
  d.setBillStatus("cancelled", "cancelled_by_creator", command.reason ? `cancelled by the creator: ${command.reason}` : "cancelled by the creator");
  bill.cancelledAt = d.ctx.now;
  d.effects.cancelled = true;
  d.settle({ reopened: "the bill was cancelled", reopenedCode: "bill_cancelled" });
  return undefined;
}
