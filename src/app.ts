// createApp(deps): the Express app built from its dependencies, without listening.
import { OpenAPIRegistry } from "@asteasolutions/zod-to-openapi";
import express, { type Express } from "express";
import type { Logger } from "pino";
import { systemClock, type Clock } from "./clock";
import type { Config } from "./config";
import type { Database } from "./db/database";
import { NotFound, ServiceUnavailable } from "./domain/errors";
import { allowOnly, ApiRouter, type DeclaredRoute } from "./http/api-router";
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
import { DEFAULT_TOLERANCE_SECONDS } from "./domain/signature";
import { apiHeaders, docsHeaders, refusedAuthRateLimit, userRateLimit } from "./http/security";
import { memoryRateLimitStores, type RateLimitStores } from "./http/rate-limit-store";
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
import { ReconciliationService } from "./modules/payments/reconciliation.service";
import { Ledger } from "./ledger/ledger";
import { NotificationsService } from "./modules/notifications/notifications.service";
import { registerStatusRoutes } from "./modules/status/status.router";
import { registerEventRoutes } from "./modules/status/events.router";
import { registerNotificationRoutes } from "./modules/notifications/notifications.router";
import { BillEvents } from "./events/bill-events";
import { StatusService } from "./modules/status/status.service";
import { Jobs, QUEUES, type QueueName } from "./jobs/jobs";
import { NotificationOutbox, type DeliveryJob } from "./modules/notifications/notifications.outbox";
import { InboxService } from "./modules/notifications/notifications.inbox";
import type { HandOverJob, PaymentCancelJob } from "./modules/payments/hand-over";

export const API_BASE = "/api/chillbill";
/** The raw body a signed callback may have (read whole before its signature is checked). */
const SIGNED_BODY_LIMIT = "1mb";

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
  /** Run background jobs in this process (a server); without it jobs are only enqueued (tests run them with jobs.drain()). */
  runJobs?: boolean;
  /** Where the rate limiters count: connected by the server (openRateLimitStores); default: in memory, without REDIS_URL. */
  rateLimitStores?: RateLimitStores;
}

export interface AppInfo {
  declaredRoutes: DeclaredRoute[];
  services: {
    images: ImagesService;
    payments: PaymentRequestsService;
    notifications: NotificationsService;
    outbox: NotificationOutbox;
    reconciliation: ReconciliationService;
  };
  ledger: Ledger;
  events: BillEvents;
  adapters: Adapters;
  /** Background work (src/jobs); start() it before serving. */
  jobs: Jobs;
}

