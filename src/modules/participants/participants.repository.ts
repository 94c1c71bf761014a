// Prisma queries for participants.
import { v7 as uuidv7 } from "uuid";
import type { Tx } from "../../db/database";
import type { Prisma } from "../../generated/prisma/client";
import { recordStatusChange, type ChangedBy } from "../status/status-history.repository";

export type ParticipantRow = Prisma.ParticipantGetPayload<object>;

export interface NewParticipant {
  name: string;
  userId?: string | null;
  phone?: string | null;
  email?: string | null;
  isBankCustomer?: boolean;
  isCreator?: boolean;
  aiFaceId?: string | null;
}

/** Adds a participant and writes their first status (pending) to the history. */
export async function insertParticipant(
  tx: Tx,
  billId: string,
  person: NewParticipant,
  changedBy: ChangedBy,
  reason: string,
): Promise<ParticipantRow> {
  const participant = await tx.participant.create({
    data: {
      id: uuidv7(),
      billId,
      name: person.name,
      userId: person.userId ?? null,
      phone: person.phone ?? null,
      email: person.email ?? null,
      isBankCustomer: person.isBankCustomer ?? false,
      isCreator: person.isCreator ?? false,
      aiFaceId: person.aiFaceId ?? null,
      paymentStatus: "pending",
    },
  });
  await recordStatusChange(tx, {
    billId,
    participantId: participant.id,
    entityType: "participant",
    previousStatus: null,
    newStatus: "pending",
    changedBy,
    reason,
  });
  return participant;
}

export function listParticipants(tx: Tx, billId: string): Promise<ParticipantRow[]> {
  return tx.participant.findMany({ where: { billId }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
}

/** The creator's own share is settled by definition: it counts as paid and is never requested. */
export async function settleCreatorShare(tx: Tx, billId: string, participantId: string, changedBy: ChangedBy): Promise<void> {
  await tx.participant.update({ where: { id: participantId }, data: { paymentStatus: "paid" } });
  await recordStatusChange(tx, {
    billId,
    participantId,
    entityType: "participant",
    previousStatus: "pending",
    newStatus: "paid",
    changedBy,
    reason: "the creator's own share is settled by definition",
  });
}
