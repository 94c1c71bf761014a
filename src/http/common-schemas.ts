// Schemas shared by every capability: the problem body, ids, money, currency, dates.
import { z } from "zod";
import { CURRENCY_CODES, isCurrencyCode } from "../domain/currency";
import { DECIMAL_STRING } from "../domain/money";

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().meta({ description: "Stable machine-readable error code", example: "validation_failed" }),
    instance: z.string(),
    requestId: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string(), code: z.string().optional() })).optional(),
  })
  .meta({ id: "Problem", description: "RFC 9457 problem details, plus a stable code, the request id and field issues" });

export const uuidSchema = z.uuid({ message: "must be a UUID" });

export const currencySchema = z
  .string()
  .refine(isCurrencyCode, { message: "must be an ISO 4217 currency code such as USD, EUR or VND" })
  .meta({ description: "ISO 4217 code", example: "USD", enum: CURRENCY_CODES as string[] });

/**
 * The type error of every decimal field (amounts, percentages, weights). zodIssues (problem.ts)
 * recognises it and words it with the field's name, so the schemas only say "this is a decimal".
 */
export const NOT_A_DECIMAL_STRING = "must be a decimal string such as \"12.50\"";

/** A string holding a decimal; a JSON number or anything else is refused with NOT_A_DECIMAL_STRING. */
export const decimalStringSchema = () => z.string({ message: NOT_A_DECIMAL_STRING });

export const amountSchema = decimalStringSchema()
  .regex(DECIMAL_STRING, "must be a decimal string such as \"12.50\" (no exponent, no sign, at most 15 digits before the point)")
  .meta({ description: "A decimal amount as a string, in the bill's currency", example: "120.50" });

export const dateSchema = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, "must be a date as YYYY-MM-DD")
  .refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s), {
    message: "must be a real calendar date",
  })
  .meta({ example: "2026-11-20", format: "date" });

/** The standard problem responses a route can produce, for the API document. */
export function problems(...statuses: number[]) {
  const text: Record<number, string> = {
    400: "Invalid input (see issues)",
    401: "Missing or invalid bearer token",
    404: "Not found, or not yours",
    409: "Conflicts with the bill's current state",
    413: "Too large",
    415: "Unsupported media type",
    422: "Breaks a business rule",
    503: "Database unavailable",
  };
  return Object.fromEntries(
    statuses.map((s) => [s, { description: text[s] ?? "Error", schema: problemSchema, contentType: "application/problem+json" }]),
  );
}
