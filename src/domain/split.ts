// The one definition of who owes what. Pure: no Express, no Prisma.
//
// Everything is computed in integer minor units (cents, dong, fils) with BigInt, so there is no
// rounding drift: each share is the floor of its exact proportion, and the units left over (fewer
// than the number of people) go one each to the largest remainders. That is the largest-remainder
// (Hamilton) method: the shares always sum exactly to the total and no share is more than one
// unit away from its exact proportion.
//
// Ties between equal remainders are broken without randomness and without stored state, as Spliit
// does: participants are ordered by id (so the order they are given in never matters), and the
// tie-break starts at a position derived from a seed (the bill id). The same bill, people and
// weights always give the same plan, and re-running a split with nothing changed moves no cent,
// while the "extra cent" does not always land on the same person across different bills.
import { createHash } from "node:crypto";
import Decimal from "decimal.js";
import { minorUnits } from "./currency";
import { BusinessRule, ValidationFailed, type FieldIssue } from "./errors";
import { decimalPlaces, DECIMAL_STRING } from "./money";

export type SplitMethod = "equal" | "custom_amount" | "percentage" | "shares" | "itemized";

export interface Allocation {
  participantId: string;
  amount: Decimal;
  percentage?: Decimal;
  weight?: Decimal;
}

export interface SplitContext {
  total: Decimal;
  currency: string;
  /** Everyone on the bill: a split must cover exactly these people. */
  participantIds: readonly string[];
  /** Seeds the tie-break; the bill id. */
  seed: string;
}

export type SplitRequest =
  | { method: "equal" }
  | { method: "custom_amount"; amounts: { participantId: string; amount: string }[] }
  | { method: "percentage"; percentages: { participantId: string; percentage: string }[] }
  | { method: "shares"; shares: { participantId: string; weight: string }[] }
  | { method: "itemized"; items: ItemizedItem[]; extras?: { tax?: string; serviceCharge?: string; tip?: string } };

export interface ItemizedItem {
  name?: string;
  amount: string;
  participantIds: string[];
}

const MAX_WEIGHT_DECIMALS = 4;

/**
 * Splits `total` (a whole number of minor units) in proportion to `weights` (non-negative integers,
 * not all zero). `ids` name the recipients; ties go in id order from a seeded starting point.
 */
export function allocateMinor(total: bigint, weights: readonly bigint[], ids: readonly string[], seed: string): bigint[] {
  const n = weights.length;
  if (n === 0) throw new RangeError("nobody to allocate to");
  const sum = weights.reduce((a, b) => a + b, 0n);
  if (sum <= 0n) throw new RangeError("weights must not all be zero");
  const shares = new Array<bigint>(n);
  const remainders = new Array<bigint>(n);
  let given = 0n;
  for (let i = 0; i < n; i += 1) {
    const exact = total * weights[i];
    shares[i] = exact / sum;
    remainders[i] = exact % sum;
    given += shares[i];
  }
  let leftover = Number(total - given);
  if (leftover === 0) return shares;

  // Rank for ties: position in id order, rotated by the seed.
  const byId = ids.map((_, i) => i).sort((a, b) => (ids[a] < ids[b] ? -1 : ids[a] > ids[b] ? 1 : 0));
  const start = seedOffset(seed, n);
  const tieRank = new Array<number>(n);
  byId.forEach((index, position) => {
    tieRank[index] = (position - start + n) % n;
  });
  const order = remainders
    .map((_, i) => i)
    .filter((i) => remainders[i] > 0n)
    .sort((a, b) => (remainders[a] === remainders[b] ? tieRank[a] - tieRank[b] : remainders[a] > remainders[b] ? -1 : 1));
  for (const i of order) {
    if (leftover === 0) break;
    shares[i] += 1n;
    leftover -= 1;
  }
  return shares;
}

function seedOffset(seed: string, n: number): number {
  return Number(BigInt(`0x${createHash("sha256").update(seed).digest("hex").slice(0, 12)}`) % BigInt(n));
}

const toMinor = (amount: Decimal, units: number) => BigInt(amount.times(new Decimal(10).pow(units)).toFixed(0));
const fromMinor = (minor: bigint, units: number) => new Decimal(minor.toString()).dividedBy(new Decimal(10).pow(units));

