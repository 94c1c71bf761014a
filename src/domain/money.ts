// Money rules: amounts are decimal.js values, written on the wire as decimal strings with exactly
// the currency's minor units. Nothing else in the code base rounds or formats money.
import Decimal from "decimal.js";
import { minorUnits } from "./currency";

/**
 * The bound on every amount, in one place. Money columns are DECIMAL(19,4): 4 decimals because CLF
 * and UYW have 4 minor units (the most of any ISO 4217 currency), and 15 digits before the point
 * for VND- and IRR-sized totals. Every pattern the API accepts an amount by is built from these,
 * so an amount the API document allows is one the database holds (docs/money.md).
 */
export const MAX_INTEGER_DIGITS = 15;
export const MAX_DECIMALS = 4;
/** The largest amount a money column holds: 999999999999999.9999. */
export const MAX_AMOUNT = new Decimal(`${"9".repeat(MAX_INTEGER_DIGITS)}.${"9".repeat(MAX_DECIMALS)}`);

const INTEGER_PART = `(0|[1-9]\\d{0,${MAX_INTEGER_DIGITS - 1}})`;
const FRACTION_PART = `(\\.\\d{1,${MAX_DECIMALS}})?`;

/** A plain non-negative decimal string: digits, optionally a point and more digits. No exponent, no sign. */
export const DECIMAL_STRING = new RegExp(`^${INTEGER_PART}${FRACTION_PART}$`);

/**
 * DECIMAL_STRING that may also have leading zeros ("050.00"), bounded the same by its value: how
 * another system (the payment system) may write an amount that we only read, never echo.
 */
export const ZERO_PADDED_DECIMAL_STRING = new RegExp(`^0*${INTEGER_PART}${FRACTION_PART}$`);

/** A plain decimal (leading zeros or not) with more digits before the point than a money column holds. */
export function exceedsAmountBound(value: string): boolean {
  const m = /^0*(\d*)(\.\d+)?$/.exec(value);
  return m !== null && m[1].length > MAX_INTEGER_DIGITS;
}

/** The message for an amount beyond the bound; the field's name goes before it (zodIssues, describeIssues). */
export const TOO_LARGE = `is too large: at most ${MAX_INTEGER_DIGITS} digits before the point`;

export function decimalPlaces(value: string): number {
  const point = value.indexOf(".");
  return point < 0 ? 0 : value.length - point - 1;
}

/** Why an amount is not acceptable in the currency, or undefined when it is. */
export function amountProblem(value: string, currency: string, { allowZero = false } = {}): string | undefined {
  if (exceedsAmountBound(value)) return TOO_LARGE;
  if (!DECIMAL_STRING.test(value)) return `must be a decimal string such as "12.50" (at most ${MAX_INTEGER_DIGITS} digits before the point)`;
  const units = minorUnits(currency);
  if (decimalPlaces(value) > units) {
    return units === 0
      ? `must be a whole number in ${currency}, which has no minor unit`
      : `has more than ${units} decimal places, the most ${currency} allows`;
  }
  if (!allowZero && new Decimal(value).isZero()) return "must be greater than zero";
  return undefined;
}

export type DecimalLike = Decimal.Value | { toString(): string };

/** Any decimal (ours, Prisma's copy of decimal.js, a string) as our Decimal. */
export function toDecimal(value: DecimalLike): Decimal {
  return value instanceof Decimal || typeof value === "string" || typeof value === "number" ? new Decimal(value) : new Decimal(value.toString());
}

/** The amount as the API writes it: a string with exactly the currency's minor units. */
export function formatAmount(value: DecimalLike, currency: string): string {
  return toDecimal(value).toFixed(minorUnits(currency));
}

/** Like formatAmount, for a bill whose currency may not be known yet. */
export function formatMaybe(value: DecimalLike | null | undefined, currency: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  return currency ? formatAmount(value, currency) : toDecimal(value).toString();
}
