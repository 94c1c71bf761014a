// createApp(deps): the Express app built from its dependencies, without listening.
import { OpenAPIRegistry } from "@asteasolutions/zod-to-openapi";
import express, { type Express } from "express";
import type { Logger } from "pino";
import { systemClock, type Clock } from "./clock";
import type { Config } from "./config";
import type { Database } from "./db/database";
import { NotFound, ServiceUnavailable } from "./domain/errors";
import { ApiRouter, type DeclaredRoute } from "./http/api-router";
import { createTokenVerifier, requireUser, type TokenVerifier } from "./http/auth";
import { buildOpenApiDocument, docsRouter } from "./http/docs";
import { problemHandler } from "./http/problem";
import { requestLogging } from "./http/request-logging";
import { BillsRepository } from "./modules/bills/bills.repository";
import { registerBillRoutes } from "./modules/bills/bills.router";
import { BillsService } from "./modules/bills/bills.service";
import { IdempotencyService } from "./modules/idempotency/idempotency.service";
import { registerImageRoutes } from "./modules/images/images.router";
import { ImagesService } from "./modules/images/images.service";
import { createAdapters, type Adapters } from "./adapters";
import { AI_SIGNATURE_HEADER } from "./adapters/ai/ai-service";
import { verifySignedBody } from "./http/signed-body";
import { apiHeaders, docsHeaders, refusedAuthRateLimit, userRateLimit } from "./http/security";
import { registerParticipantRoutes } from "./modules/participants/participants.router";
import { ParticipantsService } from "./modules/participants/participants.service";
import { registerSplitRoutes } from "./modules/split/split.router";
import { SplitService } from "./modules/split/split.service";
import { PAYMENT_SIGNATURE_HEADER } from "./adapters/payments/payment-system";
import { MockPaymentSystem } from "./adapters/payments/mock-payment-system";
import { payPageRouter } from "./modules/payments/pay-page";
import { registerPaymentRoutes } from "./modules/payments/payments.router";
import { PaymentRequestsService } from "./modules/payments/payment-requests.service";
import { PaymentHandOver } from "./modules/payments/hand-over";
import { OfflinePaymentsService } from "./modules/payments/offline-payments.service";
import { PaymentWebhookService } from "./modules/payments/webhook.service";
import { Ledger } from "./ledger/ledger";
import { NotificationsService } from "./modules/notifications/notifications.service";
import { registerStatusRoutes } from "./modules/status/status.router";
import { registerEventRoutes } from "./modules/status/events.router";
import { registerNotificationRoutes } from "./modules/notifications/notifications.router";
import { BillEvents } from "./events/bill-events";
import { StatusService } from "./modules/status/status.service";

export const API_BASE = "/api/chillbill";

export interface AppDeps {
  config: Config;
  db: Database;
  logger: Logger;
  clock?: Clock;
  tokenVerifier?: TokenVerifier;
  /** Replaces some or all adapters (tests); the rest come from the configuration. */
  adapters?: Partial<Adapters>;
  /** Where callbacks reach this service; the server sets it once it knows its port. */
  callbackBaseUrl?: () => string;
  events?: BillEvents;
  /** Where users reach this service (payment links); the server sets it once it knows its port. */
  publicBaseUrl?: () => string;
}

export interface AppInfo {
  declaredRoutes: DeclaredRoute[];
  services: { images: ImagesService; payments: PaymentRequestsService; notifications: NotificationsService };
  ledger: Ledger;
  events: BillEvents;
  adapters: Adapters;
}

