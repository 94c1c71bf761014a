import Decimal from "decimal.js";
import fc from "fast-check";
import { minorUnits } from "../../src/domain/currency";
import { BusinessRule, ValidationFailed } from "../../src/domain/errors";
import { allocateMinor, planSplit, type Allocation, type SplitContext, type SplitRequest } from "../../src/domain/split";

const ids = (n: number) => Array.from({ length: n }, (_, i) => `p${String(i).padStart(5, "0")}`);
const ctx = (total: string, currency: string, n: number, seed = "bill-1"): SplitContext => ({
  total: new Decimal(total),
  currency,
  participantIds: ids(n),
  seed,
});
const amounts = (plan: Allocation[]) => plan.map((a) => a.amount.toFixed());
const sum = (plan: Allocation[]) => plan.reduce((s, a) => s.plus(a.amount), new Decimal(0));

function refusal(fn: () => unknown): { kind: string; code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof BusinessRule || err instanceof ValidationFailed) return { kind: err.constructor.name, code: err.code, message: err.message };
    throw err;
  }
  throw new Error("expected a refusal");
}

describe("classic cases", () => {
  it("100.00 USD / 3 -> 33.34, 33.33, 33.33 (one person gets the extra cent)", () => {
    const plan = planSplit(ctx("100.00", "USD", 3), { method: "equal" });
    expect(amounts(plan).sort()).toEqual(["33.33", "33.33", "33.34"]);
    expect(sum(plan).toFixed(2)).toBe("100.00");
  });

  it("100,000 VND / 3 -> 33,334 + 33,333 + 33,333 (no minor unit)", () => {
    expect(amounts(planSplit(ctx("100000", "VND", 3), { method: "equal" })).sort()).toEqual(["33333", "33333", "33334"]);
  });

  it("10.000 KWD / 3 -> 3.334 + 3.333 + 3.333 (three decimals)", () => {
    expect(amounts(planSplit(ctx("10", "KWD", 3), { method: "equal" })).sort()).toEqual(["3.333", "3.333", "3.334"]);
  });

  it.each(["CLF", "UYW"])("10.0000 %s / 3 -> 3.3334 + 3.3333 + 3.3333 (four decimals)", (currency) => {
    const plan = planSplit(ctx("10", currency, 3), { method: "equal" });
    expect(amounts(plan).sort()).toEqual(["3.3333", "3.3333", "3.3334"]);
    expect(sum(plan).toFixed(4)).toBe("10.0000");
    expect(amounts(planSplit(ctx("10.0001", currency, 3), { method: "equal" })).sort()).toEqual(["3.3333", "3.3334", "3.3334"]);
  });

  it.each(["USD", "VND", "KWD", "CLF", "UYW"])("the largest total a column holds in %s splits exactly", (currency) => {
    const units = minorUnits(currency);
    const total = new Decimal("999999999999999.9999").toDecimalPlaces(units, Decimal.ROUND_DOWN);
    for (const n of [3, 7]) {
      const plan = planSplit(ctx(total.toFixed(), currency, n), { method: "equal" });
      expect(sum(plan).equals(total)).toBe(true);
      expect(plan.every((a) => a.amount.decimalPlaces() <= units)).toBe(true);
    }
  });

  it("33.33% x 3 is refused: 0.01 short of 100", () => {
    const c = ctx("100.00", "USD", 3);
    const r = refusal(() => planSplit(c, { method: "percentage", percentages: c.participantIds.map((id) => ({ participantId: id, percentage: "33.33" })) }));
    expect(r).toMatchObject({ kind: "BusinessRule", code: "split_sum_mismatch" });
    expect(r.message).toBe("The percentages sum to 99.99, 0.01 short of 100");
  });

  it("33.34% + 33.33% + 33.33% of 100.00 -> 33.34, 33.33, 33.33", () => {
    const c = ctx("100.00", "USD", 3);
    const plan = planSplit(c, {
      method: "percentage",
      percentages: [
        { participantId: "p00000", percentage: "33.34" },
        { participantId: "p00001", percentage: "33.33" },
        { participantId: "p00002", percentage: "33.33" },
      ],
    });
    expect(amounts(plan)).toEqual(["33.34", "33.33", "33.33"]);
    expect(plan[0].percentage?.toFixed()).toBe("33.34");
  });

  it("a custom split one cent off is refused with the difference", () => {
    const c = ctx("100.00", "USD", 2);
    const r = refusal(() =>
      planSplit(c, {
        method: "custom_amount",
        amounts: [
          { participantId: "p00000", amount: "50.00" },
          { participantId: "p00001", amount: "49.99" },
        ],
      }),
    );
    expect(r.code).toBe("split_sum_mismatch");
    expect(r.message).toBe("The amounts sum to 99.99 USD, 0.01 short of the total of 100.00");
    const over = refusal(() =>
      planSplit(c, {
        method: "custom_amount",
        amounts: [
          { participantId: "p00000", amount: "50.00" },
          { participantId: "p00001", amount: "50.01" },
        ],
      }),
    );
    expect(over.message).toContain("0.01 more than the total");
  });

  it("a custom split that sums exactly is kept as given", () => {
    const plan = planSplit(ctx("100.00", "USD", 2), {
      method: "custom_amount",
      amounts: [
        { participantId: "p00001", amount: "70" },
        { participantId: "p00000", amount: "30.00" },
      ],
    });
    expect(plan.map((a) => [a.participantId, a.amount.toFixed(2)])).toEqual([
      ["p00001", "70.00"],
      ["p00000", "30.00"],
    ]);
  });

  it("shares 2:1:1 of 100.00 -> 50, 25, 25", () => {
    const plan = planSplit(ctx("100.00", "USD", 3), {
      method: "shares",
      shares: [
        { participantId: "p00000", weight: "2" },
        { participantId: "p00001", weight: "1" },
        { participantId: "p00002", weight: "1" },
      ],
    });
    expect(amounts(plan)).toEqual(["50", "25", "25"]);
  });

  it("itemized: shared items are divided, and tax and tip follow each person's items", () => {
    // Items 60 (A) + 30 (B and C) = 90; the other 10.00 is spread 60:15:15.
    const plan = planSplit(ctx("100.00", "USD", 3), {
      method: "itemized",
      items: [
        { name: "steak", amount: "60.00", participantIds: ["p00000"] },
        { name: "pizza", amount: "30.00", participantIds: ["p00001", "p00002"] },
      ],
    });
    expect(plan[0].amount.toFixed(2)).toBe("66.67");
    expect(
      plan
        .slice(1)
        .map((a) => a.amount.toFixed(2))
        .sort(),
    ).toEqual(["16.66", "16.67"]);
    expect(sum(plan).toFixed(2)).toBe("100.00");
  });

  it("itemized: the extras follow each person's exact items, so one cent of an item's rounding never moves a whole share", () => {
    // Found by the adversary: a 0.03 item shared by 4 on a 1000.00 bill gave 333.34/333.33/333.33/0.00.
    for (const item of ["0.03", "0.05"]) {
      const plan = planSplit(ctx("1000.00", "USD", 4), {
        method: "itemized",
        items: [{ amount: item, participantIds: ["p00000", "p00001", "p00002", "p00003"] }],
      });
      expect(sum(plan).toFixed(2)).toBe("1000.00");
      // Everyone's exact share is 250.00: none is more than one cent from it.
      for (const a of plan) expect(a.amount.minus("250").abs().lte("0.01")).toBe(true);
    }
  });

  it("itemized with explicit extras must add up to the total", () => {
    const c = ctx("100.00", "USD", 2);
    const items = [{ amount: "80.00", participantIds: ["p00000", "p00001"] }];
    expect(amounts(planSplit(c, { method: "itemized", items, extras: { tax: "8.00", tip: "12.00" } }))).toEqual(["50", "50"]);
    const r = refusal(() => planSplit(c, { method: "itemized", items, extras: { tax: "8.00" } }));
    expect(r.message).toBe("The items and extras sum to 88.00 USD, 12.00 short of the total of 100.00");
  });

  it("itemized refuses items that exceed the total", () => {
    const r = refusal(() => planSplit(ctx("10.00", "USD", 1), { method: "itemized", items: [{ amount: "12.00", participantIds: ["p00000"] }] }));
    expect(r.message).toBe("The items sum to 12.00 USD, 2.00 more than the total of 10.00");
  });

  it("someone with no items pays nothing in an itemized split", () => {
    const plan = planSplit(ctx("50.00", "USD", 2), { method: "itemized", items: [{ amount: "40.00", participantIds: ["p00001"] }] });
    expect(amounts(plan)).toEqual(["0", "50"]);
  });
});

