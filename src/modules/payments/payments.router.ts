// HTTP in, HTTP out for payment requests, offline payments and the payment system's webhook.
import type { RequestHandler } from "express";
import { PAYMENT_SIGNATURE_HEADER, type PaymentEventBody } from "../../adapters/payments/payment-system";
import type { ApiRouter } from "../../http/api-router";
import { problems } from "../../http/common-schemas";
import { billDetailsSchema, billIdParams, type BillsService } from "../bills";
import type { OfflinePaymentsService } from "./offline-payments.service";
import type { PaymentRequestsService } from "./payment-requests.service";
import type { PaymentWebhookService } from "./webhook.service";

export interface PaymentServices {
  requests: PaymentRequestsService;
  offline: OfflinePaymentsService;
  webhook: PaymentWebhookService;
}
import { markAsPaidBody, participantIdParams, paymentEventBody, requestPaymentsResult, webhookAnswer } from "./payments.schemas";

export function registerPaymentRoutes(api: ApiRouter, payments: PaymentServices, bills: BillsService, verifyPaymentSignature: RequestHandler): void {
  api
    .route({
      method: "post",
      path: "/bills/:billId/request-payments",
      tag: "payments",
      summary: "Ask everyone who owes money to pay (in the app, or by link and QR code)",
      description: "Needs a split covering the whole total. Safe to call again: nobody is asked twice for the same amount.",
      params: billIdParams,
      responses: { 200: { description: "The requests created, and who was skipped and why", schema: requestPaymentsResult }, ...problems(400, 401, 404, 409) },
      handler: async ({ user, params }, _req, res) => {
        res.json(await payments.requests.requestPayments(user, params.billId));
      },
    })
    .route({
      method: "post",
      path: "/bills/:billId/participants/:participantId/request-payment",
      tag: "payments",
      summary: "Ask one participant to pay (again, after an expired or failed request)",
      params: participantIdParams,
      responses: { 200: { description: "The request created, or why not", schema: requestPaymentsResult }, ...problems(400, 401, 404, 409) },
      handler: async ({ user, params }, _req, res) => {
        res.json(await payments.requests.requestPaymentFor(user, params.billId, params.participantId));
      },
    })
    .route({
      method: "put",
      path: "/bills/:billId/participants/:participantId/mark-as-paid",
      tag: "payments",
      summary: "Record an offline payment (closes any open payment request)",
      params: participantIdParams,
      body: markAsPaidBody,
      responses: { 200: { description: "The bill after the payment", schema: billDetailsSchema }, ...problems(400, 401, 404, 409) },
      handler: async ({ user, params, body }, _req, res) => {
        await payments.offline.markPaid(user, params.billId, params.participantId, body);
        res.json(await bills.getBill(user, params.billId));
      },
    })
    .route({
      method: "post",
      path: "/webhook/payment-callback",
      tag: "payment system",
      audience: "internal",
      auth: "paymentSignature",
      summary: "The payment system's status updates",
      description: `Signed: header ${PAYMENT_SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.rawBody">, 300 s tolerance. Each event id is applied once; answered 2xx only after the change is committed.`,
      before: [verifyPaymentSignature],
      body: paymentEventBody,
      bodyContentType: "application/json",
      responses: { 200: { description: "Applied, or recorded as changing nothing", schema: webhookAnswer }, ...problems(400, 401) },
      handler: async ({ body }, _req, res) => {
        res.json(await payments.webhook.handleWebhook(body as PaymentEventBody));
      },
    });
}
