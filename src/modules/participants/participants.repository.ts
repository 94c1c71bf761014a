// Participants as Prisma reads them. Every write goes through the ledger (src/ledger).
import type { Prisma } from "../../generated/prisma/client";

export type ParticipantRow = Prisma.ParticipantGetPayload<object>;
