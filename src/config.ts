// The one place that reads the environment. Every variable is documented in .env.example;
// bad values stop start-up with one line naming every bad variable.
import { isIP } from "node:net";
import path from "node:path";
import dotenv from "dotenv";
import { z } from "zod";
import { PROJECT_ROOT } from "./paths";

const DEV_JWT_SECRET = "chillbill-development-secret-not-for-production-use";
const DEV_AI_SECRET = "chillbill-development-ai-callback-secret";
const DEV_PAYMENT_SECRET = "chillbill-development-payment-webhook-secret";

const emptyAsUndefined = (v: unknown) => (v === "" ? undefined : v);
const optionalString = z.preprocess(emptyAsUndefined, z.string().optional());
/** A five-field cron expression (minute hour day month weekday, UTC), or "off". */
const cron = (def: string) =>
  z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .regex(/^(off|[\d*/,-]+( [\d*/,-]+){4})$/, 'must be a five-field cron expression such as "0 * * * *", or off')
      .default(def),
  );
const int = (def: number, min: number, max: number) => z.preprocess(emptyAsUndefined, z.coerce.number().int().min(min).max(max).default(def));

/** Express's "trust proxy": false, true, a hop count, or the proxies' addresses and subnets. */
export type TrustProxy = boolean | number | string[];

const TRUST_PROXY_NAMES = new Set(["loopback", "linklocal", "uniquelocal"]);

/** An address, a subnet in CIDR form (10.0.0.0/8, fd00::/8; /0 is refused, as Express does) or one of Express's named ranges. */
function isProxyAddress(entry: string): boolean {
  if (TRUST_PROXY_NAMES.has(entry)) return true;
  const [address, bits, ...rest] = entry.split("/");
  const family = isIP(address);
  if (!family || rest.length) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) >= 1 && Number(bits) <= (family === 4 ? 32 : 128);
}

// Checked here, not by Express at start-up: Express throws a TypeError without the variable's name.
const trustProxy = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .default("false")
    .transform((value, ctx): TrustProxy => {
      const v = value.trim();
      if (v === "false" || v === "true") return v === "true";
      if (/^\d+$/.test(v)) return Number(v);
      const entries = v
        .split(",")
        .map((e) => e.trim())
        .filter(Boolean);
      if (entries.length && entries.every(isProxyAddress)) return entries;
      ctx.addIssue({
        code: "custom",
        message: "must be false, true, a number of proxy hops, or a comma-separated list of proxy addresses and subnets (e.g. loopback, 10.0.0.0/8)",
      });
      return z.NEVER;
    }),
);

