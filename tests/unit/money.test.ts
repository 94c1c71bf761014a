import Decimal from "decimal.js";
import { CURRENCY_CODES, isCurrencyCode, minorUnits } from "../../src/domain/currency";
import { amountProblem, formatAmount, formatMaybe, toDecimal } from "../../src/domain/money";

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
  });

  it("explains what is wrong with an amount", () => {
    expect(amountProblem("100.501", "USD")).toBe("has more than 2 decimal places, the most USD allows");
    expect(amountProblem("100.5", "VND")).toBe("must be a whole number in VND, which has no minor unit");
    expect(amountProblem("0", "USD")).toBe("must be greater than zero");
    expect(amountProblem("0", "USD", { allowZero: true })).toBeUndefined();
    expect(amountProblem("-1", "USD")).toMatch(/decimal string/);
    expect(amountProblem("1e3", "USD")).toMatch(/decimal string/);
    expect(amountProblem("01.00", "USD")).toMatch(/decimal string/);
  });

  it("formats with exactly the currency's minor units, without float error", () => {
    expect(formatAmount("0.1", "USD")).toBe("0.10");
    expect(formatAmount(new Decimal("0.1").plus("0.2"), "USD")).toBe("0.30");
    expect(formatAmount("33333", "VND")).toBe("33333");
    expect(formatAmount("3.3", "KWD")).toBe("3.300");
    expect(formatMaybe(null, "USD")).toBeNull();
    expect(formatMaybe("12.5", null)).toBe("12.5");
  });

  it("reads decimals from other decimal.js copies (Prisma's) through their string form", () => {
    const foreign = { toString: () => "12.345" };
    expect(toDecimal(foreign).equals(new Decimal("12.345"))).toBe(true);
  });
});
