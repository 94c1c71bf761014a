// Participant requests. A participant has a name and optionally a phone (E.164), an email, or the
// bank user id of a bank customer; the bank's directory decides who is a customer.
import { z } from "zod";
import { emailSchema, uuidSchema } from "../../http/common-schemas";
import { participantSummary } from "../bills";

const name = z.string().trim().regex(/\S/, "must not be empty").max(200, "must be at most 200 characters");
const phone = z
  .string()
  .regex(/^\+[1-9]\d{6,14}$/, "must be an E.164 phone number such as +84901234567")
  .meta({ example: "+84901234567" });
const email = emailSchema;

export const addParticipantBody = z
  .strictObject({
    name,
    phone: phone.optional(),
    email: email.optional(),
    userId: z
      .string()
      .trim()
      .regex(/\S/, "must not be empty")
      .max(128)
      .optional()
      .meta({ description: "The bank user id of a bank customer (your own to add yourself)" }),
  })
  .meta({ id: "AddParticipant", example: { name: "Dave", email: "dave@example.com" } });

export const updateParticipantBody = z
  .strictObject({ name: name.optional(), phone: phone.nullable().optional(), email: email.nullable().optional() })
  .refine((b) => Object.keys(b).length > 0, { message: "must contain at least one field to change" })
  .meta({
    id: "UpdateParticipant",
    description: "The fields to change (at least one); null clears phone or email",
    minProperties: 1,
    example: { name: "Bob", email: "bob@example.com" },
  });

export const participantParams = z.object({ billId: uuidSchema, participantId: uuidSchema });

export const participantListSchema = z.object({ items: z.array(participantSummary) }).meta({ id: "ParticipantList" });

export const unpaidSchema = z
  .object({
    currency: z.string().nullable(),
    unpaidAmount: z.string().nullable(),
    items: z.array(participantSummary.extend({ amountOwed: z.string().nullable() })),
  })
  .meta({ id: "UnpaidParticipants" });

export type AddParticipantInput = z.output<typeof addParticipantBody>;
export type UpdateParticipantInput = z.output<typeof updateParticipantBody>;
