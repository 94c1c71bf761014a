// Split requests: one body per method, and `calculate` takes any of them with its `method`.
import { z } from "zod";
import { amountSchema, EXAMPLE_IDS, percentageSchema, uuidSchema } from "../../http/common-schemas";

const MAX_ENTRIES = 1000;
const decimalString = amountSchema;
const weight = amountSchema.meta({ description: "A non-negative weight as a decimal string (at most 4 decimal places)", example: "2" });
const participantId = uuidSchema;
// Two people (Carol, then Bob in the Postman Flow) sharing 90.00.
const [A, B] = [EXAMPLE_IDS.otherParticipantId, EXAMPLE_IDS.participantId];
const sharesExample = {
  shares: [
    { participantId: A, weight: "2" },
    { participantId: B, weight: "1" },
  ],
};

export const equalBody = z.strictObject({}).meta({ id: "EqualSplit", description: "Everyone on the bill pays the same (to the minor unit)" });

export const customAmountBody = z
  .strictObject({
    amounts: z.array(z.strictObject({ participantId, amount: decimalString })).max(MAX_ENTRIES),
  })
  .meta({
    id: "CustomAmountSplit",
    description: "An amount for every participant; they must sum to the total exactly",
    example: {
      amounts: [
        { participantId: A, amount: "50.00" },
        { participantId: B, amount: "40.00" },
      ],
    },
  });

export const percentageBody = z
  .strictObject({
    percentages: z.array(z.strictObject({ participantId, percentage: percentageSchema })).max(MAX_ENTRIES),
  })
  .meta({
    id: "PercentageSplit",
    description: "A percentage for every participant; they must sum to 100 exactly",
    example: {
      percentages: [
        { participantId: A, percentage: "60" },
        { participantId: B, percentage: "40" },
      ],
    },
  });

export const sharesBody = z
  .strictObject({
    shares: z.array(z.strictObject({ participantId, weight })).max(MAX_ENTRIES),
  })
  .meta({ id: "SharesSplit", description: "Weights such as 2:1:1; the total is divided in proportion", example: sharesExample });

export const itemizedBody = z
  .strictObject({
    items: z
      .array(
        z
          .strictObject({
            name: z.string().trim().regex(/\S/, "must not be empty").max(200).optional(),
            amount: decimalString.optional(),
            lineItem: z.number().int().min(0).optional().meta({ description: "Index of one of the AI's line items (its amount is used)" }),
            participantIds: z.array(participantId).min(1).max(MAX_ENTRIES),
          })
          .refine((i) => (i.amount === undefined) !== (i.lineItem === undefined), {
            message: "give either amount or lineItem",
          })
          .meta({
            description: "An item: its amount, or the index of one of the AI's line items (exactly one of the two)",
            oneOf: [{ required: ["amount"] }, { required: ["lineItem"] }],
          }),
      )
      .min(1)
      .max(MAX_ENTRIES),
    extras: z
      .strictObject({ tax: amountSchema.optional(), serviceCharge: amountSchema.optional(), tip: amountSchema.optional() })
      .optional()
      .meta({ description: "Tax, service charge and tip; without them, whatever the total has beyond the items" }),
  })
  .meta({
    id: "ItemizedSplit",
    description: "Items assigned to participants; shared items are divided; extras follow each person's items",
    example: {
      items: [
        { name: "Pho bo", amount: "50.00", participantIds: [A] },
        { name: "Spring rolls", amount: "30.00", participantIds: [A, B] },
      ],
      extras: { tip: "10.00" },
    },
  });

export const calculateBody = z
  .discriminatedUnion("method", [
    equalBody.extend({ method: z.literal("equal") }),
    // The URL's spelling (`/split/custom-amount`) is taken too; answers always say `custom_amount`.
    customAmountBody.extend({
      method: z.literal(["custom_amount", "custom-amount"]).meta({ description: "custom_amount, or custom-amount as in the split route's URL" }),
    }),
    percentageBody.extend({ method: z.literal("percentage") }),
    sharesBody.extend({ method: z.literal("shares") }),
    itemizedBody.extend({ method: z.literal("itemized") }),
  ])
  .meta({ id: "SplitCalculation", example: { method: "shares", ...sharesExample } });

export const splitPlanSchema = z
  .object({
    billId: z.uuid(),
    method: z.enum(["equal", "custom_amount", "percentage", "shares", "itemized"]),
    currency: z.string(),
    totalAmount: z.string(),
    saved: z.boolean(),
    allocations: z.array(
      z.object({
        participantId: z.uuid(),
        name: z.string(),
        amountToPay: z.string(),
        percentage: z.string().nullable(),
        weight: z.string().nullable(),
      }),
    ),
  })
  .meta({ id: "SplitPlan" });

type CalculateBody = z.output<typeof calculateBody>;
/** A calculation with the method in its one spelling (the one responses and the bill use). */
export type CalculateInput = CalculateBody extends infer B
  ? B extends { method: infer M }
    ? Omit<B, "method"> & { method: Exclude<M, "custom-amount"> }
    : never
  : never;

export function normalizeCalculation(body: CalculateBody): CalculateInput {
  return (body.method === "custom-amount" ? { ...body, method: "custom_amount" } : body) as CalculateInput;
}