/** Computes the plan for a split request. Throws ValidationFailed (400) or BusinessRule (422). */
export function planSplit(ctx: SplitContext, request: SplitRequest): Allocation[] {
  const units = minorUnits(ctx.currency);
  // The input first (400), then whether the bill allows it (422): a malformed request is told so
  // whatever the bill's state.
  checkInput(request, units, ctx.currency);
  if (ctx.participantIds.length === 0) {
    throw new BusinessRule("The bill has no participants to split between; add participants first", "no_participants");
  }
  const totalMinor = toMinor(ctx.total, units);
  const ids = ctx.participantIds;

  switch (request.method) {
    case "equal": {
      const shares = allocateMinor(
        totalMinor,
        ids.map(() => 1n),
        ids,
        ctx.seed,
      );
      return ids.map((id, i) => ({ participantId: id, amount: fromMinor(shares[i], units) }));
    }
    case "shares": {
      const entries = coverEveryone(ctx, request.shares, "shares");
      const weights = parseDecimals(
        entries.map((e) => e.weight),
        "shares",
        "weight",
        MAX_WEIGHT_DECIMALS,
      );
      if (weights.every((w) => w.isZero())) throw new ValidationFailed([{ path: "shares", message: "weights must not all be zero" }]);
      const shares = allocateMinor(
        totalMinor,
        scaleToIntegers(weights),
        entries.map((e) => e.participantId),
        ctx.seed,
      );
      return entries.map((e, i) => ({ participantId: e.participantId, amount: fromMinor(shares[i], units), weight: weights[i] }));
    }
    case "percentage": {
      const entries = coverEveryone(ctx, request.percentages, "percentages");
      const percentages = parseDecimals(
        entries.map((e) => e.percentage),
        "percentages",
        "percentage",
        4,
      );
      const over = percentages.findIndex((p) => p.greaterThan(100));
      if (over >= 0) throw new ValidationFailed([{ path: `percentages.${over}.percentage`, message: "must be at most 100" }]);
      const sum = percentages.reduce((a, b) => a.plus(b), new Decimal(0));
      if (!sum.equals(100)) {
        const diff = sum.minus(100);
        throw new BusinessRule(
          `The percentages sum to ${sum.toFixed()}, ${diff.abs().toFixed()} ${diff.isNegative() ? "short of" : "more than"} 100`,
          "split_sum_mismatch",
          { expected: "100", actual: sum.toFixed(), difference: diff.toFixed() },
        );
      }
      const shares = allocateMinor(
        totalMinor,
        scaleToIntegers(percentages),
        entries.map((e) => e.participantId),
        ctx.seed,
      );
      return entries.map((e, i) => ({ participantId: e.participantId, amount: fromMinor(shares[i], units), percentage: percentages[i] }));
    }
    case "custom_amount": {
      const entries = coverEveryone(ctx, request.amounts, "amounts");
      const amounts = parseDecimals(
        entries.map((e) => e.amount),
        "amounts",
        "amount",
        units,
        ctx.currency,
      );
      const sum = amounts.reduce((a, b) => a.plus(b), new Decimal(0));
      if (!sum.equals(ctx.total)) {
        const diff = sum.minus(ctx.total);
        throw new BusinessRule(
          `The amounts sum to ${sum.toFixed(units)} ${ctx.currency}, ${diff.abs().toFixed(units)} ${diff.isNegative() ? "short of" : "more than"} the total of ${ctx.total.toFixed(units)}`,
          "split_sum_mismatch",
          { expected: ctx.total.toFixed(units), actual: sum.toFixed(units), difference: diff.toFixed(units) },
        );
      }
      return entries.map((e, i) => ({ participantId: e.participantId, amount: amounts[i] }));
    }
    case "itemized":
      return planItemized(ctx, request, units, totalMinor);
  }
}

