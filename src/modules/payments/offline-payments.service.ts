// The creator records a payment made outside ChillBill (cash, a transfer): an offline payment of
// what the participant still owes. The ledger closes their open request, so no webhook counts it again,
// and writes its \`payment.received\` event in the same transaction.
import type { AuthUser } from "../../http/auth";
import type { Ledger } from "../../ledger/ledger";

export class OfflinePaymentsService {
  constructor(private readonly ledger: Ledger) {}

  async markPaid(user: AuthUser, billId: string, participantId: string, input: { note?: string; method?: string }): Promise<void> {
    await this.ledger.run(billId, user.id, user.id, { kind: "mark_paid", participantId, method: input.method, note: input.note });
  }
}
