// Applying and previewing splits. The arithmetic is domain/split.ts and the rules (who may be
// re-split, superseding requests for amounts that changed) are the ledger's; this loads and presents.
import type Decimal from "decimal.js";
import { formatAmount } from "../../domain/money";
import type { Allocation, SplitMethod } from "../../domain/split";
import type { AuthUser } from "../../http/auth";
import { isPresent } from "../../ledger/decide";
import type { Ledger } from "../../ledger/ledger";
import type { LedgerParticipant, SplitInput } from "../../ledger/model";
import type { CalculateInput } from "./split.schemas";

export class SplitService {
  constructor(private readonly ledger: Ledger) {}

  /** Applies a split through the ledger: every share stored, open requests for old amounts superseded. */
  async apply(user: AuthUser, billId: string, input: CalculateInput) {
    const decision = await this.ledger.run(billId, user.id, user.id, { kind: "split", request: input as SplitInput });
    const { bill, participants } = decision.after;
    return presentPlan(billId, bill.currency!, bill.total!, input.method, decision.result, participants.filter(isPresent), true);
  }

  /** The plan the same input would produce; saves nothing. */
  async calculate(user: AuthUser, billId: string, input: CalculateInput) {
    const { bill, participants, plan } = await this.ledger.previewSplit(billId, user.id, input as SplitInput);
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
