// The process entry: config -> database -> migrations -> job queue -> listen, listening last, each
// step waiting out a database outage (src/startup.ts); graceful shutdown on SIGTERM/SIGINT (stop
// accepting, finish in-flight requests, close the database), also while it is still starting.
// WEB_CONCURRENCY > 1: this entry is the cluster's primary (src/cluster.ts) and each worker it forks.
import cluster from "node:cluster";
import type { Server } from "node:http";
import type { Logger } from "pino";
import { createApp } from "./app";
import { runPrimary } from "./cluster";
import { ConfigError, loadConfig, readEnvironment, type Config } from "./config";
import { openDatabase, type Database } from "./db/database";
import { migrationWaitMessage } from "./db/migration-lock";
import { PendingMigrationsError, refuseIfMigrationsPending } from "./db/migration-step";
import { openRateLimitStores, type RateLimitStores } from "./http/rate-limit-store";
import { createLogger } from "./logger";
import { QUEUES, type Jobs } from "./jobs/jobs";
import { ShutdownDeadline } from "./shutdown";
import { Startup, StartupGaveUp, StartupStopped } from "./startup";

export interface RunningServer {
  server: Server;
  db: Database;
  port: number;
  stop(reason?: string): Promise<void>;
}

export interface StartServerOptions {
  /** The start's steps (main passes the one its signal handlers stop); default: one that only a failure ends. */
  startup?: Startup;
}

/**
 * Starts the service and resolves once it listens. Listening is the last step: until the database
 * is reachable, the migrations applied and the job queue started, the port is closed, so nothing
 * (not /health either) answers a process that could not serve. A database outage on the way is
 * waited out (src/startup.ts); a failed start closes what it opened and throws.
 */
