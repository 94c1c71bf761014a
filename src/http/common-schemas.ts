// Schemas shared by every capability: the problem body, ids, money, currency, dates.
import { z } from "zod";
import { CURRENCY_CODES, isCurrencyCode } from "../domain/currency";
import { DECIMAL_STRING, exceedsAmountBound, MAX_DECIMALS, MAX_INTEGER_DIGITS, TOO_LARGE } from "../domain/money";

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

/**
 * The ids the request examples of the API document use (valid UUIDs, never a real row): Swagger UI
 * shows them, and the Postman collection puts its collection variables in their place
 * (scripts/postman-collection.ts), so its requests point at the bill its Flow made.
 */
export const EXAMPLE_IDS = {
  /** Bob in the Postman Flow ({{participantId}}). */
  participantId: "0190a6c4-8f3e-7000-8000-0000000000b0",
  /** Carol in the Postman Flow ({{otherParticipantId}}). */
  otherParticipantId: "0190a6c4-8f3e-7000-8000-0000000000c0",
  /** An AI image job (the bill's current one is in GET .../processing-status). */
  jobId: "0190a6c4-8f3e-7000-8000-0000000000a1",
} as const;

export const currencySchema = z
  .string()
  .refine(isCurrencyCode, { message: "must be an ISO 4217 currency code such as USD, EUR or VND" })
  .meta({ description: "ISO 4217 code", example: "USD", enum: CURRENCY_CODES as string[] });

/**
 * The type error of every decimal field (amounts, percentages, weights). zodIssues (problem.ts)
 * recognises it and words it with the field's name, so the schemas only say "this is a decimal".
 */
export const NOT_A_DECIMAL_STRING = 'must be a decimal string such as "12.50"';

/**
 * A string holding a decimal; a JSON number is refused with NOT_A_DECIMAL_STRING. The pattern is in
 * the API document, so a client generated from it cannot send "abc" (docs/api-conventions.md). A
 * decimal with more digits before the point than a money column holds is told so (TOO_LARGE), and
 * never reaches the database, where it would be a numeric overflow.
 */
export const decimalStringSchema = (pattern: RegExp = DECIMAL_STRING, message = DECIMAL_MESSAGE) =>
  z.string({ message: NOT_A_DECIMAL_STRING }).regex(pattern, {
    error: (issue) => (typeof issue.input === "string" && exceedsAmountBound(issue.input) ? TOO_LARGE : message),
  });

const DECIMAL_MESSAGE = `must be a decimal string such as "12.50" (no exponent, no sign, at most ${MAX_INTEGER_DIGITS} digits before the point and ${MAX_DECIMALS} after)`;

export const amountSchema = decimalStringSchema().meta({ description: "A decimal amount as a string, in the bill's currency", example: "120.50" });

/**
 * DECIMAL_STRING without zero ("0", "0.00"): written without lookahead so any JSON-Schema tool can
 * read it. The "0.x" alternatives spell out MAX_DECIMALS (4) places.
 */
export const POSITIVE_DECIMAL_STRING = new RegExp(
  `^([1-9]\\d{0,${MAX_INTEGER_DIGITS - 1}}(\\.\\d{1,${MAX_DECIMALS}})?|0\\.(000[1-9]|00[1-9]\\d?|0[1-9]\\d{0,2}|[1-9]\\d{0,3}))$`,
);

export const positiveAmountSchema = decimalStringSchema(POSITIVE_DECIMAL_STRING, 'must be a decimal string greater than zero, such as "12.50"').meta({
  description: "A decimal amount greater than zero, as a string, in the bill's currency",
  example: "120.50",
});

/** 0 to 100 with at most 4 decimal places. */
export const percentageSchema = decimalStringSchema(
  /^(100(\.0{1,4})?|(0|[1-9]\d?)(\.\d{1,4})?)$/,
  "must be a percentage from 0 to 100 as a decimal string, at most 4 decimal places",
).meta({
  description: "A percentage from 0 to 100, as a decimal string",
  example: "33.3333",
});

/**
 * Email addresses as RFC 5321 writes them (dot-atom local part: letters, digits and
 * ! # $ % & ' * + / = ? ^ _ ` { | } ~ -), ASCII only. Internationalised addresses (RFC 6531) are
 * refused with their own message: delivering to them needs SMTPUTF8 from every relay on the way, which
 * the bank's mail relay does not promise, and an address we cannot deliver to is better refused when
 * it is typed than found out when the payment reminder bounces. A domain in its ASCII form (xn--) is
 * accepted. Quoted local parts ("a b"@example.com) are refused: no mail client offers them to users.
 * docs/api-conventions.md.
 */
export const EMAIL_ADDRESS =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export const emailSchema = z
  .string()
  .max(254, "must be at most 254 characters")
  .regex(EMAIL_ADDRESS, {
    error: (issue) =>
      /\P{ASCII}/u.test(String(issue.input))
        ? "must be an ASCII email address: internationalised addresses (RFC 6531) are not accepted; write the domain in its xn-- form"
        : "must be an email address",
  })
  .meta({
    format: "email",
    description: "An RFC 5321 address in ASCII (dot-atom local part, e.g. o~o@example.com); internationalised (non-ASCII) addresses are refused",
    example: "alice@example.com",
  });

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
    429: "Too many requests (Retry-After says when to try again)",
    404: "Not found, or not yours",
    409: "Conflicts with the bill's current state",
    413: "Too large",
    415: "Unsupported media type",
    422: "Breaks a business rule",
    503: "Database unavailable",
  };
  return Object.fromEntries(statuses.map((s) => [s, { description: text[s] ?? "Error", schema: problemSchema, contentType: "application/problem+json" }]));
}

/** The query of a keyset-paginated list (http/cursor.ts): a page size, and the cursor of the page before. */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z
    .string()
    .max(200)
    .regex(/^[A-Za-z0-9_-]*$/, "must be a nextCursor this API returned")
    .optional()
    .meta({ description: "The nextCursor of the previous page" }),
};
