// Bill requests and responses, as the API sees them. Unknown fields are refused (.strict()), so a
// client cannot set status, creator, ids or paid amounts by adding them to a body.
import { z } from "zod";
import { currencySchema, dateSchema, pageQuery, positiveAmountSchema, uuidSchema } from "../../http/common-schemas";
import { BILL_STATUSES } from "../../domain/bill-status";

const billStatus = z.enum(BILL_STATUSES);

// A pattern (\S) rather than min(1): checked after trim, and the API document then says a blank one is refused.
const merchantName = z.string().trim().regex(/\S/, "must not be empty").max(200, "must be at most 200 characters");
const note = z.string().trim().max(1000, "must be at most 1000 characters");

export const createBillBody = z
  .strictObject({
    totalAmount: positiveAmountSchema.optional(),
    currency: currencySchema.optional(),
    merchantName: merchantName.optional(),
    billDate: dateSchema.optional(),
    note: note.optional(),
  })
  .meta({
    id: "CreateBill",
    description: "Every field is optional: the AI can fill them from the receipt later",
    example: { totalAmount: "90.00", currency: "USD", merchantName: "Pho 24", billDate: "2026-11-20", note: "Team lunch" },
  });

export const updateBillBody = z
  .strictObject({
    totalAmount: positiveAmountSchema.nullable().optional(),
    currency: currencySchema.nullable().optional(),
    merchantName: merchantName.nullable().optional(),
    billDate: dateSchema.nullable().optional(),
    note: note.nullable().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: "must contain at least one field to change" })
  .meta({
    id: "UpdateBill",
    description: "The fields to change (at least one); null clears a field",
    minProperties: 1,
    example: { merchantName: "Pho 24 (District 1)", note: "Team lunch, Friday" },
  });

/** What a bill's amount must also satisfy, with the bill's other fields (see ApiRouter's crossFieldRules). */
export const billAmountRules = {
  currency_required: "totalAmount needs a currency: in the same body, or already on the bill",
  minor_units: "totalAmount has at most the currency's minor units (2 decimal places for USD, 0 for VND, 3 for KWD, 4 for CLF)",
};

export const billIdParams = z.object({ billId: uuidSchema });

export const listBillsQuery = z.strictObject({
  status: z
    .string()
    .regex(
      /^(created|active|completed|cancelled)(,(created|active|completed|cancelled))*$/,
      "must be one or more of created, active, completed, cancelled, comma-separated",
    )
    .transform((s) => s.split(","))
    .pipe(z.array(billStatus))
    .optional()
    .meta({ description: "One status or several, comma-separated", example: "created,active" }),
  ...pageQuery,
});

export const idempotencyHeaders = z.object({
  "idempotency-key": z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/, "must be 1 to 255 visible ASCII characters")
    .optional()
    .meta({ description: "Retrying a create with the same key returns the first response" }),
});

export const participantSummary = z
  .object({
    id: z.uuid(),
    name: z.string(),
    userId: z.string().nullable(),
    phone: z.string().nullable(),
    email: z.string().nullable(),
    isBankCustomer: z.boolean(),
    isCreator: z.boolean(),
    amountToPay: z.string().nullable(),
    percentage: z.string().nullable(),
    shareWeight: z.string().nullable(),
    paymentStatus: z.enum(["pending", "requested", "paid"]),
    paidAt: z.string().nullable(),
    paidAmount: z.string().nullable().meta({ description: "Received from them: the sum of their payments (docs/money.md)" }),
    outstandingAmount: z.string().nullable().meta({ description: "What they still owe" }),
    refundDue: z.string().nullable().meta({ description: "Received beyond their share, or everything once the bill is cancelled: owed back to them" }),
  })
  .meta({ id: "Participant" });

export const billSchema = z
  .object({
    id: z.uuid(),
    creatorUserId: z.string(),
    status: billStatus,
    totalAmount: z.string().nullable(),
    currency: z.string().nullable(),
    merchantName: z.string().nullable(),
    billDate: z.string().nullable(),
    note: z.string().nullable(),
    splitMethod: z.string().nullable(),
    needsResplit: z.boolean(),
    aiProcessed: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
    completedAt: z.string().nullable(),
    cancelledAt: z.string().nullable(),
  })
  .meta({ id: "Bill" });

export const billDetailsSchema = billSchema
  .extend({
    participants: z.array(participantSummary),
    totals: z.object({
      participantCount: z.number().int(),
      assignedAmount: z.string().nullable(),
      paidAmount: z.string().nullable().meta({ description: "Settled: received and applied, plus the creator's own share" }),
      unpaidAmount: z.string().nullable().meta({ description: "Outstanding: what participants still owe" }),
      receivedAmount: z.string().nullable().meta({ description: "Every payment received (applied + refund due)" }),
      refundDueAmount: z.string().nullable().meta({ description: "Owed back to participants" }),
    }),
  })
  .meta({ id: "BillDetails" });

export const billListSchema = z.object({ items: z.array(billSchema), nextCursor: z.string().nullable() }).meta({ id: "BillList" });

export type CreateBillInput = z.output<typeof createBillBody>;
export type UpdateBillInput = z.output<typeof updateBillBody>;
export type ListBillsQuery = z.output<typeof listBillsQuery>;
