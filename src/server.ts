// The process entry: config -> database -> migrations -> app -> listen; graceful shutdown on
// SIGTERM/SIGINT (stop accepting, finish in-flight requests, close the database).
import type { Server } from "node:http";
import type { Logger } from "pino";
import { createApp } from "./app";
import { ConfigError, loadConfig, readEnvironment, type Config } from "./config";
import { openDatabase, type Database } from "./db/database";
import { createLogger } from "./logger";
import { BackgroundRuns, ShutdownDeadline } from "./shutdown";

export interface RunningServer {
  server: Server;
  db: Database;
  port: number;
  stop(reason?: string): Promise<void>;
}

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const embedded = "pgliteDataDir" in config.database;
  logger.info(
    embedded
      ? `Using embedded PostgreSQL (PGlite) in ${(config.database as { pgliteDataDir: string }).pgliteDataDir}; set DATABASE_URL to use a PostgreSQL server`
      : "Using PostgreSQL server from DATABASE_URL",
  );
  if (config.env === "production" && config.ai.mode === "mock") {
    logger.warn("AI_MODE=mock in production: images are answered with dummy data. Use this for demos only.");
  }
  const db = await openDatabase("url" in config.database ? { ...config.database, logger } : config.database);
  const applied = await db.migrate();
  logger.info({ applied }, applied.length ? `Applied ${applied.length} migration(s)` : "Database schema is up to date");

  let boundUrl = config.publicBaseUrl;
  let boundPublicUrl = config.publicBaseUrl;
  const app = createApp({
    config,
    db,
    logger,
    callbackBaseUrl: () => config.internalBaseUrl ?? boundUrl,
    publicBaseUrl: () => config.explicitPublicBaseUrl ?? boundPublicUrl,
  });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, config.host, () => resolve(s));
    s.once("error", reject);
  });
  server.keepAliveTimeout = 5_000;
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  boundUrl = `http://127.0.0.1:${port}`;
  boundPublicUrl = `http://localhost:${port}`;

  // Background sweeps run on timers; each run is tracked so that shutdown can wait for it (within
  // its deadline).
  const background = new BackgroundRuns();
  const every = (ms: number, run: () => Promise<void>) => {
    const timer = setInterval(() => void background.start(run), ms);
    timer.unref();
    return timer;
  };
  // Image jobs left pending or processing by an earlier run (or an AI that never answered).
  const { images } = app.locals.services;
  const sweep = () => images.recoverStaleJobs().then(
    () => undefined,
    (err) => logger.error({ err }, "image job recovery failed"),
  );
  void background.start(sweep);
  const sweepTimer = every(Math.max(1_000, Math.floor(config.ai.jobTimeoutMs / 2)), sweep);
  // Payment requests past their expiry date (their participants can be asked again), and requests
  // that never reached the payment system.
  const { payments } = app.locals.services;
  const expire = async () => {
    await payments.expireOverdue().catch((err) => logger.error({ err }, "payment request expiry sweep failed"));
    await payments.handOverStalePending().catch((err) => logger.error({ err }, "payment hand-over sweep failed"));
  };
  void background.start(expire);
  const expiryTimer = every(config.payments.expirySweepMs, expire);
  // Failed notifications are sent again (bounded); reminders go out on a schedule when enabled.
  const { notifications } = app.locals.services;
  const schedule = config.notifications.reminderScheduleMs;
  let lastReminderRun = Date.now();
  const notify = async () => {
    await notifications.retryFailed().catch((err) => logger.error({ err }, "notification retry failed"));
    if (schedule > 0 && Date.now() - lastReminderRun >= schedule) {
      lastReminderRun = Date.now();
      await notifications.remindDue().catch((err) => logger.error({ err }, "automatic reminders failed"));
    }
  };
  const notifyTimer = every(Math.min(60_000, schedule || 60_000), notify);

  let stopping: Promise<void> | undefined;
  const stop = (reason = "stop requested") => {
    stopping ??= (async () => {
      // One deadline for every wait below: the process exits within SHUTDOWN_TIMEOUT_MS whatever
      // the database, a sweep or a client is doing.
      const deadline = new ShutdownDeadline(config.shutdownTimeoutMs, logger);
      logger.info(`Shutting down: ${reason}`);
      clearInterval(sweepTimer);
      clearInterval(expiryTimer);
      clearInterval(notifyTimer);
      // Open event streams end now (their clients resume elsewhere with Last-Event-ID); the
      // listening connection closes meanwhile, waited for below.
      const eventsClosed = app.locals.events.close();
      // Stop accepting at once; a keep-alive connection is closed as soon as its last request has
      // been answered, not when the client next sends something or its keep-alive time runs out.
      const httpClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const idleCloser = setInterval(() => server.closeIdleConnections(), 50);
      try {
        // Sweeps in flight finish first (they may hand work to the adapters), then the adapters
        // stop their pending callbacks; requests in flight go on meanwhile.
        await deadline.within(
          "Background work",
          background.settled().then(() => Promise.all([app.locals.adapters.ai.close(), app.locals.adapters.payments.close()])),
        );
        if (!(await deadline.within("In-flight requests", httpClosed))) {
          logger.warn("In-flight requests did not finish in time; closing their connections");
          server.closeAllConnections();
        }
      } finally {
        clearInterval(idleCloser);
      }
      // A database that stopped answering must not keep the process alive: close it, but only
      // within what is left of the deadline.
      await deadline.within("Closing the event listener", eventsClosed);
      if (!(await deadline.within("Closing the database", db.close()))) {
        logger.warn("The database connections did not close in time; leaving them");
      }
      logger.info("Shutdown complete");
    })();
    return stopping;
  };
  logger.info(`ChillBill listening on http://${config.host}:${port} (API docs at /docs)`);
  return { server, db, port, stop };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(readEnvironment());
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.log);
  const running = await startServer(config, logger);
  // A repeated signal during shutdown joins the shutdown already under way (SIGKILL forces).
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      running.stop(signal).then(
        () => process.exit(0),
        (err) => {
          logger.error({ err }, "Shutdown failed");
          process.exit(1);
        },
      );
    });
  }
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`ChillBill failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
