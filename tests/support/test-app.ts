// Builds the real app for a test file on its own database: an in-memory PGlite loaded from the
// migrated template (default), or the run's PostgreSQL database (TEST_DATABASE_URL).
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AiJobSubmission, AiService } from "../../src/adapters/ai/ai-service";
import type { Adapters } from "../../src/adapters";
import pino, { type Logger } from "pino";
import { createApp } from "../../src/app";
import type { Clock } from "../../src/clock";
import { loadConfig, type Config } from "../../src/config";
import { openDatabase, type Database } from "../../src/db/database";
import { signDevelopmentToken } from "../../src/http/auth";
import type { QueueName } from "../../src/jobs/jobs";
import type { RateLimitStores } from "../../src/http/rate-limit-store";
import { TEMPLATE_PATH } from "./paths";
import { assertTestDatabase } from "./test-database-url";

export const TEST_JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-signing";

export const onPostgres = Boolean(process.env.CHILLBILL_TEST_DATABASE_URL);

/**
 * Tests that need a PostgreSQL server of their own kind (connections to kill, pg_stat_activity): declared
 * only in PostgreSQL mode, which CI runs as well as the PGlite mode. Not skipped: absent.
 */
export function describeOnPostgres(name: string, tests: () => void): void {
  if (onPostgres) describe(name, tests);
}

/** The PGlite instance under each test database (PGlite mode), so a second app can share it. */
const pgliteOf = new WeakMap<Database, unknown>();

export interface TestDatabaseOptions {
  /** Another Database on the same data (a second instance of the service): same server database, or same PGlite. */
  sameAs?: Database;
  /** PostgreSQL mode: the listening connection's first reconnect wait and its application_name. */
  listenerRetryMs?: number;
  listenerName?: string;
}

export async function createTestDatabase(options: TestDatabaseOptions = {}): Promise<Database> {
  const url = process.env.CHILLBILL_TEST_DATABASE_URL;
  if (url) {
    assertTestDatabase(url);
    return openDatabase({ url, poolMax: 5, listenerRetryMs: options.listenerRetryMs, listenerName: options.listenerName });
  }
  let pglite = options.sameAs && pgliteOf.get(options.sameAs);
  if (!pglite) {
    const { PGlite } = await import("@electric-sql/pglite");
    pglite = await PGlite.create({ loadDataDir: new Blob([readFileSync(TEMPLATE_PATH)]) });
  }
  const db = await openDatabase({ pglite });
  pgliteOf.set(db, pglite);
  return db;
}

export class TestClock implements Clock {
  constructor(private current = new Date("2026-11-20T12:00:00.000Z")) {}
  now(): Date {
    return new Date(this.current);
  }
  set(at: Date | string): void {
    this.current = new Date(at);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

export const TEST_AI_SECRET = "test-ai-callback-secret";
export const TEST_PAYMENT_SECRET = "test-payment-webhook-secret";

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: "test",
    LOG_LEVEL: "silent",
    JWT_SECRET: TEST_JWT_SECRET,
    AI_CALLBACK_SECRET: TEST_AI_SECRET,
    PAYMENT_WEBHOOK_SECRET: TEST_PAYMENT_SECRET,
    // The mock payment system never pays by itself in API tests: they send the webhooks.
    PAYMENT_MOCK_DELAY_MS: "0",
    REMINDER_CRON: "off",
    RATE_LIMIT_PER_MINUTE: "0",
    UPLOAD_DIR: mkdtempSync(path.join(tmpdir(), "chillbill-uploads-")),
    ...env,
  });
}

/** An AI service that records what it was given and answers nothing (tests send the callbacks). */
export class RecordingAi implements AiService {
  readonly submissions: AiJobSubmission[] = [];
  failWith: Error | undefined;
  async submit(job: AiJobSubmission) {
    if (this.failWith) throw this.failWith;
    this.submissions.push(job);
    return { aiJobId: `ai-${this.submissions.length}` };
  }
  async close() {}
}

export interface TestApp {
  app: ReturnType<typeof createApp>;
  db: Database;
  config: Config;
  clock: TestClock | undefined;
  ai: RecordingAi;
  /** The files in the upload folder. */
  uploadedFiles(): string[];
  tokenFor(userId: string): Promise<string>;
  /**
   * Runs the background jobs that are due now, as a server's workers would (notification delivery,
   * hand-overs, ...); `ignoreStartAfter` runs those scheduled later too (retries included).
   */
  runJobs(queues?: readonly QueueName[], options?: { ignoreStartAfter?: boolean }): Promise<{ ran: number; failed: number }>;
  close(): Promise<void>;
}

let userCounter = 0;
/** A user id no other test (or earlier run on the same database) has used. */
export function newUserId(prefix = "user"): string {
  userCounter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${userCounter}-${randomBytes(3).toString("hex")}`;
}

/**
 * The real app on its own database; with `sameDatabaseAs`, a second instance of the service on the
 * first one's database (its own pool and listener on PostgreSQL; the same PGlite otherwise).
 * `rateLimitStores` (default: in memory) are closed with the app, as the server closes its own.
 */
export async function createTestApp(
  options: {
    env?: Record<string, string>;
    clock?: TestClock;
    adapters?: Partial<Adapters>;
    rateLimitStores?: RateLimitStores;
    sameDatabaseAs?: TestApp;
    /** The service's logger (default: silent); a test that checks what was logged passes a capturing one. */
    logger?: Logger;
  } & Omit<TestDatabaseOptions, "sameAs"> = {},
): Promise<TestApp> {
  // On the run's shared PostgreSQL database each test app gets a job queue of its own: a test's
  // runJobs() must not run (and deliver with its own fakes) another file's jobs, and its job counts
  // must not see them. The name is random, not counted: Jest gives each file a fresh module
  // registry in the same worker process, so a counter restarts at 1 and a later file in that worker
  // reused an earlier file's schema with its failed jobs (a counts() test failed one run in three).
  const config = testConfig({ ...(onPostgres ? { JOB_SCHEMA: `pgboss_${process.pid}_${randomBytes(6).toString("hex")}` } : {}), ...options.env });
  const shared = options.sameDatabaseAs?.db;
  const db = await createTestDatabase({ sameAs: shared, listenerRetryMs: options.listenerRetryMs, listenerName: options.listenerName });
  const ai = new RecordingAi();
  const { rateLimitStores } = options;
  const app = createApp({
    config,
    db,
    logger: options.logger ?? pino({ level: "silent" }),
    clock: options.clock,
    adapters: { ai, ...options.adapters },
    rateLimitStores,
  });
  // The queues exist before anything enqueues; no workers run here: a test runs jobs with runJobs().
  await app.locals.jobs.start();
  return {
    app,
    db,
    config,
    clock: options.clock,
    ai,
    uploadedFiles: () => readdirSync(config.uploads.dir).sort(),
    tokenFor: (userId) => signDevelopmentToken(TEST_JWT_SECRET, userId),
    runJobs: (queues, runOptions) => app.locals.jobs.drain(queues, runOptions),
    // A second instance on a shared PGlite leaves it open for the first one, which closes it.
    close: async () => {
      await app.locals.jobs.stop();
      await rateLimitStores?.close();
      await app.locals.events.close();
      if (shared && db.kind === "pglite") await db.prisma.$disconnect();
      else await db.close();
    },
  };
}