/** Items are divided among the people who shared them; tax, service and tip follow each person's items. */
function planItemized(ctx: SplitContext, request: Extract<SplitRequest, { method: "itemized" }>, units: number, totalMinor: bigint): Allocation[] {
  const known = new Set(ctx.participantIds);
  if (request.items.length === 0) throw new ValidationFailed([{ path: "items", message: "must list at least one item" }]);
  const itemAmounts = parseDecimals(
    request.items.map((i) => i.amount),
    "items",
    "amount",
    units,
    ctx.currency,
  );
  const perPerson = new Map<string, bigint>(ctx.participantIds.map((id) => [id, 0n]));
  // Each person's exact item subtotal (a shared item divided before any rounding), scaled by the
  // least common multiple of the sharers' counts so it is a whole number: what tax, service and tip
  // follow. Following the rounded item shares instead turned one cent of rounding into a whole
  // share of the extras (a 0.03 item shared by 4 on a 1000.00 bill gave one of them 0.00).
  const scale = request.items.reduce((l, item) => lcm(l, BigInt(Math.max(new Set(item.participantIds).size, 1))), 1n);
  const exact = new Map<string, bigint>(ctx.participantIds.map((id) => [id, 0n]));
  request.items.forEach((item, index) => {
    const people = [...new Set(item.participantIds)];
    if (people.length === 0) throw new ValidationFailed([{ path: `items.${index}.participantIds`, message: "must name at least one participant" }]);
    const unknown = people.find((id) => !known.has(id));
    if (unknown) throw new BusinessRule(`items.${index}: ${unknown} is not a participant of this bill`, "unknown_participant");
    const itemMinor = toMinor(itemAmounts[index], units);
    const split = allocateMinor(
      itemMinor,
      people.map(() => 1n),
      people,
      `${ctx.seed}:${index}`,
    );
    people.forEach((id, i) => perPerson.set(id, (perPerson.get(id) ?? 0n) + split[i]));
    people.forEach((id) => exact.set(id, (exact.get(id) ?? 0n) + (itemMinor * scale) / BigInt(people.length)));
  });
  const subtotal = [...perPerson.values()].reduce((a, b) => a + b, 0n);

  let extrasMinor: bigint;
  if (request.extras) {
    const names = ["tax", "serviceCharge", "tip"] as const;
    const given = names.filter((k) => request.extras?.[k] !== undefined);
    const values = parseDecimals(
      given.map((k) => request.extras![k] as string),
      "extras",
      "",
      units,
      ctx.currency,
      given,
    );
    extrasMinor = values.reduce((a, v) => a + toMinor(v, units), 0n);
    if (subtotal + extrasMinor !== totalMinor) {
      const diff = fromMinor(subtotal + extrasMinor - totalMinor, units);
      throw new BusinessRule(
        `The items and extras sum to ${fromMinor(subtotal + extrasMinor, units).toFixed(units)} ${ctx.currency}, ${diff.abs().toFixed(units)} ${diff.isNegative() ? "short of" : "more than"} the total of ${ctx.total.toFixed(units)}`,
        "split_sum_mismatch",
        { expected: ctx.total.toFixed(units), actual: fromMinor(subtotal + extrasMinor, units).toFixed(units), difference: diff.toFixed(units) },
      );
    }
  } else {
    // Without explicit extras, whatever the total has beyond the items is tax, service and tip.
    extrasMinor = totalMinor - subtotal;
    if (extrasMinor < 0n) {
      const diff = fromMinor(-extrasMinor, units);
      throw new BusinessRule(
        `The items sum to ${fromMinor(subtotal, units).toFixed(units)} ${ctx.currency}, ${diff.toFixed(units)} more than the total of ${ctx.total.toFixed(units)}`,
        "split_sum_mismatch",
        { expected: ctx.total.toFixed(units), actual: fromMinor(subtotal, units).toFixed(units), difference: diff.toFixed(units) },
      );
    }
  }
  const ids = ctx.participantIds;
  const extras =
    extrasMinor > 0n
      ? allocateMinor(
          extrasMinor,
          ids.map((id) => exact.get(id) ?? 0n),
          ids,
          `${ctx.seed}:extras`,
        )
      : ids.map(() => 0n);
  return ids.map((id, i) => ({ participantId: id, amount: fromMinor((perPerson.get(id) ?? 0n) + extras[i], units) }));
}