export function createApp(deps: AppDeps): Express & { locals: AppInfo } {
  const { config, db, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const prisma = db.prisma;
  const verifier = deps.tokenVerifier ?? createTokenVerifier(config.auth);

  const registry = new OpenAPIRegistry();
  registry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
  const authenticate = requireUser(verifier, { limitRefusals: refusedAuthRateLimit(config.rateLimitPerMinute) });
  const readJsonBody = express.json({ limit: config.bodyLimit, type: ["application/json", "application/*+json"] });
  const api = new ApiRouter(registry, API_BASE, [authenticate, userRateLimit(config.rateLimitPerMinute)], readJsonBody);

  const idempotency = new IdempotencyService(prisma, clock, config.idempotencyTtlHours);
  const publicBaseUrl = deps.publicBaseUrl ?? (() => config.publicBaseUrl);
  const callbackBaseUrl = deps.callbackBaseUrl ?? (() => config.internalBaseUrl ?? config.publicBaseUrl);
  const webhookUrl = () => `${callbackBaseUrl()}${API_BASE}/webhook/payment-callback`;
  const adapters: Adapters = { ...createAdapters(config, logger, { publicBaseUrl }), ...deps.adapters };
  const billsRepository = new BillsRepository(prisma, db.sql);
  // The bill's live events: written by the ledger and the AI callbacks, streamed by events.router.
  const events = deps.events ?? new BillEvents(db, logger);
  const notifications = new NotificationsService(
    prisma,
    db.sql,
    billsRepository,
    adapters.channels,
    clock,
    logger,
    config.notifications.reminderIntervalMs,
    config.notifications.maxAttempts,
  );
  // The one writer of money state (docs/money.md).
  const handOver = new PaymentHandOver(db.sql, adapters.payments, clock, logger, { webhookUrl, emv: config.payments.emv }, notifications);
  const ledger = new Ledger(db.sql, clock, logger, { requestTtlHours: config.payments.requestTtlHours }, notifications, adapters.payments, (items) =>
    handOver.handOverItems(items),
  );
  const bills = new BillsService(billsRepository, idempotency, clock, ledger);
  registerBillRoutes(api, bills);

  const images = new ImagesService(prisma, billsRepository, adapters.files, adapters.ai, adapters.directory, clock, logger, {
    jobTimeoutMs: config.ai.jobTimeoutMs,
    maxAttempts: config.ai.maxAttempts,
    callbackBaseUrl,
  }, db.sql, ledger);
  registerParticipantRoutes(api, new ParticipantsService(prisma, billsRepository, adapters.directory, ledger));
  const payments = new PaymentRequestsService(db.sql, ledger, handOver, clock, publicBaseUrl);
  registerPaymentRoutes(
    api,
    { requests: payments, offline: new OfflinePaymentsService(ledger), webhook: new PaymentWebhookService(db.sql, ledger, logger) },
    bills,
    verifySignedBody({ header: PAYMENT_SIGNATURE_HEADER, secret: config.payments.webhookSecret, clock }),
  );
  registerSplitRoutes(api, new SplitService(db.sql, ledger));
  const status = new StatusService(prisma, billsRepository);
  registerStatusRoutes(api, status);
  registerEventRoutes(api, status, events);
  registerNotificationRoutes(api, notifications);
  registerImageRoutes(api, images, {
    files: adapters.files,
    maxUploadBytes: config.uploads.maxBytes,
    verifyAiSignature: verifySignedBody({ header: AI_SIGNATURE_HEADER, secret: config.ai.callbackSecret, clock }),
  });

  const app = express() as Express & { locals: AppInfo };
  app.disable("x-powered-by");
  app.set("trust proxy", false);
  app.locals.declaredRoutes = api.declared;
  app.locals.services = { images, payments, notifications };
  app.locals.ledger = ledger;
  app.locals.events = events;
  app.locals.adapters = adapters;

  app.use(requestLogging(logger));
  app.use(["/docs", "/docs/"], docsHeaders);
  app.use((req, res, next) => (req.path.startsWith("/docs") ? next() : apiHeaders(req, res, next)));
  app.get("/health", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/ready", async (_req, res) => {
    try {
      await withTimeout(db.ping(), 2_000);
    } catch {
      throw new ServiceUnavailable("The database is not reachable", "not_ready");
    }
    res.json({ status: "ready", database: db.kind });
  });

  app.use(payPageRouter(db.sql, adapters.payments instanceof MockPaymentSystem ? adapters.payments : undefined, webhookUrl));
  app.use(docsRouter(buildOpenApiDocument(registry, "public", config.publicBaseUrl), buildOpenApiDocument(registry, "internal", config.publicBaseUrl)));
  // Signed callbacks keep their raw bytes: the signature is checked on them before parsing.
  for (const signed of ["/internal", "/webhook"]) {
    app.use(API_BASE + signed, express.raw({ type: () => true, limit: "1mb" }));
  }
  app.use(API_BASE, api.router);
  app.use((req, _res, next) => {
    next(new NotFound(`No route for ${req.method} ${req.path}`, "route_not_found"));
  });
  app.use(problemHandler);
  return app;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
