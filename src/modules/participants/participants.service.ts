// Participants of a bill: add (looked up in the bank's directory), change, remove, list, unpaid.
// Every change keeps the split true (see split.service rebalanceSplit).
import Decimal from "decimal.js";
import type { UserDirectory } from "../../adapters/directory/user-directory";
import type { Db, Tx } from "../../db/database";
import { assertEditable } from "../../domain/bill-status";
import { billNotFound, BusinessRule, Conflict, NotFound } from "../../domain/errors";
import { formatMaybe, toDecimal } from "../../domain/money";
import type { AuthUser } from "../../http/auth";
import type { BillRow, BillsRepository } from "../bills/bills.repository";
import { rebalanceSplit } from "../split/split.service";
import { recordStatusChange } from "../status/status-history.repository";
import { presentParticipant } from "./participants.presenter";
import { insertParticipant, listParticipants, settleCreatorShare, type ParticipantRow } from "./participants.repository";
import type { AddParticipantInput, UpdateParticipantInput } from "./participants.schemas";

const participantNotFound = () => new NotFound("No participant with this id on this bill", "participant_not_found");

export class ParticipantsService {
  constructor(
    private readonly db: Db,
    private readonly bills: BillsRepository,
    private readonly directory: UserDirectory,
  ) {}

  async list(user: AuthUser, billId: string) {
    const bill = await this.bills.findVisible(billId, user.id);
    if (!bill) throw billNotFound();
    return { items: bill.participants.map((p) => presentParticipant(p, bill.currency)) };
  }

  /** Who still owes money, and how much. */
  async unpaid(user: AuthUser, billId: string) {
    const bill = await this.bills.findVisible(billId, user.id);
    if (!bill) throw billNotFound();
    const owing = bill.participants.filter((p) => p.paymentStatus !== "paid" && p.amountToPay !== null && !toDecimal(p.amountToPay).isZero());
    const total = owing.reduce((sum, p) => sum.plus(toDecimal(p.amountToPay!)), new Decimal(0));
    return {
      currency: bill.currency,
      unpaidAmount: formatMaybe(total, bill.currency),
      items: owing.map((p) => ({ ...presentParticipant(p, bill.currency), amountOwed: formatMaybe(p.amountToPay, bill.currency) })),
    };
  }

  async add(user: AuthUser, billId: string, input: AddParticipantInput) {
    // The directory is an outside call: asked before the transaction.
    const bankUser = await this.directory.find({ userId: input.userId, phone: input.phone, email: input.email });
    if (input.userId && input.userId !== user.id && bankUser?.userId !== input.userId) {
      throw new BusinessRule(`userId: no bank customer has the id ${input.userId}`, "unknown_bank_user");
    }
    const userId = input.userId ?? bankUser?.userId ?? null;
    const isCreator = userId === user.id;

    const participant = await this.db.$transaction(async (tx) => {
      const bill = await this.lockEditable(tx, billId, user);
      const existing = await listParticipants(tx, billId);
      assertNoDuplicate(existing, { userId, phone: input.phone ?? null });
      const created = await insertParticipant(
        tx,
        billId,
        {
          name: input.name,
          userId,
          phone: input.phone ?? null,
          email: input.email ?? bankUser?.email ?? null,
          // The creator uses the banking app, so they are a bank customer by definition.
          isBankCustomer: Boolean(bankUser) || isCreator,
          isCreator,
        },
        user.id,
        "added by the creator",
      );
      if (isCreator) await settleCreatorShare(tx, bill.id, created.id, user.id);
      await rebalanceSplit(tx, billId, "refuse");
      return tx.participant.findUniqueOrThrow({ where: { id: created.id } });
    });
    return this.present(billId, participant);
  }

  async update(user: AuthUser, billId: string, participantId: string, input: UpdateParticipantInput) {
    const bankUser =
      input.phone || input.email ? await this.directory.find({ phone: input.phone ?? undefined, email: input.email ?? undefined }) : undefined;
    const participant = await this.db.$transaction(async (tx) => {
      await this.lockEditable(tx, billId, user);
      const current = await tx.participant.findFirst({ where: { id: participantId, billId } });
      if (!current) throw participantNotFound();
      const others = (await listParticipants(tx, billId)).filter((p) => p.id !== participantId);
      const userId = current.userId ?? bankUser?.userId ?? null;
      assertNoDuplicate(others, { userId, phone: input.phone === undefined ? current.phone : input.phone });
      return tx.participant.update({
        where: { id: participantId },
        data: {
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(input.phone !== undefined ? { phone: input.phone } : {}),
          ...(input.email !== undefined ? { email: input.email } : {}),
          ...(userId && !current.userId ? { userId, isBankCustomer: true } : {}),
        },
      });
    });
    return this.present(billId, participant);
  }

  async remove(user: AuthUser, billId: string, participantId: string) {
    await this.db.$transaction(async (tx) => {
      await this.lockEditable(tx, billId, user);
      const current = await tx.participant.findFirst({ where: { id: participantId, billId } });
      if (!current) throw participantNotFound();
      if (current.paymentStatus === "paid" && !current.isCreator) {
        throw new Conflict(`${current.name} has already paid and cannot be removed`, "participant_paid");
      }
      await tx.paymentRequest.updateMany({ where: { participantId, status: { in: ["pending", "sent"] } }, data: { status: "cancelled" } });
      await tx.participant.delete({ where: { id: participantId } });
      await recordStatusChange(tx, {
        billId,
        entityType: "participant",
        previousStatus: current.paymentStatus,
        newStatus: "removed",
        changedBy: user.id,
        reason: `${current.name} removed by the creator`,
      });
      await rebalanceSplit(tx, billId, "refuse");
    });
  }

  private async lockEditable(tx: Tx, billId: string, user: AuthUser): Promise<BillRow> {
    const bill = await this.bills.lockOwned(tx, billId, user.id);
    if (!bill) throw billNotFound();
    assertEditable(bill.status);
    return bill;
  }

  private async present(billId: string, participant: ParticipantRow) {
    const bill = await this.db.bill.findUniqueOrThrow({ where: { id: billId }, select: { currency: true } });
    return presentParticipant(participant, bill.currency);
  }
}

function assertNoDuplicate(existing: ParticipantRow[], person: { userId: string | null; phone: string | null }): void {
  if (person.userId && existing.some((p) => p.userId === person.userId)) {
    throw new Conflict("This bank customer is already a participant of the bill", "duplicate_participant");
  }
  if (person.phone && existing.some((p) => p.phone === person.phone)) {
    throw new Conflict(`A participant with the phone ${person.phone} is already on the bill`, "duplicate_participant");
  }
}
