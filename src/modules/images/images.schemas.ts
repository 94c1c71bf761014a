// The image endpoints and the AI service's callback contract. The AI writes snake_case, as the
// spec's dummy response does (`total_amount`, `merchant_name`).
import Decimal from "decimal.js";
import { z } from "zod";
import { currencySchema, dateSchema, decimalStringSchema, emailSchema, EXAMPLE_IDS, uuidSchema } from "../../http/common-schemas";
import { DECIMAL_STRING, MAX_INTEGER_DIGITS, TOO_LARGE } from "../../domain/money";

export const imageStates = ["none", "pending", "processing", "completed", "failed"] as const;

export const imageJobSchema = z
  .object({
    jobId: z.uuid().nullable(),
    kind: z.enum(["bill", "group"]),
    state: z.enum(imageStates),
    aiJobId: z.string().nullable(),
    attempts: z.number().int(),
    uploadedAt: z.string().nullable(),
    lastAttemptAt: z.string().nullable(),
    completedAt: z.string().nullable(),
    error: z.string().nullable(),
  })
  .meta({ id: "ImageJob" });

export const processingStatusSchema = z
  .object({ billId: z.uuid(), aiProcessed: z.boolean(), billImage: imageJobSchema, groupImage: imageJobSchema })
  .meta({ id: "ProcessingStatus" });

export const uploadBody = z
  // The file itself is checked by the handler (multer puts it in req.file, not in the body). Any
  // other form field is refused by name, so status, ids or amounts cannot ride along with a photo.
  .strictObject({
    image: z
      .custom<Express.Multer.File>((file) => file !== undefined, 'a file is required (multipart/form-data field "image")')
      .meta({ type: "string", format: "binary", description: "JPEG, PNG, WebP or HEIC" }),
  })
  .meta({ id: "ImageUpload" });

/**
 * AI amounts arrive as JSON numbers (the spec's dummy) or decimal strings; we keep decimal strings.
 * A JSON number is binary floating point (12.1 arrives as 12.0999...), so it is rounded to the 4
 * places we store; a string is taken as written, and must be one.
 */
const aiAmount = z
  .union([
    decimalStringSchema(DECIMAL_STRING, "must be a non-negative decimal amount"),
    z
      .number()
      .nonnegative()
      .lt(10 ** MAX_INTEGER_DIGITS, TOO_LARGE),
  ])
  .transform((v) => (typeof v === "number" ? new Decimal(v).toDecimalPlaces(4).toFixed() : v));

const lineItem = z.object({
  name: z.string().trim().regex(/\S/, "must not be empty").max(200),
  quantity: z.number().positive().max(100_000).optional(),
  unit_price: aiAmount.optional(),
  amount: aiAmount,
});

const jobId = uuidSchema;
const failure = z.object({ jobId, status: z.literal("failed"), error: z.string().trim().regex(/\S/, "must not be empty").max(1000) });

export const billResultBody = z
  .discriminatedUnion("status", [
    z.object({
      jobId,
      status: z.literal("completed"),
      result: z.object({
        total_amount: aiAmount.optional(),
        currency: currencySchema.optional(),
        merchant_name: z.string().trim().regex(/\S/, "must not be empty").max(200).optional(),
        bill_date: dateSchema.optional(),
        line_items: z.array(lineItem).max(500).optional(),
      }),
    }),
    failure,
  ])
  .meta({
    id: "AiBillResult",
    example: {
      jobId: EXAMPLE_IDS.jobId,
      status: "completed",
      result: {
        total_amount: "90.00",
        currency: "USD",
        merchant_name: "Pho 24",
        bill_date: "2026-11-20",
        line_items: [
          { name: "Pho bo", quantity: 2, unit_price: "25.00", amount: "50.00" },
          { name: "Spring rolls", quantity: 1, unit_price: "30.00", amount: "30.00" },
        ],
      },
    },
  });

export const recognisedPerson = z.object({
  face_id: z.string().trim().regex(/\S/, "must not be empty").max(128),
  name: z.string().trim().regex(/\S/, "must not be empty").max(200).optional(),
  phone: z
    .string()
    .regex(/^\+[1-9]\d{6,14}$/, "must be an E.164 phone number")
    .optional(),
  email: emailSchema.optional(),
  bank_user_id: z.string().min(1).max(128).optional(),
  confidence: z.number().min(0).max(1).optional(),
});

/** The spec's dummy response names people only (`["Alice", "Bob"]`): no face id, no contact. */
const bareName = z
  .string()
  .trim()
  .regex(/\S/, "must not be empty")
  .max(200)
  .meta({ description: "A name only, as in the spec's dummy response", example: "Alice" });

export const groupResultBody = z
  .discriminatedUnion("status", [
    z.object({
      jobId,
      status: z.literal("completed"),
      result: z.object({ participants: z.array(z.union([bareName, recognisedPerson])).max(100) }),
    }),
    failure,
  ])
  .meta({ id: "AiGroupResult", example: { jobId: EXAMPLE_IDS.jobId, status: "completed", result: { participants: ["Alice", "Bob"] } } });

export const callbackAnswer = z.object({ jobId: z.uuid(), state: z.enum(["completed", "failed"]), applied: z.boolean() }).meta({ id: "AiCallbackAnswer" });

export type BillResult = z.output<typeof billResultBody>;
export type GroupResult = z.output<typeof groupResultBody>;
export type RecognisedPerson = z.output<typeof recognisedPerson>;
