// Participants of a bill: add (looked up in the bank's directory), change, remove, list, unpaid.
// Adding and removing people changes shares, so these go through the ledger (docs/money.md).
import Decimal from "decimal.js";
import type { UserDirectory } from "../../adapters/directory/user-directory";
import type { Db } from "../../db/database";
import { billNotFound, BusinessRule } from "../../domain/errors";
import { formatMaybe, toDecimal } from "../../domain/money";
import type { AuthUser } from "../../http/auth";
import type { Ledger } from "../../ledger/ledger";
import type { Decision } from "../../ledger/model";
import type { BillsRepository } from "../bills";
import { fromLedger, presentParticipant } from "./participants.presenter";
import type { AddParticipantInput, UpdateParticipantInput } from "./participants.schemas";

/** What ParticipantsService is built from (the composition root, app.ts, passes them by name). */
export interface ParticipantsServiceDeps {
  db: Db;
  bills: BillsRepository;
  directory: UserDirectory;
  ledger: Ledger;
}

export class ParticipantsService {
  constructor(private readonly deps: ParticipantsServiceDeps) {}

  async list(user: AuthUser, billId: string) {
    const bill = await this.deps.bills.findVisible(billId, user.id);
    if (!bill) throw billNotFound();
    return { items: bill.participants.map((p) => presentParticipant(p, bill.currency)) };
  }

  /** Who still owes money, and how much (the ledger's outstanding amounts). */
  async unpaid(user: AuthUser, billId: string) {
    const bill = await this.deps.bills.findVisible(billId, user.id);
    if (!bill) throw billNotFound();
    const owing = bill.participants.filter((p) => !toDecimal(p.outstandingAmount).isZero());
    const total = owing.reduce((sum, p) => sum.plus(toDecimal(p.outstandingAmount)), new Decimal(0));
    return {
      currency: bill.currency,
      unpaidAmount: formatMaybe(total, bill.currency),
      items: owing.map((p) => ({ ...presentParticipant(p, bill.currency), amountOwed: formatMaybe(p.outstandingAmount, bill.currency) })),
    };
  }

  async add(user: AuthUser, billId: string, input: AddParticipantInput) {
    // The directory is an outside call: asked before the transaction.
    const bankUser = await this.deps.directory.find({ userId: input.userId, phone: input.phone, email: input.email });
    if (input.userId && input.userId !== user.id && bankUser?.userId !== input.userId) {
      throw new BusinessRule(`userId: no bank customer has the id ${input.userId}`, "unknown_bank_user");
    }
    const userId = input.userId ?? bankUser?.userId ?? null;
    const isCreator = userId === user.id;
    const decision = await this.deps.ledger.run(billId, user.id, user.id, {
      kind: "add_participants",
      reason: "added by the creator",
      people: [
        {
          name: input.name,
          userId,
          phone: input.phone ?? null,
          email: input.email ?? bankUser?.email ?? null,
          // The creator uses the banking app, so they are a bank customer by definition.
          isBankCustomer: Boolean(bankUser) || isCreator,
          isCreator,
        },
      ],
    });
    return this.present(decision, decision.result[0]);
  }

  async update(user: AuthUser, billId: string, participantId: string, input: UpdateParticipantInput) {
    const current = await this.deps.db.participant.findFirst({ where: { id: participantId, billId, removedAt: null, bill: { creatorUserId: user.id } } });
    let bankLink: { userId: string | null; isBankCustomer: boolean } | undefined;
    if (current && !current.isCreator && (input.phone !== undefined || input.email !== undefined)) {
      // A new phone or email may belong to a bank customer; a link that no longer matches is dropped.
      const phone = input.phone === undefined ? current.phone : input.phone;
      const email = input.email === undefined ? current.email : input.email;
      const match = phone || email ? await this.deps.directory.find({ phone, email }) : undefined;
      const linked = current.userId ? await this.deps.directory.find({ userId: current.userId }) : undefined;
      const stillLinked = linked && ((phone && linked.phone === phone) || (email && linked.email?.toLowerCase() === email.toLowerCase()));
      if (match) bankLink = { userId: match.userId, isBankCustomer: true };
      else if (current.userId && !stillLinked) bankLink = { userId: null, isBankCustomer: false };
    }
    const decision = await this.deps.ledger.run(billId, user.id, user.id, { kind: "update_participant", participantId, changes: input, bankLink });
    return this.present(decision, participantId);
  }

  async remove(user: AuthUser, billId: string, participantId: string) {
    await this.deps.ledger.run(billId, user.id, user.id, { kind: "remove_participant", participantId });
  }

  private present(decision: Decision, participantId: string) {
    const p = decision.after.participants.find((x) => x.id === participantId)!;
    return presentParticipant(fromLedger(p), decision.after.bill.currency);
  }
}
