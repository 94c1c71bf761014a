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

export const API_BASE = "/api/chillbill";

export interface AppDeps {
  config: Config;
  db: Database;
  logger: Logger;
  clock?: Clock;
  tokenVerifier?: TokenVerifier;
}

export interface AppInfo {
  declaredRoutes: DeclaredRoute[];
}

export function createApp(deps: AppDeps): Express & { locals: AppInfo } {
  const { config, db, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const prisma = db.prisma;
  const verifier = deps.tokenVerifier ?? createTokenVerifier(config.auth);

  const registry = new OpenAPIRegistry();
  registry.registerComponent("securitySchemes", "bearerAuth", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
  const api = new ApiRouter(registry, API_BASE, requireUser(verifier));

  const idempotency = new IdempotencyService(prisma, clock, config.idempotencyTtlHours);
  const bills = new BillsService(new BillsRepository(prisma), idempotency, clock, (work) => prisma.$transaction(work));
  registerBillRoutes(api, bills);

  const app = express() as Express & { locals: AppInfo };
  app.disable("x-powered-by");
  app.set("trust proxy", false);
  app.locals.declaredRoutes = api.declared;

  app.use(requestLogging(logger));
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

  app.use(docsRouter(buildOpenApiDocument(registry, "public", config.publicBaseUrl), buildOpenApiDocument(registry, "internal", config.publicBaseUrl)));
  app.use(API_BASE, express.json({ limit: config.bodyLimit, type: ["application/json", "application/*+json"] }));
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
