import Decimal from "decimal.js";
import { CURRENCY_CODES, isCurrencyCode, minorUnits } from "../../src/domain/currency";
import {
  amountProblem,
  DECIMAL_STRING,
  exceedsAmountBound,
  formatAmount,
  formatMaybe,
  MAX_AMOUNT,
  MAX_DECIMALS,
  MAX_INTEGER_DIGITS,
  toDecimal,
  ZERO_PADDED_DECIMAL_STRING,
} from "../../src/domain/money";
import { POSITIVE_DECIMAL_STRING } from "../../src/http/common-schemas";

describe("currency minor units (ISO 4217)", () => {
  it.each([
    ["VND", 0],
    ["JPY", 0],
    ["KRW", 0],
    ["USD", 2],
    ["EUR", 2],
    ["KWD", 3],
    ["BHD", 3],
    ["CLF", 4],
    ["UYW", 4],
  ])("%s has %i decimals", (code, units) => {
    expect(minorUnits(code)).toBe(units);
  });

  it("refuses codes that are not active currencies", () => {
    expect(isCurrencyCode("usd")).toBe(false);
    expect(isCurrencyCode("XAU")).toBe(false);
    expect(() => minorUnits("ABC")).toThrow(RangeError);
  });

  it("lists each code once, sorted", () => {
    expect(new Set(CURRENCY_CODES).size).toBe(CURRENCY_CODES.length);
    expect([...CURRENCY_CODES].sort()).toEqual(CURRENCY_CODES);
    expect(CURRENCY_CODES.length).toBeGreaterThan(150);
  });
});

describe("amounts", () => {
  it("accepts amounts with at most the currency's decimals", () => {
    expect(amountProblem("100.50", "USD")).toBeUndefined();
    expect(amountProblem("100000", "VND")).toBeUndefined();
    expect(amountProblem("10.125", "KWD")).toBeUndefined();
    expect(amountProblem("10.0001", "CLF")).toBeUndefined();
    expect(amountProblem("10.0001", "UYW")).toBeUndefined();
    expect(amountProblem("999999999999999.9999", "CLF")).toBeUndefined();
  });

  it("explains what is wrong with an amount", () => {
    expect(amountProblem("100.501", "USD")).toBe("has more than 2 decimal places, the most USD allows");
    expect(amountProblem("100.5", "VND")).toBe("must be a whole number in VND, which has no minor unit");
    expect(amountProblem("0", "USD")).toBe("must be greater than zero");
    expect(amountProblem("0", "USD", { allowZero: true })).toBeUndefined();
    expect(amountProblem("-1", "USD")).toMatch(/decimal string/);
    expect(amountProblem("1e3", "USD")).toMatch(/decimal string/);
    expect(amountProblem("01.00", "USD")).toMatch(/decimal string/);
    expect(amountProblem("10.001", "KWD")).toBeUndefined();
    expect(amountProblem("10.00001", "CLF")).toMatch(/decimal string/);
    expect(amountProblem("1000000000000000", "VND")).toBe("is too large: at most 15 digits before the point");
  });

  it("formats with exactly the currency's minor units, without float error", () => {
    expect(formatAmount("0.1", "USD")).toBe("0.10");
    expect(formatAmount(new Decimal("0.1").plus("0.2"), "USD")).toBe("0.30");
    expect(formatAmount("33333", "VND")).toBe("33333");
    expect(formatAmount("3.3", "KWD")).toBe("3.300");
    expect(formatAmount("3.3", "CLF")).toBe("3.3000");
    expect(formatAmount("10.0001", "UYW")).toBe("10.0001");
    expect(formatMaybe(null, "USD")).toBeNull();
    expect(formatMaybe("12.5", null)).toBe("12.5");
  });

  it("reads decimals from other decimal.js copies (Prisma's) through their string form", () => {
    const foreign = { toString: () => "12.345" };
    expect(toDecimal(foreign).equals(new Decimal("12.345"))).toBe(true);
  });
});

describe("the bound on amounts: what a money column (DECIMAL(19,4)) holds", () => {
  it("is 15 digits before the point and 4 after, the most minor units of any currency", () => {
    expect([MAX_INTEGER_DIGITS, MAX_DECIMALS]).toEqual([15, 4]);
    expect(MAX_AMOUNT.toFixed()).toBe("999999999999999.9999");
    expect(Math.max(...CURRENCY_CODES.map(minorUnits))).toBe(MAX_DECIMALS);
    // The pattern the API document shows (docs/api-conventions.md).
    expect(DECIMAL_STRING.source).toBe(String.raw`^(0|[1-9]\d{0,14})(\.\d{1,4})?$`);
  });

  it.each([
    ["999999999999999.9999", true, true, true],
    ["0", true, true, false],
    ["0.0001", true, true, true],
    ["050.00", false, true, true],
    ["0000000000000000999999999999999", false, true, true],
    ["1000000000000000", false, false, true],
    ["01000000000000000", false, false, true],
    ["1.00001", false, false, true],
    ["1e3", false, false, true],
    ["-1", false, false, true],
  ])("%s: API pattern %s, padded pattern %s, positive %s", (text, api, padded, positive) => {
    expect(DECIMAL_STRING.test(text)).toBe(api);
    expect(ZERO_PADDED_DECIMAL_STRING.test(text)).toBe(padded);
    if (api) expect(POSITIVE_DECIMAL_STRING.test(text)).toBe(positive);
    // Whatever a pattern accepts, a column holds.
    if (padded) expect(new Decimal(text).lte(MAX_AMOUNT)).toBe(true);
  });

  it("says an amount is too large by its digits before the point, leading zeros aside", () => {
    expect(exceedsAmountBound("1000000000000000")).toBe(true);
    expect(exceedsAmountBound("1000000000000000.5")).toBe(true);
    expect(exceedsAmountBound("999999999999999.99999")).toBe(false); // too precise, not too large
    expect(exceedsAmountBound("0000999999999999999")).toBe(false);
    expect(exceedsAmountBound("abc")).toBe(false);
  });
});