const envSchema = z
  .object({
    NODE_ENV: z.preprocess(emptyAsUndefined, z.enum(["development", "test", "production"]).default("development")),
    HOST: z.preprocess(emptyAsUndefined, z.string().default("0.0.0.0")),
    PORT: int(3000, 0, 65535),
    PUBLIC_BASE_URL: z.preprocess(emptyAsUndefined, z.url({ protocol: /^https?$/ }).optional()),
    LOG_LEVEL: z.preprocess(emptyAsUndefined, z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info")),
    LOG_PRETTY: z.preprocess(emptyAsUndefined, z.enum(["true", "false"]).optional()),
    DATABASE_URL: z.preprocess(
      emptyAsUndefined,
      z
        .string()
        .regex(/^postgres(ql)?:\/\//, "must be a postgresql:// URL (leave it empty to use the embedded PGlite)")
        .optional(),
    ),
    DATABASE_POOL_MAX: int(10, 1, 200),
    DATABASE_QUERY_TIMEOUT_MS: int(15_000, 0, 600_000),
    PGLITE_DATA_DIR: z.preprocess(emptyAsUndefined, z.string().default(".data/pglite")),
    JWT_SECRET: optionalString.pipe(z.string().min(32, "must be at least 32 characters").optional()),
    JWT_JWKS_URL: z.preprocess(emptyAsUndefined, z.url({ protocol: /^https?$/ }).optional()),
    JWT_ISSUER: optionalString,
    JWT_AUDIENCE: optionalString,
    BODY_LIMIT: z.preprocess(
      emptyAsUndefined,
      z
        .string()
        .regex(/^\d+(b|kb|mb)$/i, "must look like 100kb or 1mb")
        .default("100kb"),
    ),
    IDEMPOTENCY_TTL_HOURS: int(24, 1, 24 * 30),
    SHUTDOWN_TIMEOUT_MS: int(10_000, 0, 120_000),
    START_RETRY_DELAY_MS: int(500, 10, 60_000),
    START_RETRY_MAX_DELAY_MS: int(30_000, 10, 600_000),
    START_RETRY_LIMIT: int(0, 0, 1_000_000),
    WEB_CONCURRENCY: int(1, 1, 64),
    MIGRATE_ON_START: z.preprocess(emptyAsUndefined, z.enum(["true", "false"]).default("true")),
    UPLOAD_DIR: z.preprocess(emptyAsUndefined, z.string().default("uploads")),
    MAX_UPLOAD_BYTES: int(10 * 1024 * 1024, 1024, 100 * 1024 * 1024),
    INTERNAL_BASE_URL: z.preprocess(emptyAsUndefined, z.url({ protocol: /^https?$/ }).optional()),
    AI_MODE: z.preprocess(emptyAsUndefined, z.enum(["mock", "http"]).optional()),
    AI_SERVICE_URL: z.preprocess(emptyAsUndefined, z.url({ protocol: /^https?$/ }).optional()),
    AI_CALLBACK_SECRET: optionalString.pipe(z.string().min(16, "must be at least 16 characters").optional()),
    AI_MOCK_DELAY_MS: int(2_000, 0, 600_000),
    AI_MOCK_FIXTURES: optionalString,
    AI_MOCK_FAIL: z.preprocess(emptyAsUndefined, z.enum(["true", "false"]).default("false")),
    AI_JOB_TIMEOUT_MS: int(5 * 60_000, 1_000, 24 * 3_600_000),
    AI_MAX_ATTEMPTS: int(3, 1, 20),
    PAYMENT_MODE: z.preprocess(emptyAsUndefined, z.enum(["mock", "http"]).optional()),
    PAYMENT_API_URL: z.preprocess(emptyAsUndefined, z.url({ protocol: /^https?$/ }).optional()),
    PAYMENT_WEBHOOK_SECRET: optionalString.pipe(z.string().min(16, "must be at least 16 characters").optional()),
    PAYMENT_MOCK_DELAY_MS: int(5_000, 0, 3_600_000),
    PAYMENT_REQUEST_TTL_HOURS: int(24 * 7, 1, 24 * 90),
    PAYMENT_EXPIRY_CRON: cron("* * * * *"),
    RECONCILE_AFTER_MS: int(15 * 60_000, 1_000, 7 * 24 * 3_600_000),
    RECONCILE_CRON: cron("*/5 * * * *"),
    RECONCILE_CLOSED_WINDOW_HOURS: int(24, 1, 30 * 24),
    EMV_MERCHANT_ID: z.preprocess(emptyAsUndefined, z.string().max(32).default("CHILLBILL")),
    EMV_COUNTRY: z.preprocess(
      emptyAsUndefined,
      z
        .string()
        .regex(/^[A-Z]{2}$/, "must be a two-letter country code")
        .default("VN"),
    ),
    EMV_CITY: z.preprocess(emptyAsUndefined, z.string().max(15).default("Ho Chi Minh")),
    RATE_LIMIT_PER_MINUTE: int(600, 0, 1_000_000),
    // Hours; a fraction is allowed (tests and demos use seconds-long intervals).
    REMINDER_INTERVAL_HOURS: z.preprocess(
      emptyAsUndefined,
      z.coerce
        .number()
        .min(0.001)
        .max(24 * 30)
        .default(24),
    ),
    REMINDER_CRON: cron("0 * * * *"),
    JOB_POLL_MS: int(2_000, 500, 60_000),
    EVENT_RETENTION_DAYS: int(7, 1, 365),
    JOB_SCHEMA: z.preprocess(
      emptyAsUndefined,
      z
        .string()
        .regex(/^[a-z_][a-z0-9_]{0,49}$/, "must be a lower-case schema name")
        .default("pgboss"),
    ),
    JOB_MAINTENANCE_SECONDS: int(30, 1, 3_600),
    JOB_LEASE_SECONDS: int(120, 5, 3_600),
    PAYMENT_HAND_OVER_RETRY_AFTER_SECONDS: int(30, 1, 3_600),
    REDIS_URL: z.preprocess(
      emptyAsUndefined,
      z
        .string()
        .regex(/^rediss?:\/\/\S+$/, "must be a redis:// or rediss:// URL (leave it empty to count rate limits in memory)")
        .optional(),
    ),
    TRUST_PROXY: trustProxy,
    NOTIFY_MAX_ATTEMPTS: int(3, 1, 10),
    SMTP_URL: z.preprocess(
      emptyAsUndefined,
      z
        .string()
        .regex(/^smtps?:\/\//, "must be an smtp:// or smtps:// URL")
        .optional(),
    ),
    SMTP_FROM: z.preprocess(emptyAsUndefined, z.string().default("ChillBill <no-reply@chillbill.local>")),
    SMTP_CONNECTION_TIMEOUT_MS: int(10_000, 1, 120_000),
    SMTP_GREETING_TIMEOUT_MS: int(10_000, 1, 120_000),
    SMTP_SOCKET_TIMEOUT_MS: int(20_000, 1, 120_000),
  })
  .superRefine((env, ctx) => {
    if (env.WEB_CONCURRENCY > 1 && !env.DATABASE_URL) {
      ctx.addIssue({
        code: "custom",
        path: ["WEB_CONCURRENCY"],
        message:
          "above 1 needs DATABASE_URL: the embedded PGlite database lives inside one process and cannot be shared by several worker processes (set DATABASE_URL to a PostgreSQL server, or WEB_CONCURRENCY=1)",
      });
    }
    if (env.NODE_ENV === "production" && !env.JWT_SECRET && !env.JWT_JWKS_URL) {
      ctx.addIssue({ code: "custom", path: ["JWT_JWKS_URL"], message: "is required in production (or JWT_SECRET)" });
    }
    if (env.AI_MODE === "http" && !env.AI_SERVICE_URL) {
      ctx.addIssue({ code: "custom", path: ["AI_SERVICE_URL"], message: "is required when AI_MODE is http" });
    }
    if (env.NODE_ENV === "production" && !env.AI_MODE) {
      ctx.addIssue({ code: "custom", path: ["AI_MODE"], message: "must be set in production: http (or mock, for a demo only)" });
    }
    if (env.PAYMENT_MODE === "http" && !env.PAYMENT_API_URL) {
      ctx.addIssue({ code: "custom", path: ["PAYMENT_API_URL"], message: "is required when PAYMENT_MODE is http" });
    }
    if (env.NODE_ENV === "production" && !env.PAYMENT_MODE) {
      ctx.addIssue({ code: "custom", path: ["PAYMENT_MODE"], message: "must be set in production: http (or mock, for a demo only)" });
    }
    if (env.NODE_ENV === "production" && !env.PAYMENT_WEBHOOK_SECRET) {
      ctx.addIssue({ code: "custom", path: ["PAYMENT_WEBHOOK_SECRET"], message: "is required in production" });
    }
    if (env.NODE_ENV === "production" && !env.AI_CALLBACK_SECRET) {
      ctx.addIssue({ code: "custom", path: ["AI_CALLBACK_SECRET"], message: "is required in production" });
    }
  });

export type Env = z.infer<typeof envSchema>;

/** Every variable the service reads (scripts/check-docker.ts holds docker-compose.yml to these names). */
export const ENVIRONMENT_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

/** A PostgreSQL server, or the embedded PGlite in a folder. */
export type DatabaseConfig = { url: string; poolMax: number; queryTimeoutMs: number } | { pgliteDataDir: string };

/**
 * The typed configuration from a valid environment. Its return type is `Config`: the shape is
 * written once, here, and each setting is validated once, in the schema above.
 */
function toConfig(env: Env) {
  const secret = env.JWT_SECRET ?? (env.JWT_JWKS_URL || env.NODE_ENV === "production" ? undefined : DEV_JWT_SECRET);
  const database: DatabaseConfig = env.DATABASE_URL
    ? { url: env.DATABASE_URL, poolMax: env.DATABASE_POOL_MAX, queryTimeoutMs: env.DATABASE_QUERY_TIMEOUT_MS }
    : { pgliteDataDir: path.resolve(PROJECT_ROOT, env.PGLITE_DATA_DIR) };
  return {
    env: env.NODE_ENV,
    host: env.HOST,
    port: env.PORT,
    publicBaseUrl: (env.PUBLIC_BASE_URL ?? `http://localhost:${env.PORT}`).replace(/\/$/, ""),
    /** PUBLIC_BASE_URL as configured; when unset the server uses localhost and the port it bound. */
    explicitPublicBaseUrl: env.PUBLIC_BASE_URL?.replace(/\/$/, ""),
    log: { level: env.LOG_LEVEL, pretty: env.LOG_PRETTY ? env.LOG_PRETTY === "true" : env.NODE_ENV === "development" },
    database,
    auth: { secret, jwksUrl: env.JWT_JWKS_URL, issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE },
    bodyLimit: env.BODY_LIMIT,
    /** Requests per minute per client on the public API; 0 = no limit. */
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    /** Where every instance keeps its rate-limit counters; undefined: each in its own memory. */
    redisUrl: env.REDIS_URL,
    /** Which proxies in front are believed about the client's address (X-Forwarded-For); see docs/deployment.md. */
    trustProxy: env.TRUST_PROXY,
    idempotencyTtlHours: env.IDEMPOTENCY_TTL_HOURS,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    /**
     * A start-up step that meets a database outage is tried again after `firstDelayMs`, doubling
     * up to `maxDelayMs`; after `limit` retries in a row the start gives up (0: it never does).
     */
    startRetry: { firstDelayMs: env.START_RETRY_DELAY_MS, maxDelayMs: env.START_RETRY_MAX_DELAY_MS, limit: env.START_RETRY_LIMIT },
    /** Background work (src/jobs): how often idle workers poll, and how often ran-out leases are handed back. */
    jobs: { schema: env.JOB_SCHEMA, pollMs: env.JOB_POLL_MS, maintenanceSeconds: env.JOB_MAINTENANCE_SECONDS, leaseSeconds: env.JOB_LEASE_SECONDS },
    /** Live events older than this are deleted (a stream resuming from further back gets its snapshot and what is left). */
    eventRetentionDays: env.EVENT_RETENTION_DAYS,
    /** Worker processes sharing the port (node:cluster); 1 = one process, no primary. More than 1 needs DATABASE_URL. */
    webConcurrency: env.WEB_CONCURRENCY,
    /** false: a start only checks that no migration is pending (the release step, `npm run db:migrate`, applies them). */
    migrateOnStart: env.MIGRATE_ON_START === "true",
    uploads: { dir: path.resolve(PROJECT_ROOT, env.UPLOAD_DIR), maxBytes: env.MAX_UPLOAD_BYTES },
    /** Where the service's own internal endpoints are reached by callbacks; default: loopback and the bound port. */
    internalBaseUrl: env.INTERNAL_BASE_URL?.replace(/\/$/, ""),
    ai: {
      mode: env.AI_MODE ?? "mock",
      serviceUrl: env.AI_SERVICE_URL,
      callbackSecret: env.AI_CALLBACK_SECRET ?? DEV_AI_SECRET,
      mock: {
        delayMs: env.AI_MOCK_DELAY_MS,
        fixturesPath: env.AI_MOCK_FIXTURES ? path.resolve(PROJECT_ROOT, env.AI_MOCK_FIXTURES) : undefined,
        fail: env.AI_MOCK_FAIL === "true",
      },
      jobTimeoutMs: env.AI_JOB_TIMEOUT_MS,
      maxAttempts: env.AI_MAX_ATTEMPTS,
    },
    payments: {
      mode: env.PAYMENT_MODE ?? "mock",
      apiUrl: env.PAYMENT_API_URL,
      webhookSecret: env.PAYMENT_WEBHOOK_SECRET ?? DEV_PAYMENT_SECRET,
      /** 0: the mock never pays by itself (only through the pay page). */
      mockDelayMs: env.PAYMENT_MOCK_DELAY_MS,
      requestTtlHours: env.PAYMENT_REQUEST_TTL_HOURS,
      /** When requests past their expiry date are expired (cron, UTC), or null: never. */
      expiryCron: env.PAYMENT_EXPIRY_CRON === "off" ? null : env.PAYMENT_EXPIRY_CRON,
      /** A request the committing process could not hand over is tried again by a job after this. */
      handOverRetryAfterSeconds: env.PAYMENT_HAND_OVER_RETRY_AFTER_SECONDS,
      /** A sent request not heard of for this long is asked about at the payment system (reconciliation). */
      reconcileAfterMs: env.RECONCILE_AFTER_MS,
      /** How long after a request closed unpaid reconciliation still asks about it. */
      reconcileClosedWindowMs: env.RECONCILE_CLOSED_WINDOW_HOURS * 3_600_000,
      /** When reconciliation runs (cron, UTC), or null: never. */
      reconcileCron: env.RECONCILE_CRON === "off" ? null : env.RECONCILE_CRON,
      emv: { merchantId: env.EMV_MERCHANT_ID, country: env.EMV_COUNTRY, city: env.EMV_CITY },
    },
    notifications: {
      reminderIntervalMs: Math.round(env.REMINDER_INTERVAL_HOURS * 3_600_000),
      /** When automatic reminders go out (cron, UTC), or null: no automatic reminders. */
      reminderCron: env.REMINDER_CRON === "off" ? null : env.REMINDER_CRON,
      maxAttempts: env.NOTIFY_MAX_ATTEMPTS,
      /** Each wait bounded (nodemailer's own socket default is 10 minutes), so a send ends well inside a job's lease. */
      smtp: env.SMTP_URL
        ? {
            url: env.SMTP_URL,
            from: env.SMTP_FROM,
            connectionTimeoutMs: env.SMTP_CONNECTION_TIMEOUT_MS,
            greetingTimeoutMs: env.SMTP_GREETING_TIMEOUT_MS,
            socketTimeoutMs: env.SMTP_SOCKET_TIMEOUT_MS,
          }
        : undefined,
    },
  };
}

/** The service's configuration, as toConfig() builds it from the environment. */
export type Config = ReturnType<typeof toConfig>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

/**
 * Parses an environment (process.env by default) into the typed configuration, or throws one
 * ConfigError line naming every bad variable (its first problem each), so an operator fixes them all
 * in one restart. The rules between variables (production needs its secrets, ...) are checked once
 * each variable is valid on its own.
 */
export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const problems = new Map<string, string>();
    for (const issue of parsed.error.issues) {
      const variable = String(issue.path[0] ?? "environment");
      if (problems.has(variable)) continue;
      const received = source[variable];
      const shown = received === undefined || /SECRET|URL/.test(variable) ? "" : ` (got "${received}")`;
      problems.set(variable, `${variable} ${issue.message.replace(/^Invalid input: /, "")}${shown}`);
    }
    throw new ConfigError(`Invalid configuration: ${[...problems.values()].join("; ")}`);
  }
  return toConfig(parsed.data);
}

/** process.env, with a .env file (if any) filling in what the real environment does not set. */
export function readEnvironment(): Record<string, string | undefined> {
  dotenv.config({ quiet: true, path: path.join(PROJECT_ROOT, ".env") });
  return process.env;
}
