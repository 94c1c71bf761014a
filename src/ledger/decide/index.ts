// The money rules, in one place (docs/money.md): decide(state, command) -> changes. Pure: no
// framework, no database, no clock of its own. One file per command family; every command ends
// with settle() (draft.ts), which makes the invariants true again.
import type { Allocation } from "../../domain/split";
import type { Decision, LedgerCommand, LedgerState } from "../model";
import { cancelBill, updateBill } from "./bill";
import { Draft, type DecideContext } from "./draft";
import { applyPaymentEvent, markPaid, type PaymentOutcome } from "./payments";
import { addParticipants, removeParticipant, updateParticipant } from "./people";
import { expire, handedOver, requestPayments, type HandOverResult, type RequestResult } from "./requests";
import { split } from "./split";

export { balances, isOpen, isPresent, splitCovers, type DecideContext } from "./draft";
export { planFor, type ItemizedByLine, type SplitInput } from "./split";
export type { HandOverResult, PaymentOutcome, RequestResult };

/** What each command answers, by its kind. */
export interface CommandResults {
  update_bill: undefined;
  add_participants: string[];
  update_participant: string;
  remove_participant: undefined;
  split: Allocation[];
  request_payments: RequestResult;
  handed_over: HandOverResult;
  payment_event: PaymentOutcome;
  mark_paid: undefined;
  expire: boolean;
  cancel_bill: undefined;
}

export type ResultOf<C extends LedgerCommand> = CommandResults[C["kind"]];

export function decide<C extends LedgerCommand>(state: LedgerState, command: C, ctx: DecideContext): Decision<ResultOf<C>> {
  const d = new Draft(state, ctx);
  const result = apply(d, command) as ResultOf<C>;
  return { changes: d.changes(), after: d.state(), result };
}

function apply(d: Draft, command: LedgerCommand): CommandResults[LedgerCommand["kind"]] {
  switch (command.kind) {
    case "update_bill":
      return updateBill(d, command);
    case "cancel_bill":
      return cancelBill(d, command);
    case "add_participants":
      return addParticipants(d, command);
    case "update_participant":
      return updateParticipant(d, command);
    case "remove_participant":
      return removeParticipant(d, command);
    case "split":
      return split(d, command);
    case "request_payments":
      return requestPayments(d, command);
    case "handed_over":
      return handedOver(d, command);
    case "expire":
      return expire(d, command);
    case "payment_event":
      return applyPaymentEvent(d, command);
    case "mark_paid":
      return markPaid(d, command);
    default: {
      // A new command kind does not compile until it is handled here.
      const unhandled: never = command;
      throw new Error(`unhandled ledger command ${(unhandled as LedgerCommand).kind}`);
    }
  }
}