describe("refusals", () => {
  const c = ctx("100.00", "USD", 2);
  it.each<[string, SplitRequest, string]>([
    [
      "a negative amount",
      {
        method: "custom_amount",
        amounts: [
          { participantId: "p00000", amount: "-1" },
          { participantId: "p00001", amount: "101" },
        ],
      },
      "ValidationFailed",
    ],
    [
      "more decimals than USD allows",
      {
        method: "custom_amount",
        amounts: [
          { participantId: "p00000", amount: "50.001" },
          { participantId: "p00001", amount: "49.999" },
        ],
      },
      "ValidationFailed",
    ],
    [
      "an unknown participant",
      {
        method: "shares",
        shares: [
          { participantId: "p00000", weight: "1" },
          { participantId: "p00001", weight: "1" },
          { participantId: "zz", weight: "1" },
        ],
      },
      "BusinessRule",
    ],
    ["a missing participant", { method: "percentage", percentages: [{ participantId: "p00000", percentage: "100" }] }, "BusinessRule"],
    [
      "a participant listed twice",
      {
        method: "shares",
        shares: [
          { participantId: "p00000", weight: "1" },
          { participantId: "p00000", weight: "1" },
        ],
      },
      "ValidationFailed",
    ],
    ["an empty list", { method: "custom_amount", amounts: [] }, "BusinessRule"],
    [
      "all-zero weights",
      {
        method: "shares",
        shares: [
          { participantId: "p00000", weight: "0" },
          { participantId: "p00001", weight: "0" },
        ],
      },
      "ValidationFailed",
    ],
    [
      "a percentage over 100",
      {
        method: "percentage",
        percentages: [
          { participantId: "p00000", percentage: "150" },
          { participantId: "p00001", percentage: "-50" },
        ],
      },
      "ValidationFailed",
    ],
    ["an item shared by nobody", { method: "itemized", items: [{ amount: "10", participantIds: [] }] }, "ValidationFailed"],
  ])("refuses %s", (_label, request, kind) => {
    expect(refusal(() => planSplit(c, request)).kind).toBe(kind);
  });

  it("refuses a bill without participants", () => {
    expect(refusal(() => planSplit(ctx("10.00", "USD", 0), { method: "equal" })).code).toBe("no_participants");
  });

  it("names the missing participants in the message", () => {
    expect(refusal(() => planSplit(c, { method: "percentage", percentages: [{ participantId: "p00000", percentage: "100" }] })).message).toBe(
      "percentages: every participant must be listed; missing p00001",
    );
  });
});