export function createApp(deps: AppDeps): Express & { locals: AppInfo } {
  const { config, db, logger } = deps;
  if (config.redisUrl && !deps.rateLimitStores) {
    // Counting in memory here would let each instance allow the full limit, unnoticed.
    throw new Error("REDIS_URL is set but no rate limit store was passed to createApp: connect one with openRateLimitStores");
  }
  const rateLimitStores = deps.rateLimitStores ?? memoryRateLimitStores(logger);
  const clock = deps.clock ?? systemClock;
  const prisma = db.prisma;
  const verifier = deps.tokenVerifier ?? createTokenVerifier(config.auth);

  const registry = new OpenAPIRegistry();
  registry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
  // The internal callbacks' HMAC headers (domain/signature.ts): declared so a client knows what to send.
  const signed = (who: string) =>
    `${who}: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with the shared secret>; ${DEFAULT_TOLERANCE_SECONDS} s tolerance`;
  registry.registerComponent("securitySchemes", "aiSignature", {
    type: "apiKey",
    in: "header",
    name: AI_SIGNATURE_HEADER,
    description: signed("The AI service"),
  });
  registry.registerComponent("securitySchemes", "paymentSignature", {
    type: "apiKey",
    in: "header",
    name: PAYMENT_SIGNATURE_HEADER,
    description: signed("The payment system"),
  });
  const authenticate = requireUser(verifier, { limitRefusals: refusedAuthRateLimit(config.rateLimitPerMinute, rateLimitStores) });
  const readJsonBody = express.json({ limit: config.bodyLimit, type: ["application/json", "application/*+json"] });
  const api = new ApiRouter(registry, API_BASE, [authenticate, userRateLimit(config.rateLimitPerMinute, rateLimitStores)], readJsonBody, {
    json: config.bodyLimit,
    signed: SIGNED_BODY_LIMIT,
  });

  const publicBaseUrl = deps.publicBaseUrl ?? (() => config.publicBaseUrl);
  const callbackBaseUrl = deps.callbackBaseUrl ?? (() => config.internalBaseUrl ?? config.publicBaseUrl);
  const webhookUrl = () => `${callbackBaseUrl()}${API_BASE}/webhook/payment-callback`;
  const adapters: Adapters = { ...createAdapters(config, logger, { publicBaseUrl }), ...deps.adapters };
  const billsRepository = new BillsRepository(prisma, db.sql);
  // The bill's live events: written by the ledger and the AI callbacks, streamed by events.router.
  const events = deps.events ?? new BillEvents(db, logger);
  const jobs = new Jobs(db.executor, logger, {
    schema: config.jobs.schema,
    work: deps.runJobs ?? false,
    pollingIntervalMs: config.jobs.pollMs,
    maintenanceIntervalSeconds: config.jobs.maintenanceSeconds,
  });
  // Every notice goes out through the outbox: the ledger's, shares and reminders.
  const outbox = new NotificationOutbox({ sql: db.sql, channels: adapters.channels, clock, logger, jobs });
  const notifications = new NotificationsService({
    db: prisma,
    sql: db.sql,
    bills: billsRepository,
    clock,
    logger,
    reminderIntervalMs: config.notifications.reminderIntervalMs,
    outbox,
  });
  // The one writer of money state (docs/money.md).
  const ledger = new Ledger({
    sql: db.sql,
    clock,
    logger,
    options: { requestTtlHours: config.payments.requestTtlHours, handOverRetryAfterSeconds: config.payments.handOverRetryAfterSeconds },
    outbox,
    jobs,
  });
  // Its edges at the payment system: the hand-over and cancel jobs (payments/hand-over.ts).
  const handOver = new PaymentHandOver({
    sql: db.sql,
    paymentSystem: adapters.payments,
    clock,
    logger,
    ledger,
    options: { webhookUrl, emv: config.payments.emv },
  });
  ledger.attachHandOver(handOver);
  const idempotency = new IdempotencyService(prisma, clock, config.idempotencyTtlHours);
  const bills = new BillsService({ bills: billsRepository, idempotency, clock, ledger });
  registerBillRoutes(api, bills);

  const images = new ImagesService({
    db: prisma,
    bills: billsRepository,
    files: adapters.files,
    ai: adapters.ai,
    directory: adapters.directory,
    clock,
    logger,
    options: { jobTimeoutMs: config.ai.jobTimeoutMs, maxAttempts: config.ai.maxAttempts, callbackBaseUrl },
    sql: db.sql,
    ledger,
  });
  registerParticipantRoutes(api, new ParticipantsService({ db: prisma, bills: billsRepository, directory: adapters.directory, ledger }));
  const payments = new PaymentRequestsService({ sql: db.sql, ledger, clock, publicBaseUrl });
  const webhook = new PaymentWebhookService(db.sql, ledger, logger);
  // For a webhook that never came: asks the payment system and applies the answer through the webhook's path.
  const reconciliation = new ReconciliationService({
    sql: db.sql,
    paymentSystem: adapters.payments,
    webhook,
    clock,
    logger,
    reconcileAfterMs: config.payments.reconcileAfterMs,
    reconcileClosedWindowMs: config.payments.reconcileClosedWindowMs,
  });
  registerPaymentRoutes(
    api,
    { requests: payments, offline: new OfflinePaymentsService(ledger), webhook },
    bills,
    verifySignedBody({ header: PAYMENT_SIGNATURE_HEADER, secret: config.payments.webhookSecret, clock }),
  );
  registerSplitRoutes(api, new SplitService(ledger));
  const status = new StatusService(prisma, billsRepository);
  registerStatusRoutes(api, status);
  registerEventRoutes(api, status, events);
  registerNotificationRoutes(api, notifications, new InboxService({ db: prisma, clock }));
  defineJobs(jobs, config, logger, clock, { notifications, outbox, handOver, payments, images, idempotency, reconciliation, events });
  registerImageRoutes(api, images, {
    files: adapters.files,
    maxUploadBytes: config.uploads.maxBytes,
    verifyAiSignature: verifySignedBody({ header: AI_SIGNATURE_HEADER, secret: config.ai.callbackSecret, clock }),
  });

  const app = express() as Express & { locals: AppInfo };
  app.disable("x-powered-by");
  // Who the client is for the refused-credential limit (req.ip): the connecting address, or what
  // the trusted proxies in front say in X-Forwarded-For (TRUST_PROXY, docs/deployment.md).
  app.set("trust proxy", config.trustProxy);
  if (config.trustProxy === true) {
    logger.warn(
      "TRUST_PROXY=true believes any client's X-Forwarded-For, so the refused-credential limit can be escaped; list the proxies or count their hops instead",
    );
  }
  app.locals.declaredRoutes = api.declared;
  app.locals.services = { images, payments, notifications, outbox, reconciliation };
  app.locals.ledger = ledger;
  app.locals.events = events;
  app.locals.adapters = adapters;
  app.locals.jobs = jobs;

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
    // Failed jobs are visible here (operators: docs/deployment.md says how to look at and retry them).
    const counts = await withTimeout(jobs.counts(), 2_000).catch(() => undefined);
    const total = (key: "queued" | "active" | "failed") => counts?.reduce((sum, c) => sum + c[key], 0) ?? null;
    res.json({ status: "ready", database: db.kind, jobs: { queued: total("queued"), active: total("active"), failed: total("failed") } });
  });
  app.all(["/health", "/ready"], allowOnly("get"));

  app.use(payPageRouter(db.sql, adapters.payments instanceof MockPaymentSystem ? adapters.payments : undefined, webhookUrl));
  app.use(docsRouter(buildOpenApiDocument(registry, "public", config.publicBaseUrl), buildOpenApiDocument(registry, "internal", config.publicBaseUrl)));
  // Signed callbacks keep their raw bytes: the signature is checked on them before parsing.
  for (const signed of ["/internal", "/webhook"]) {
    app.use(API_BASE + signed, express.raw({ type: () => true, limit: SIGNED_BODY_LIMIT }));
  }
  app.use(API_BASE, api.rejectUndeclaredMethods, api.router);
  app.use((req, _res, next) => {
    next(new NotFound(`No route for ${req.method} ${req.path}`, "route_not_found"));
  });
  app.use(problemHandler);
  return app;
}

