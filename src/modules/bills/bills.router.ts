// HTTP in, HTTP out for bill split requests. Parsing and shaping only; rules live in the service.
import { z } from "zod";
import type { ApiRouter } from "../../http/api-router";
import { problems } from "../../http/common-schemas";
import { CURSOR_RULES } from "../../http/cursor";
import type { BillsService } from "./bills.service";
import {
  billAmountRules,
  billDetailsSchema,
  billIdParams,
  billListSchema,
  billSchema,
  createBillBody,
  idempotencyHeaders,
  listBillsQuery,
  updateBillBody,
} from "./bills.schemas";

const cancelBody = z.strictObject({ reason: z.string().trim().max(300).optional() }).meta({ id: "CancelBill", example: { reason: "Entered twice" } });

export function registerBillRoutes(api: ApiRouter, bills: BillsService): void {
  api
    .route({
      method: "post",
      path: "/bills",
      tag: "bills",
      summary: "Create a bill split request",
      headers: idempotencyHeaders,
      body: createBillBody,
      crossFieldRules: billAmountRules,
      responses: {
        201: { description: "Created", schema: billSchema },
        ...problems(400, 401, 413, 422),
      },
      handler: async ({ user, body, headers }, _req, res) => {
        const result = await bills.createBill(user, body, headers["idempotency-key"]);
        if (result.replayed) res.setHeader("Idempotent-Replayed", "true");
        res.status(result.status).location(`bills/${result.body.id}`).json(result.body);
      },
    })
    .route({
      method: "get",
      path: "/bills",
      tag: "bills",
      summary: "List the caller's bills, newest first",
      query: listBillsQuery,
      crossFieldRules: CURSOR_RULES,
      responses: { 200: { description: "One page of bills", schema: billListSchema }, ...problems(400, 401) },
      handler: async ({ user, query }, _req, res) => {
        res.json(await bills.listBills(user, query));
      },
    })
    .route({
      method: "get",
      path: "/bills/:billId",
      tag: "bills",
      summary: "A bill with its participants and amounts",
      params: billIdParams,
      responses: { 200: { description: "The bill", schema: billDetailsSchema }, ...problems(400, 401, 404) },
      handler: async ({ user, params }, _req, res) => {
        res.json(await bills.getBill(user, params.billId));
      },
    })
    .route({
      method: "put",
      path: "/bills/:billId",
      tag: "bills",
      summary: "Change a bill's details",
      params: billIdParams,
      body: updateBillBody,
      crossFieldRules: billAmountRules,
      responses: { 200: { description: "The updated bill", schema: billDetailsSchema }, ...problems(400, 401, 404, 409) },
      handler: async ({ user, params, body }, _req, res) => {
        res.json(await bills.updateBill(user, params.billId, body));
      },
    })
    .route({
      method: "delete",
      path: "/bills/:billId",
      tag: "bills",
      summary: "Cancel a bill (its history is kept)",
      params: billIdParams,
      body: cancelBody.optional(),
      responses: { 200: { description: "The cancelled bill", schema: billDetailsSchema }, ...problems(400, 401, 404, 409) },
      handler: async ({ user, params, body }, _req, res) => {
        res.json(await bills.cancelBill(user, params.billId, body?.reason));
      },
    });
}