describe("properties", () => {
  const currencies = ["USD", "EUR", "VND", "JPY", "KWD", "BHD", "GBP", "CLF", "UYW"];
  const totalIn = (currency: string) =>
    fc.bigInt({ min: 0n, max: 10n ** 12n }).map((minor) => new Decimal(minor.toString()).dividedBy(new Decimal(10).pow(minorUnits(currency))));
  const scenario = fc
    .record({ currency: fc.constantFrom(...currencies), n: fc.integer({ min: 1, max: 1000 }), seed: fc.string({ maxLength: 12 }) })
    .chain(({ currency, n, seed }) =>
      fc.record({
        currency: fc.constant(currency),
        seed: fc.constant(seed),
        total: totalIn(currency),
        weights: fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: n, maxLength: n }).filter((w) => w.some((x) => x > 0)),
        shuffle: fc.array(fc.integer(), { minLength: n, maxLength: n }),
      }),
    );

  const shuffled = <T>(items: T[], keys: number[]) =>
    items
      .map((item, i) => ({ item, k: keys[i] }))
      .sort((a, b) => a.k - b.k)
      .map((x) => x.item);

  it("an equal split sums exactly to the total, is never negative and differs by at most one minor unit", () => {
    fc.assert(
      fc.property(scenario, ({ currency, total, weights, seed }) => {
        const c: SplitContext = { total, currency, participantIds: ids(weights.length), seed };
        const plan = planSplit(c, { method: "equal" });
        const unit = new Decimal(10).pow(-minorUnits(currency));
        expect(sum(plan).equals(total)).toBe(true);
        const values = plan.map((a) => a.amount);
        expect(values.every((v) => !v.isNegative() && v.decimalPlaces() <= minorUnits(currency))).toBe(true);
        expect(
          Decimal.max(...values)
            .minus(Decimal.min(...values))
            .lessThanOrEqualTo(unit),
        ).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("totals up to the largest a money column holds split exactly, by equal shares and by weights", () => {
    const large = fc.constantFrom(...currencies).chain((currency) =>
      fc.record({
        currency: fc.constant(currency),
        // Any total the API accepts in the currency: up to 15 digits before the point.
        minor: fc.bigInt({ min: 1n, max: 10n ** BigInt(15 + minorUnits(currency)) - 1n }),
        weights: fc.array(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 1, maxLength: 50 }),
      }),
    );
    fc.assert(
      fc.property(large, ({ currency, minor, weights }) => {
        const total = new Decimal(minor.toString()).dividedBy(new Decimal(10).pow(minorUnits(currency)));
        const c: SplitContext = { total, currency, participantIds: ids(weights.length), seed: "large" };
        const shares = c.participantIds.map((id, i) => ({ participantId: id, weight: String(weights[i]) }));
        for (const plan of [planSplit(c, { method: "equal" }), planSplit(c, { method: "shares", shares })]) {
          expect(sum(plan).equals(total)).toBe(true);
          expect(plan.every((a) => !a.amount.isNegative() && a.amount.decimalPlaces() <= minorUnits(currency))).toBe(true);
        }
      }),
      { numRuns: 150 },
    );
  });

  it("a shares split sums exactly, is never negative, deterministic and independent of input order", () => {
    fc.assert(
      fc.property(scenario, ({ currency, total, weights, seed, shuffle }) => {
        const people = ids(weights.length);
        const c: SplitContext = { total, currency, participantIds: people, seed };
        const shares = people.map((id, i) => ({ participantId: id, weight: String(weights[i]) }));
        const plan = planSplit(c, { method: "shares", shares });
        expect(sum(plan).equals(total)).toBe(true);
        expect(plan.every((a) => !a.amount.isNegative())).toBe(true);
        const byId = (p: Allocation[]) => Object.fromEntries(p.map((a) => [a.participantId, a.amount.toFixed()]));
        expect(byId(planSplit(c, { method: "shares", shares }))).toEqual(byId(plan));
        const reordered = { ...c, participantIds: shuffled(people, shuffle) };
        expect(byId(planSplit(reordered, { method: "shares", shares: shuffled(shares, shuffle) }))).toEqual(byId(plan));
        // A person with no weight pays nothing; every share is within one unit of its exact proportion.
        const totalWeight = weights.reduce((a, b) => a + b, 0);
        const unit = new Decimal(10).pow(-minorUnits(currency));
        plan.forEach((a) => {
          const w = weights[people.indexOf(a.participantId)];
          const exact = total.times(w).dividedBy(totalWeight);
          expect(a.amount.minus(exact).abs().lessThan(unit)).toBe(true);
        });
      }),
      { numRuns: 150 },
    );
  });

  it("an equal split does not depend on the order of the participants", () => {
    fc.assert(
      fc.property(scenario, ({ currency, total, weights, seed, shuffle }) => {
        const people = ids(weights.length);
        const a = planSplit({ total, currency, participantIds: people, seed }, { method: "equal" });
        const b = planSplit({ total, currency, participantIds: shuffled(people, shuffle), seed }, { method: "equal" });
        const byId = (p: Allocation[]) => Object.fromEntries(p.map((x) => [x.participantId, x.amount.toFixed()]));
        expect(byId(b)).toEqual(byId(a));
      }),
      { numRuns: 100 },
    );
  });

  it("an itemized split sums exactly to the total", () => {
    const items = fc.array(
      fc.record({ cents: fc.integer({ min: 0, max: 100_000 }), people: fc.uniqueArray(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 10 }) }),
      { minLength: 1, maxLength: 20 },
    );
    fc.assert(
      fc.property(items, fc.integer({ min: 0, max: 50_000 }), (list, extraCents) => {
        const people = ids(10);
        const subtotal = list.reduce((s, i) => s + i.cents, 0);
        const total = new Decimal(subtotal + extraCents).dividedBy(100);
        if (total.isZero()) return;
        const request: SplitRequest = {
          method: "itemized",
          items: list.map((i) => ({ amount: new Decimal(i.cents).dividedBy(100).toFixed(2), participantIds: i.people.map((p) => people[p]) })),
        };
        const eaters = new Set(list.filter((i) => i.cents > 0).flatMap((i) => i.people));
        if (extraCents > 0 && eaters.size === 0) return; // nobody to carry the extras: refused, tested above
        const plan = planSplit({ total, currency: "USD", participantIds: people, seed: "s" }, request);
        expect(sum(plan).equals(total)).toBe(true);
        expect(plan.every((a) => !a.amount.isNegative())).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});

describe("allocateMinor", () => {
  it("gives leftover units to the largest remainders first", () => {
    // 10 units by 1:1:3 -> exact 2, 2, 6: no leftover; 11 units -> 2.2, 2.2, 6.6 -> 6.6 rounds up.
    expect(allocateMinor(11n, [1n, 1n, 3n], ["a", "b", "c"], "s")).toEqual([2n, 2n, 7n]);
  });

  it("breaks ties by a seeded rotation over the ids, so the extra unit moves between bills but not within one", () => {
    const people = ["a", "b", "c"];
    const winners = new Set<number>();
    for (let seed = 0; seed < 30; seed += 1) {
      const shares = allocateMinor(1n, [1n, 1n, 1n], people, `bill-${seed}`);
      expect(allocateMinor(1n, [1n, 1n, 1n], people, `bill-${seed}`)).toEqual(shares);
      winners.add(shares.indexOf(1n));
    }
    expect(winners.size).toBe(3);
  });
});
