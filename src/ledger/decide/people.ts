// Commands on the people of a bill: adding, changing and removing participants. A removed
// participant stays as a tombstone, so money that reaches them still counts (docs/money.md).
import { assertEditable } from "../../domain/bill-status";
import { Conflict } from "../../domain/errors";
import type { LedgerCommand, LedgerParticipant } from "../model";
import { ZERO, type Draft } from "./draft";

function assertNoDuplicate(present: readonly LedgerParticipant[], person: { userId: string | null; phone: string | null }): void {
  if (person.userId && present.some((p) => p.userId === person.userId)) {
    throw new Conflict("This bank customer is already a participant of the bill", "duplicate_participant");
  }
  if (person.phone && present.some((p) => p.phone === person.phone)) {
    throw new Conflict(`A participant with the phone ${person.phone} is already on the bill`, "duplicate_participant");
  }
}

/** New people join; a split is kept true (rebalance), whoever has paid already. Returns their ids. */
export function addParticipants(d: Draft, command: Extract<LedgerCommand, { kind: "add_participants" }>): string[] {
  assertEditable(d.bill.status);
  const added: string[] = [];
  for (const person of command.people) {
    assertNoDuplicate(d.present, person);
    const p: LedgerParticipant = {
      id: d.ctx.newId(),
      name: person.name,
      userId: person.userId,
      phone: person.phone,
      email: person.email,
      isBankCustomer: person.isBankCustomer,
      isCreator: person.isCreator,
      aiFaceId: person.aiFaceId ?? null,
      share: null,
      percentage: null,
      weight: null,
      status: "pending",
      paid: ZERO,
      outstanding: ZERO,
      refundDue: ZERO,
      paidAt: null,
      paymentMethod: null,
      paymentNote: null,
      createdAt: d.ctx.now,
      removedAt: null,
      removedReason: null,
    };
    d.participants.push(p);
    d.inserted.add(p.id);
    d.history.push({
      participantId: p.id,
      participantName: p.name,
      entityType: "participant",
      previousStatus: null,
      newStatus: "pending",
      reason: command.reason,
      reasonCode: command.from === "ai" ? "recognised" : "added_by_creator",
    });
    added.push(p.id);
  }
  if (added.length) d.rebalance();
  d.settle();
  return added;
}

/** A participant's name or contact, or their link to a bank customer. Returns their id. */
export function updateParticipant(d: Draft, command: Extract<LedgerCommand, { kind: "update_participant" }>): string {
  assertEditable(d.bill.status);
  const p = d.participant(command.participantId);
  const others = d.present.filter((x) => x !== p);
  const { changes, bankLink } = command;
  const userId = bankLink ? bankLink.userId : p.userId;
  assertNoDuplicate(others, { userId, phone: changes.phone === undefined ? p.phone : changes.phone });
  if (changes.name !== undefined) p.name = changes.name;
  if (changes.phone !== undefined) p.phone = changes.phone;
  if (changes.email !== undefined) p.email = changes.email;
  if (bankLink && !p.isCreator) {
    p.userId = bankLink.userId;
    p.isBankCustomer = bankLink.isBankCustomer;
  }
  d.settle();
  return p.id;
}

/**
 * Removes a participant, whether or not they paid: their row stays as a tombstone (removedAt), their
 * open requests are cancelled (at the payment system too), and all they paid becomes refund due.
 */
export function removeParticipant(d: Draft, command: Extract<LedgerCommand, { kind: "remove_participant" }>): undefined {
  assertEditable(d.bill.status);
  const p = d.participant(command.participantId);
  const was = p.status;
  p.removedAt = d.ctx.now;
  p.removedReason = "removed_by_creator";
  p.share = null;
  p.percentage = null;
  p.weight = null;
  // Their requests close below; "requested" would outlive them in the reports.
  if (p.status === "requested") p.status = "pending";
  d.history.push({
    participantId: p.id,
    participantName: p.name,
    entityType: "participant",
    previousStatus: was,
    newStatus: "removed",
    reason: p.paid.gt(0) ? `${p.name} removed by the creator; ${d.money(p.paid)} they paid is due back to them` : `${p.name} removed by the creator`,
    reasonCode: "removed_by_creator",
  });
  d.rebalance();
  d.settle();
  return undefined;
}