export async function startServer(config: Config, logger: Logger, options: StartServerOptions = {}): Promise<RunningServer> {
  const startup = options.startup ?? new Startup({ retry: config.startRetry, shutdownTimeoutMs: config.shutdownTimeoutMs, logger });
  const embedded = "pgliteDataDir" in config.database;
  logger.info(
    embedded
      ? `Using embedded PostgreSQL (PGlite) in ${(config.database as { pgliteDataDir: string }).pgliteDataDir}; set DATABASE_URL to use a PostgreSQL server`
      : "Using PostgreSQL server from DATABASE_URL",
  );
  if (config.env === "production" && config.ai.mode === "mock") {
    logger.warn("AI_MODE=mock in production: images are answered with dummy data. Use this for demos only.");
  }

  let db: Database | undefined;
  let rateLimitStores: RateLimitStores | undefined;
  let jobs: Jobs | undefined;
  let server: Server;
  let boundUrl = config.publicBaseUrl;
  let boundPublicUrl = config.publicBaseUrl;
  let app: ReturnType<typeof createApp>;
  try {
    const database = await startup.step("opening the database", () =>
      openDatabase("url" in config.database ? { ...config.database, logger } : config.database),
    );
    db = database;
    await startup.step("connecting to the database", () => database.ping());
    // A cluster's primary migrated before forking; with MIGRATE_ON_START=false the release step did.
    if (cluster.isPrimary && config.migrateOnStart) {
      const applied = await startup.step("applying the migrations", () =>
        database.migrate({ onWait: (pid) => logger.info({ holderPid: pid }, migrationWaitMessage(pid)) }),
      );
      logger.info({ applied }, applied.length ? `Applied ${applied.length} migration(s)` : "Database schema is up to date");
    } else if (cluster.isPrimary) {
      // main() refused to start with migrations pending: the release step has applied them.
      logger.info({ migrateOnStart: false }, "Database schema is up to date");
    }

    // Redis when REDIS_URL is set; a Redis that is away does not stop the start (requests pass unlimited).
    rateLimitStores = await startup.step("connecting to Redis", () => openRateLimitStores(config.redisUrl, logger));

    app = createApp({
      config,
      db: database,
      logger,
      runJobs: true,
      rateLimitStores,
      callbackBaseUrl: () => config.internalBaseUrl ?? boundUrl,
      publicBaseUrl: () => config.explicitPublicBaseUrl ?? boundPublicUrl,
    });
    // Background work runs as jobs (src/jobs, docs/deployment.md) on the database's job queue,
    // shared by every instance. One AI recovery run at start-up picks up image jobs left behind by
    // an earlier run; the schedule takes over from there. The workers start once the port is known
    // (the callbacks they hand out name it).
    const queue = (jobs = app.locals.jobs);
    await startup.step("starting the job queue", () => queue.install());
    await startup.step("queueing the AI job recovery", () => queue.enqueue(undefined, QUEUES.aiRecovery, {}));

    startup.throwIfStopped();
    server = await new Promise<Server>((resolve, reject) => {
      // Express 5 calls back on an error too (a port already taken): that is a failed start.
      const s = app.listen(config.port, config.host, (err?: Error) => (err ? reject(err) : resolve(s)));
      s.once("error", reject);
    });
  } catch (err) {
    const [queue, stores, database] = [jobs, rateLimitStores, db];
    await startup.closeAll([
      ["Stopping the job queue", queue && (() => queue.stop())],
      ["Closing the rate limit store", stores && (() => stores.close())],
      ["Closing the database", database && (() => database.close())],
    ]);
    throw err;
  }
  startup.finish();
  server.keepAliveTimeout = 5_000;
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  boundUrl = `http://127.0.0.1:${port}`;
  boundPublicUrl = `http://localhost:${port}`;
  jobs.startWorkers();

  let stopping: Promise<void> | undefined;
  const stop = (reason = "stop requested") => {
    stopping ??= (async () => {
      // One deadline for every wait below: the process exits within SHUTDOWN_TIMEOUT_MS whatever
      // the database, a sweep or a client is doing.
      const deadline = new ShutdownDeadline(config.shutdownTimeoutMs, logger);
      logger.info(`Shutting down: ${reason}`);
      // Open event streams end now (their clients resume elsewhere with Last-Event-ID); the
      // listening connection closes meanwhile, waited for below.
      const eventsClosed = app.locals.events.close();
      // Stop accepting at once; a keep-alive connection is closed as soon as its last request has
      // been answered, not when the client next sends something or its keep-alive time runs out.
      const httpClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const idleCloser = setInterval(() => server.closeIdleConnections(), 50);
      try {
        // Jobs in flight finish first (they may hand work to the adapters), then the adapters stop
        // their pending callbacks; requests in flight go on meanwhile. A job still running at the
        // deadline is left: its lease runs out and another instance takes it up.
        await deadline.within(
          "Background work",
          jobs.stop().then(() => Promise.all([app.locals.adapters.ai.close(), app.locals.adapters.payments.close()])),
        );
        if (!(await deadline.within("In-flight requests", httpClosed))) {
          logger.warn("In-flight requests did not finish in time; closing their connections");
          server.closeAllConnections();
        }
      } finally {
        clearInterval(idleCloser);
      }
      // The requests that counted in Redis are answered; a Redis that stopped answering is left.
      await deadline.within("Closing the rate limit store", rateLimitStores.close());
      await deadline.within("Closing the event listener", eventsClosed);
      // A database that stopped answering must not keep the process alive: close it, but only
      // within what is left of the deadline.
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
  const startup = new Startup({ retry: config.startRetry, shutdownTimeoutMs: config.shutdownTimeoutMs, logger });
  // Handlers first. During start-up a signal stops the start (src/startup.ts); once the server
  // listens, it shuts the server down. A signal between the two (the start was done, `running` not
  // yet set) shuts it down as soon as it is.
  let running: RunningServer | undefined;
  let signalled: NodeJS.Signals | undefined;
  const shutDown = (signal: string) => {
    // A repeated signal during shutdown joins the shutdown already under way (SIGKILL forces).
    running!.stop(signal).then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, "Shutdown failed");
        process.exit(1);
      },
    );
  };
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      if (running) shutDown(signal);
      else if (!startup.stop(signal)) signalled ??= signal;
    });
  }
  try {
    // A cluster's workers leave the migration step to their primary, which did it before forking.
    if (cluster.isPrimary && !config.migrateOnStart) {
      await startup.step("checking the migrations", () => refuseIfMigrationsPending(config.database));
    }
    if (cluster.isPrimary && config.webConcurrency > 1) {
      // The primary takes over the signals once it has forked its workers.
      const exitCode = await runPrimary(config, logger, startup);
      // The log is written asynchronously: its last lines (the workers' exits) go out before the exit.
      logger.flush(() => process.exit(exitCode));
      return;
    }
    running = await startServer(config, logger, { startup });
  } catch (err) {
    if (err instanceof StartupStopped) {
      logger.info(err.message);
      logger.info("Shutdown complete");
      logger.flush(() => process.exit(0));
      return;
    }
    if (err instanceof PendingMigrationsError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    failedToStart(err, startup.failedStep);
  }
  const pending = signalled ?? startup.stoppedBy;
  if (pending) shutDown(pending);
}

/** The last words of a start that failed (exit code 1), naming the step it failed in. */
function failedToStart(err: unknown, step?: string): never {
  const what = err instanceof StartupGaveUp ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`ChillBill failed to start${step ? ` (${step})` : ""}: ${what}\n`);
  process.exit(1);
}

if (require.main === module) {
  main().catch((err) => failedToStart(err));
}