/**
 * The background work (docs/deployment.md): what runs, when, and how often it is tried. A job's
 * lease (JOB_LEASE_SECONDS for the jobs a change causes) is well above what one run takes: the
 * outside calls time out sooner (SMTP, the payment system).
 */
function defineJobs(
  jobs: Jobs,
  config: Config,
  logger: Logger,
  clock: Clock,
  s: {
    notifications: NotificationsService;
    outbox: NotificationOutbox;
    handOver: PaymentHandOver;
    payments: PaymentRequestsService;
    images: ImagesService;
    idempotency: IdempotencyService;
    reconciliation: ReconciliationService;
    events: BillEvents;
  },
): void {
  // A scheduled job: tried 3 times in all, its result logged. `cron` null: not scheduled (off).
  const scheduled = (
    queue: QueueName,
    what: string,
    cron: string | null,
    work: () => Promise<unknown>,
    timing: { retryDelaySeconds: number; leaseSeconds: number },
  ) =>
    jobs.define({
      queue,
      run: async () => logger.info({ result: await work() }, `${what} finished`),
      retryLimit: 2,
      ...timing,
      cron: cron ?? undefined,
    });
  jobs.define<DeliveryJob>({
    queue: QUEUES.notification,
    run: (batch) => s.outbox.deliver(batch),
    batchSize: 20,
    retryLimit: config.notifications.maxAttempts - 1,
    retryDelaySeconds: 30,
    leaseSeconds: config.jobs.leaseSeconds,
  });
  jobs.define<HandOverJob>({
    queue: QUEUES.paymentHandOver,
    run: (batch) => s.handOver.runJobs(batch),
    batchSize: 10,
    retryLimit: 12,
    retryDelaySeconds: config.payments.handOverRetryAfterSeconds,
    leaseSeconds: config.jobs.leaseSeconds,
  });
  jobs.define<PaymentCancelJob>({
    queue: QUEUES.paymentCancel,
    run: (batch) => s.handOver.runCancelJobs(batch),
    batchSize: 10,
    retryLimit: 20,
    retryDelaySeconds: config.payments.handOverRetryAfterSeconds,
    leaseSeconds: config.jobs.leaseSeconds,
  });
  scheduled(QUEUES.aiRecovery, "AI job recovery", "* * * * *", () => s.images.recoverStaleJobs(), { retryDelaySeconds: 10, leaseSeconds: 300 });
  scheduled(QUEUES.paymentExpiry, "payment request expiry", config.payments.expiryCron, () => s.payments.expireOverdue(), {
    retryDelaySeconds: 10,
    leaseSeconds: 300,
  });
  scheduled(
    QUEUES.reconciliation,
    "payment reconciliation",
    config.payments.reconcileCron,
    async () => ({ reconciled: (await s.reconciliation.reconcileStale()).length }),
    {
      retryDelaySeconds: 30,
      leaseSeconds: 300,
    },
  );
  scheduled(QUEUES.reminders, "automatic reminders", config.notifications.reminderCron, () => s.notifications.remindDue(), {
    retryDelaySeconds: 60,
    leaseSeconds: 900,
  });
  scheduled(QUEUES.idempotencyCleanup, "idempotency key clean-up", "17 * * * *", () => s.idempotency.deleteExpired(), {
    retryDelaySeconds: 60,
    leaseSeconds: 300,
  });
  const eventsBefore = () => new Date(clock.now().getTime() - config.eventRetentionDays * 86_400_000);
  scheduled(QUEUES.eventsPrune, "live event clean-up", "41 3 * * *", async () => ({ deleted: await s.events.pruneEvents(eventsBefore()) }), {
    retryDelaySeconds: 60,
    leaseSeconds: 600,
  });
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
