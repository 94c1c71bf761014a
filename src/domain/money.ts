// Money rules: amounts are decimal.js values, written on the wire as decimal strings with exactly
// the currency's minor units. Nothing else in the code base rounds or formats money.
import Decimal from "decimal.js";
import { minorUnits } from "./currency";

/** A plain non-negative decimal string: digits, optionally a point and more digits. No exponent, no sign. */
export const DECIMAL_STRING = /^(0|[1-9]\d{0,14})(\.\d{1,4})?$/;

export function decimalPlaces(value: string): number {
  const point = value.indexOf(".");
  return point < 0 ? 0 : value.length - point - 1;
}

/** Why an amount is not acceptable in the currency, or undefined when it is. */
export function amountProblem(value: string, currency: string, { allowZero = false } = {}): string | undefined {
  if (!DECIMAL_STRING.test(value)) return "must be a decimal string such as \"12.50\" (at most 15 digits before the point)";
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
  return value instanceof Decimal || typeof value === "string" || typeof value === "number"
    ? new Decimal(value)
    : new Decimal(value.toString());
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
