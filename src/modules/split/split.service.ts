// Applying and previewing splits. The arithmetic is domain/split.ts and the rules (who may be
// re-split, superseding requests for amounts that changed) are the ledger's; this loads and presents.
import type Decimal from "decimal.js";
import type { Sql } from "../../db/sql";
import { billNotFound } from "../../domain/errors";
import { formatAmount } from "../../domain/money";
import type { Allocation, SplitMethod, SplitRequest } from "../../domain/split";
import type { AuthUser } from "../../http/auth";
import { planFor, type ItemizedByLine } from "../../ledger/decide";
import type { Ledger } from "../../ledger/ledger";
import type { LedgerParticipant } from "../../ledger/model";
import { findState } from "../../ledger/store";
import type { CalculateInput } from "./split.schemas";

export class SplitService {
  constructor(
    private readonly sql: Sql,
    private readonly ledger: Ledger,
  ) {}

  /** Applies a split through the ledger: every share stored, open requests for old amounts superseded. */
  async apply(user: AuthUser, billId: string, input: CalculateInput) {
    const decision = await this.ledger.run<Allocation[]>(billId, user.id, user.id, { kind: "split", request: input as SplitRequest | ItemizedByLine as SplitRequest });
    const { bill, participants } = decision.after;
    return presentPlan(billId, bill.currency!, bill.total!, input.method, decision.result, participants, true);
  }

  /** The plan the same input would produce; saves nothing. */
  async calculate(user: AuthUser, billId: string, input: CalculateInput) {
    const state = await findState(this.sql, billId);
    if (!state || state.bill.creatorUserId !== user.id) throw billNotFound();
    const { bill, participants } = state;
    const plan = planFor(bill, participants.map((p) => p.id), input as SplitRequest | ItemizedByLine);
    return presentPlan(billId, bill.currency!, bill.total!, input.method, plan, participants, false);
  }
}

function presentPlan(
  billId: string,
  currency: string,
  total: Decimal,
  method: SplitMethod,
  plan: Allocation[],
  participants: LedgerParticipant[],
  saved: boolean,
) {
  const byId = new Map(plan.map((a) => [a.participantId, a]));
  return {
    billId,
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
