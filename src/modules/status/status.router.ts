// HTTP in, HTTP out for status, history, the summary report and the CSV export.
import { z } from "zod";
import type { ApiRouter } from "../../http/api-router";
import { BILL_STATUSES } from "../../domain/bill-status";
import { dateSchema, problems } from "../../http/common-schemas";
import { billIdParams } from "../bills";
import type { StatusService } from "./status.service";

const money = z.string().nullable();

const billStatusSchema = z
  .object({
    billId: z.uuid(),
    status: z.enum(BILL_STATUSES),
    currency: z.string().nullable(),
    totalAmount: money,
    splitMethod: z.string().nullable(),
    needsResplit: z.boolean(),
    images: z.object({ billImage: z.string(), groupImage: z.string(), aiProcessed: z.boolean() }),
    participants: z.array(
      z.object({
        id: z.uuid(),
        name: z.string(),
        isCreator: z.boolean(),
        paymentStatus: z.string(),
        amountToPay: money,
        paidAmount: z.string().meta({ description: "Received from them: the sum of their payments" }),
        outstandingAmount: z.string().meta({ description: "What they still owe" }),
        refundDue: z.string().meta({ description: "Received beyond their share (everything, on a cancelled bill or once removed): owed back" }),
        paidAt: z.string().nullable(),
        removedAt: z
          .string()
          .nullable()
          .meta({ description: "When the creator removed them; a removed participant stays in the report, owes nothing, and is owed back all they paid" }),
      }),
    ),
    totals: z.object({
      paidAmount: z.string().meta({ description: "Settled: appliedAmount plus the creator's own share" }),
      unpaidAmount: z.string().meta({ description: "The same as outstandingAmount" }),
      creatorShareAmount: z.string(),
      receivedAmount: z.string().meta({ description: "Every payment received: appliedAmount + refundDueAmount" }),
      appliedAmount: z.string().meta({ description: "Received and counted toward the bill" }),
      outstandingAmount: z.string(),
      refundDueAmount: z.string(),
      paidCount: z.number().int(),
      unpaidCount: z.number().int(),
    }),
    completedAt: z.string().nullable(),
  })
  .meta({ id: "BillStatus" });

const historySchema = z
  .object({
    billId: z.uuid(),
    items: z.array(
      z.object({
        at: z.string(),
        entity: z.enum(["bill", "participant", "payment_request"]),
        participantId: z.string().nullable(),
        participantName: z.string().nullable(),
        previousStatus: z.string().nullable(),
        newStatus: z.string(),
        changedBy: z.string().meta({ description: "A user id, or webhook / system" }),
        reason: z.string().nullable(),
        reasonCode: z.string().nullable().meta({
          description: "Why, as a stable code to decide on (docs/money.md lists them); the reason beside it is prose for people",
          example: "superseded",
        }),
      }),
    ),
  })
  .meta({ id: "StatusHistory" });

const summaryQuery = z
  .strictObject({ from: dateSchema.optional(), to: dateSchema.optional() })
  .refine((q) => !q.from || !q.to || q.from <= q.to, { message: "from must not be after to", path: ["from"], params: { code: "from_after_to" } });

const summarySchema = z
  .object({
    from: z.string().nullable(),
    to: z.string().nullable(),
    currencies: z.array(
      z.object({
        currency: z.string(),
        billCount: z.number().int().meta({ description: "Bills not cancelled" }),
        totalAmount: z.string(),
        owedToYou: z.string().meta({ description: "Others' shares of the bills not cancelled" }),
        collected: z.string().meta({ description: "Received and applied to those shares" }),
        outstanding: z.string(),
        received: z.string().meta({ description: "Every payment received, cancelled bills included" }),
        refundDue: z.string().meta({ description: "Owed back: overpayments, and everything received on cancelled bills" }),
      }),
    ),
  })
  .meta({ id: "SummaryReport" });

export function registerStatusRoutes(api: ApiRouter, status: StatusService): void {
  api
    .route({
      method: "get",
      path: "/bills/:billId/status",
      tag: "status",
      summary: "Bill status, image processing, each participant's payment, and paid and unpaid totals",
      params: billIdParams,
      responses: { 200: { description: "Status", schema: billStatusSchema }, ...problems(400, 401, 404) },
      handler: async ({ user, params }, _req, res) => {
        res.json(await status.status(user, params.billId));
      },
    })
    .route({
      method: "get",
      path: "/bills/:billId/status-history",
      tag: "status",
      summary: "Every transition of the bill and its participants, oldest first",
      params: billIdParams,
      responses: { 200: { description: "History", schema: historySchema }, ...problems(400, 401, 404) },
      handler: async ({ user, params }, _req, res) => {
        res.json(await status.history(user, params.billId));
      },
    })
    .route({
      method: "get",
      path: "/bills/:billId/export.csv",
      tag: "status",
      summary: "The bill as CSV: participants, amounts, status, paid at",
      params: billIdParams,
      responses: { 200: { description: "CSV", schema: z.string(), contentType: "text/csv" }, ...problems(400, 401, 404) },
      handler: async ({ user, params }, _req, res) => {
        const csv = await status.exportCsv(user, params.billId);
        res.type("text/csv; charset=utf-8").attachment(`bill-${params.billId}.csv`).send(csv);
      },
    })
    .route({
      method: "get",
      path: "/reports/summary",
      tag: "status",
      summary: "Across your bills, by currency: owed to you, collected, outstanding (optionally for a date range)",
      query: summaryQuery,
      crossFieldRules: { from_after_to: "from must not be after to" },
      responses: { 200: { description: "Summary", schema: summarySchema }, ...problems(400, 401) },
      handler: async ({ user, query }, _req, res) => {
        res.json(await status.summary(user, query));
      },
    });
}
