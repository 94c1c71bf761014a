// HTTP in, HTTP out for splits: apply one of the five methods, or preview any of them.
import type { ZodType } from "zod";
import type { ApiRouter } from "../../http/api-router";
import { problems } from "../../http/common-schemas";
import { billIdParams } from "../bills";
import type { SplitService } from "./split.service";
import {
  calculateBody,
  customAmountBody,
  equalBody,
  itemizedBody,
  percentageBody,
  sharesBody,
  normalizeCalculation,
  splitPlanSchema,
  type CalculateInput,
} from "./split.schemas";

const methods: { path: string; method: CalculateInput["method"]; body: ZodType; summary: string }[] = [
  { path: "equal", method: "equal", body: equalBody, summary: "Split equally among all participants" },
  { path: "custom-amount", method: "custom_amount", body: customAmountBody, summary: "Split by amounts that sum to the total" },
  { path: "percentage", method: "percentage", body: percentageBody, summary: "Split by percentages that sum to 100" },
  { path: "shares", method: "shares", body: sharesBody, summary: "Split by weights (e.g. 2:1:1)" },
  { path: "itemized", method: "itemized", body: itemizedBody, summary: "Split by items; extras follow each person's items" },
];

const MINOR_UNITS = "every amount has at most the bill currency's minor units (2 decimal places for USD, 0 for VND, 4 for CLF)";
const LISTED_ONCE = "each participant is listed once";
/** What a split body must also satisfy, given the bill (see ApiRouter's crossFieldRules). */
const splitRules: Record<CalculateInput["method"], Record<string, string>> = {
  equal: {},
  custom_amount: { minor_units: MINOR_UNITS, listed_twice: LISTED_ONCE },
  percentage: { listed_twice: LISTED_ONCE },
  shares: { listed_twice: LISTED_ONCE, weights_all_zero: "at least one weight is greater than zero" },
  itemized: { minor_units: MINOR_UNITS + " (items and extras)" },
};

/** A preview takes any method, so each rule it can break is named once, for every method it applies to. */
const calculateRules: Record<string, string> = {
  minor_units: MINOR_UNITS + " (custom amounts; itemized items and extras)",
  listed_twice: LISTED_ONCE + " (custom amounts, percentages, shares)",
  weights_all_zero: "shares: at least one weight is greater than zero",
};

export function registerSplitRoutes(api: ApiRouter, split: SplitService): void {
  for (const m of methods) {
    api.route({
      method: "post",
      path: `/bills/:billId/split/${m.path}`,
      tag: "split",
      summary: m.summary,
      params: billIdParams,
      body: m.body,
      crossFieldRules: splitRules[m.method],
      responses: { 200: { description: "The applied split", schema: splitPlanSchema }, ...problems(400, 401, 404, 409, 422) },
      handler: async ({ user, params, body }, _req, res) => {
        res.json(await split.apply(user, params.billId, { ...(body as object), method: m.method } as CalculateInput));
      },
    });
  }
  api.route({
    method: "post",
    path: "/bills/:billId/calculate",
    tag: "split",
    summary: "Preview a split without saving it",
    params: billIdParams,
    body: calculateBody,
    crossFieldRules: calculateRules,
    responses: { 200: { description: "The plan", schema: splitPlanSchema }, ...problems(400, 401, 404, 409, 422) },
    handler: async ({ user, params, body }, _req, res) => {
      res.json(await split.calculate(user, params.billId, normalizeCalculation(body)));
    },
  });
}