/** What can be wrong with the request by itself (given the currency): each number's form, duplicates, zero weights. */
function checkInput(request: SplitRequest, units: number, currency: string): void {
  switch (request.method) {
    case "equal":
      return;
    case "shares":
      listedOnce(request.shares, "shares");
      if (
        parseDecimals(
          request.shares.map((e) => e.weight),
          "shares",
          "weight",
          MAX_WEIGHT_DECIMALS,
        ).every((w) => w.isZero())
      ) {
        throw new ValidationFailed([{ path: "shares", message: "weights must not all be zero", code: "weights_all_zero" }]);
      }
      return;
    case "percentage": {
      listedOnce(request.percentages, "percentages");
      const over = parseDecimals(
        request.percentages.map((e) => e.percentage),
        "percentages",
        "percentage",
        4,
      ).findIndex((p) => p.greaterThan(100));
      if (over >= 0) throw new ValidationFailed([{ path: `percentages.${over}.percentage`, message: "must be at most 100" }]);
      return;
    }
    case "custom_amount":
      listedOnce(request.amounts, "amounts");
      parseDecimals(
        request.amounts.map((e) => e.amount),
        "amounts",
        "amount",
        units,
        currency,
      );
      return;
    case "itemized":
      parseDecimals(
        request.items.map((i) => i.amount),
        "items",
        "amount",
        units,
        currency,
      );
      if (request.extras) {
        const given = (["tax", "serviceCharge", "tip"] as const).filter((k) => request.extras?.[k] !== undefined);
        parseDecimals(
          given.map((k) => request.extras![k] as string),
          "extras",
          "",
          units,
          currency,
          given,
        );
      }
  }
}

function listedOnce(entries: { participantId: string }[], field: string): void {
  const seen = new Set<string>();
  const issues: FieldIssue[] = [];
  entries.forEach((e, i) => {
    if (seen.has(e.participantId)) issues.push({ path: `${field}.${i}.participantId`, message: "is listed twice", code: "listed_twice" });
    seen.add(e.participantId);
  });
  if (issues.length) throw new ValidationFailed(issues);
}

/** The request must name every participant of the bill exactly once, and nobody else. */
function coverEveryone<T extends { participantId: string }>(ctx: SplitContext, entries: T[], field: string): T[] {
  if (entries.length === 0) throw new BusinessRule(`${field}: the list is empty; name every participant of the bill`, "empty_split");
  const known = new Set(ctx.participantIds);
  const seen = new Set(entries.map((e) => e.participantId));
  const unknown = entries.filter((e) => !known.has(e.participantId)).map((e) => e.participantId);
  if (unknown.length) {
    throw new BusinessRule(
      `${field}: ${unknown.join(", ")} ${unknown.length === 1 ? "is not a participant" : "are not participants"} of this bill`,
      "unknown_participant",
      { unknown },
    );
  }
  const missing = ctx.participantIds.filter((id) => !seen.has(id));
  if (missing.length) {
    throw new BusinessRule(`${field}: every participant must be listed; missing ${missing.join(", ")}`, "missing_participant", { missing });
  }
  return entries;
}

function parseDecimals(values: string[], field: string, key: string, maxDecimals: number, currency?: string, names?: readonly string[]): Decimal[] {
  const issues: FieldIssue[] = [];
  const parsed = values.map((value, i) => {
    const path = names ? `${field}.${names[i]}` : `${field}.${i}.${key}`;
    if (typeof value !== "string" || !DECIMAL_STRING.test(value)) {
      issues.push({ path, message: 'must be a non-negative decimal string such as "12.50"' });
      return new Decimal(0);
    }
    if (decimalPlaces(value) > maxDecimals) {
      issues.push({
        path,
        ...(currency ? { code: "minor_units" } : {}),
        message: currency
          ? maxDecimals === 0
            ? `must be a whole number in ${currency}, which has no minor unit`
            : `has more than ${maxDecimals} decimal places, the most ${currency} allows`
          : `has more than ${maxDecimals} decimal places`,
      });
    }
    return new Decimal(value);
  });
  if (issues.length) throw new ValidationFailed(issues);
  return parsed;
}

/** Weights with decimals become integers by a common power of ten (ratios unchanged). */
function scaleToIntegers(weights: Decimal[]): bigint[] {
  const places = Math.max(0, ...weights.map((w) => w.decimalPlaces()));
  const factor = new Decimal(10).pow(places);
  return weights.map((w) => BigInt(w.times(factor).toFixed(0)));
}

function gcd(a: bigint, b: bigint): bigint {
  return b === 0n ? a : gcd(b, a % b);
}

function lcm(a: bigint, b: bigint): bigint {
  return (a / gcd(a, b)) * b;
}
