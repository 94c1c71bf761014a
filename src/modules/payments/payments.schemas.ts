// Payment requests, offline payments and the payment system's webhook.
import { z } from "zod";
import { decimalStringSchema, uuidSchema } from "../../http/common-schemas";
import { ZERO_PADDED_DECIMAL_STRING } from "../../domain/money";

/**
 * The payment system's amount: bounded like every amount we accept (it is stored in
 * payment_events), and read by its value, so leading zeros ("050.00") are allowed.
 */
export const webhookAmountSchema = decimalStringSchema(ZERO_PADDED_DECIMAL_STRING, "must be a decimal string").meta({
  description: "The amount paid, as a decimal string (leading zeros allowed, at most 15 digits before the point and 4 after)",
  example: "30.00",
});

export const paymentRequestSchema = z
  .object({
    id: z.uuid(),
    participantId: z.uuid(),
    participantName: z.string(),
    amount: z.string(),
    currency: z.string(),
    channel: z.enum(["in_app", "payment_link"]),
    status: z.enum(["pending", "sent", "paid", "failed", "expired", "cancelled"]),
    reference: z.string(),
    paymentId: z.string().nullable(),
    paymentLink: z.string().nullable(),
    qrCode: z.string().nullable().meta({ description: "The EMVCo merchant-presented payload (or the link where EMV does not apply)" }),
    qrCodeSvgUrl: z.string().nullable(),
    qrCodePngUrl: z.string().nullable(),
    expiryDate: z.string(),
    retryCount: z.number().int(),
    createdAt: z.string(),
    notification: z
      .enum(["sent", "unreachable", "not_sent_yet"])
      .optional()
      .meta({ description: "Whether the participant was told: unreachable when they have no phone, email or banking app (share the link yourself)" }),
    notifiedBy: z.array(z.enum(["in_app", "sms", "email"])).optional(),
  })
  .meta({ id: "PaymentRequest" });

export const requestPaymentsResult = z
  .object({
    billId: z.uuid(),
    billStatus: z.string(),
    requests: z.array(paymentRequestSchema),
    skipped: z.array(z.object({ participantId: z.uuid(), name: z.string(), reason: z.string() })),
  })
  .meta({ id: "RequestPaymentsResult" });

export const markAsPaidBody = z
  .strictObject({
    method: z.enum(["cash", "bank_transfer", "card", "e_wallet", "other"]).optional(),
    note: z.string().trim().max(500).optional(),
  })
  .meta({ id: "MarkAsPaid", example: { method: "cash", note: "Paid at the table" } });

export const paymentEventBody = z
  .object({
    id: z.string().min(1).max(128),
    type: z.enum(["payment.succeeded", "payment.failed", "payment.expired"]),
    created: z.number().int().positive(),
    data: z.object({
      paymentId: z.string().min(1).max(128),
      reference: z.string().min(1).max(25),
      amount: webhookAmountSchema,
      currency: z.string().regex(/^[A-Z]{3}$/, "must be an ISO 4217 code"),
      reason: z.string().max(300).optional(),
    }),
  })
  .meta({ id: "PaymentEvent" });

export const webhookAnswer = z.object({ eventId: z.string(), outcome: z.string() }).meta({ id: "PaymentEventAnswer" });

export const participantIdParams = z.object({ billId: uuidSchema, participantId: uuidSchema });
