import path from "node:path";
import express from "express";
import { ConfigError, loadConfig } from "../../src/config";

const secret = "x".repeat(32);

describe("loadConfig", () => {
  it("when nothing is set, then it runs in development on the embedded PGlite with a development secret", () => {
    const config = loadConfig({});
    expect(config.env).toBe("development");
    expect(config.port).toBe(3000);
    expect(config.database).toEqual({ pgliteDataDir: path.resolve(__dirname, "../..", ".data/pglite") });
    expect(config.auth.secret).toEqual(expect.any(String));
    expect(config.log.pretty).toBe(true);
    expect(config.publicBaseUrl).toBe("http://localhost:3000");
  });

  it("when DATABASE_URL is set, then it uses that PostgreSQL server", () => {
    const config = loadConfig({ DATABASE_URL: "postgresql://u:p@db:5432/chillbill", DATABASE_POOL_MAX: "4" });
    expect(config.database).toEqual({ url: "postgresql://u:p@db:5432/chillbill", poolMax: 4, queryTimeoutMs: 15_000 });
    expect(loadConfig({ DATABASE_URL: "postgresql://u:p@db/c", DATABASE_QUERY_TIMEOUT_MS: "0" }).database).toMatchObject({ queryTimeoutMs: 0 });
  });

  it("treats empty variables as unset", () => {
    expect(loadConfig({ DATABASE_URL: "", PORT: "" }).database).toHaveProperty("pgliteDataDir");
  });

  it.each([
    [{ PORT: "eighty" }, /^Invalid configuration: PORT .*\(got "eighty"\)$/],
    [{ PORT: "70000" }, /^Invalid configuration: PORT /],
    [{ DATABASE_URL: "mysql://x" }, /^Invalid configuration: DATABASE_URL must be a postgresql:\/\/ URL/],
    [{ JWT_SECRET: "short" }, /^Invalid configuration: JWT_SECRET must be at least 32 characters$/],
    [{ LOG_LEVEL: "loud" }, /^Invalid configuration: LOG_LEVEL /],
    [{ NODE_ENV: "staging" }, /^Invalid configuration: NODE_ENV /],
    [{ BODY_LIMIT: "lots" }, /^Invalid configuration: BODY_LIMIT must look like 100kb or 1mb/],
    [{ PUBLIC_BASE_URL: "ftp://x" }, /^Invalid configuration: PUBLIC_BASE_URL /],
    [{ REDIS_URL: "localhost:6379" }, /^Invalid configuration: REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ TRUST_PROXY: "yes" }, /^Invalid configuration: TRUST_PROXY must be false, true, a number of proxy hops, or a comma-separated list .*\(got "yes"\)$/],
    [{ TRUST_PROXY: "loopback, 10.0.0.0/33" }, /^Invalid configuration: TRUST_PROXY .*\(got "loopback, 10.0.0.0\/33"\)$/],
    [{ TRUST_PROXY: "10.0.0.0/0" }, /^Invalid configuration: TRUST_PROXY /],
    [{ TRUST_PROXY: "-1" }, /^Invalid configuration: TRUST_PROXY /],
    [{ TRUST_PROXY: "1.5" }, /^Invalid configuration: TRUST_PROXY /],
    [{ TRUST_PROXY: "proxy.internal" }, /^Invalid configuration: TRUST_PROXY /],
  ])("refuses %j with one line naming the variable", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    try {
      loadConfig(env);
    } catch (err) {
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain("\n");
    }
  });

  it("names every bad variable in its one line, so that one restart fixes them all", () => {
    const refused = () => loadConfig({ PORT: "eighty", LOG_LEVEL: "loud", JWT_SECRET: "short", BODY_LIMIT: "lots" });
    expect(refused).toThrow(ConfigError);
    expect(refused).toThrow(
      /^Invalid configuration: PORT .*\(got "eighty"\); LOG_LEVEL .*\(got "loud"\); JWT_SECRET must be at least 32 characters; BODY_LIMIT must look like 100kb or 1mb \(got "lots"\)$/,
    );
  });

  it("never echoes a secret in the error", () => {
    expect(() => loadConfig({ JWT_SECRET: "hunter2" })).toThrow(/^Invalid configuration: JWT_SECRET[^"]*$/);
  });

  it("in production, requires a JWKS URL or a secret and never falls back to the development secret", () => {
    const payments = { PAYMENT_MODE: "http", PAYMENT_API_URL: "https://pay.bank", PAYMENT_WEBHOOK_SECRET: secret };
    expect(() => loadConfig({ NODE_ENV: "production", AI_CALLBACK_SECRET: secret })).toThrow(/JWT_JWKS_URL is required in production/);
    expect(() => loadConfig({ NODE_ENV: "production", JWT_SECRET: secret, AI_MODE: "mock", ...payments })).toThrow(
      /AI_CALLBACK_SECRET is required in production/,
    );
    expect(() => loadConfig({ NODE_ENV: "production", JWT_SECRET: secret, AI_CALLBACK_SECRET: secret, ...payments })).toThrow(
      /AI_MODE must be set in production/,
    );
    const ai = { AI_CALLBACK_SECRET: secret, AI_MODE: "http", AI_SERVICE_URL: "https://ai.bank" };
    expect(() => loadConfig({ NODE_ENV: "production", JWT_SECRET: secret, ...ai, PAYMENT_MODE: "mock" })).toThrow(
      /PAYMENT_WEBHOOK_SECRET is required in production/,
    );
    expect(() => loadConfig({ NODE_ENV: "production", JWT_SECRET: secret, ...ai, PAYMENT_WEBHOOK_SECRET: secret })).toThrow(
      /PAYMENT_MODE must be set in production/,
    );
    const config = loadConfig({ NODE_ENV: "production", JWT_JWKS_URL: "https://bank.example/jwks.json", ...ai, ...payments });
    expect(config.auth).toEqual({ jwksUrl: "https://bank.example/jwks.json", secret: undefined, issuer: undefined, audience: undefined });
    expect(config.log.pretty).toBe(false);
  });

  it("needs AI_SERVICE_URL for the real AI service, and defaults to the mock", () => {
    expect(loadConfig({}).ai).toMatchObject({ mode: "mock", mock: { delayMs: 2000, fail: false }, maxAttempts: 3 });
    expect(() => loadConfig({ AI_MODE: "http" })).toThrow(/^Invalid configuration: AI_SERVICE_URL is required when AI_MODE is http$/);
    expect(loadConfig({ AI_MODE: "http", AI_SERVICE_URL: "https://ai.example" }).ai.serviceUrl).toBe("https://ai.example");
    expect(() => loadConfig({ MAX_UPLOAD_BYTES: "10" })).toThrow(/MAX_UPLOAD_BYTES/);
    expect(() => loadConfig({ PAYMENT_MODE: "http" })).toThrow(/^Invalid configuration: PAYMENT_API_URL is required when PAYMENT_MODE is http$/);
    expect(loadConfig({}).payments).toMatchObject({ mode: "mock", mockDelayMs: 5000, requestTtlHours: 168, reconcileAfterMs: 15 * 60_000 });
    expect(loadConfig({ RECONCILE_AFTER_MS: "60000" }).payments.reconcileAfterMs).toBe(60_000);
  });

  it("bounds every SMTP wait: 10 s to connect, 10 s for the greeting, 20 s of silence, unless set", () => {
    expect(loadConfig({}).notifications.smtp).toBeUndefined();
    expect(loadConfig({ SMTP_URL: "smtp://mail.example:587" }).notifications.smtp).toEqual({
      url: "smtp://mail.example:587",
      from: "ChillBill <no-reply@chillbill.local>",
      connectionTimeoutMs: 10_000,
      greetingTimeoutMs: 10_000,
      socketTimeoutMs: 20_000,
    });
    expect(loadConfig({ SMTP_URL: "smtp://m", SMTP_SOCKET_TIMEOUT_MS: "5000" }).notifications.smtp?.socketTimeoutMs).toBe(5_000);
    // 0 would mean nodemailer's own default (10 minutes of silence): refused.
    expect(() => loadConfig({ SMTP_URL: "smtp://m", SMTP_SOCKET_TIMEOUT_MS: "0" })).toThrow(/^Invalid configuration: SMTP_SOCKET_TIMEOUT_MS /);
  });

  it("when WEB_CONCURRENCY and MIGRATE_ON_START are not set, then it runs one process that migrates on start", () => {
    expect(loadConfig({})).toMatchObject({ webConcurrency: 1, migrateOnStart: true });
    expect(loadConfig({ WEB_CONCURRENCY: "", MIGRATE_ON_START: "" })).toMatchObject({ webConcurrency: 1, migrateOnStart: true });
  });

  it("when WEB_CONCURRENCY is above 1 with DATABASE_URL, then it runs that many workers", () => {
    const config = loadConfig({ WEB_CONCURRENCY: "4", DATABASE_URL: "postgresql://u:p@db/c", MIGRATE_ON_START: "false" });
    expect(config).toMatchObject({ webConcurrency: 4, migrateOnStart: false });
  });

  it("refuses WEB_CONCURRENCY above 1 on the embedded PGlite, saying why, in one line", () => {
    for (const env of [{ WEB_CONCURRENCY: "2" }, { WEB_CONCURRENCY: "2", DATABASE_URL: "" }]) {
      expect(() => loadConfig(env)).toThrow(ConfigError);
      expect(() => loadConfig(env)).toThrow(
        /^Invalid configuration: WEB_CONCURRENCY above 1 needs DATABASE_URL: the embedded PGlite database lives inside one process [^\n]*\(got "2"\)$/,
      );
    }
    expect(loadConfig({ WEB_CONCURRENCY: "1" }).webConcurrency).toBe(1);
  });

  it.each([["0"], ["-1"], ["1.5"], ["two"], ["65"]])("refuses WEB_CONCURRENCY=%s", (value) => {
    expect(() => loadConfig({ WEB_CONCURRENCY: value, DATABASE_URL: "postgresql://u:p@db/c" })).toThrow(/^Invalid configuration: WEB_CONCURRENCY /);
  });

  it("when the START_RETRY settings are not set, then start-up waits out a database outage for ever, from 0.5 s doubling up to 30 s", () => {
    expect(loadConfig({}).startRetry).toEqual({ firstDelayMs: 500, maxDelayMs: 30_000, limit: 0 });
    expect(loadConfig({ START_RETRY_DELAY_MS: "100", START_RETRY_MAX_DELAY_MS: "1000", START_RETRY_LIMIT: "5" }).startRetry).toEqual({
      firstDelayMs: 100,
      maxDelayMs: 1_000,
      limit: 5,
    });
    expect(() => loadConfig({ START_RETRY_LIMIT: "-1" })).toThrow(/^Invalid configuration: START_RETRY_LIMIT .*\(got "-1"\)$/);
    expect(() => loadConfig({ START_RETRY_DELAY_MS: "soon" })).toThrow(/^Invalid configuration: START_RETRY_DELAY_MS /);
  });

  it("refuses a MIGRATE_ON_START that is not true or false", () => {
    expect(() => loadConfig({ MIGRATE_ON_START: "no" })).toThrow(/^Invalid configuration: MIGRATE_ON_START .*\(got "no"\)$/);
  });

  it("when REDIS_URL is set, then rate limits are counted there; unset, in memory", () => {
    expect(loadConfig({}).redisUrl).toBeUndefined();
    expect(loadConfig({ REDIS_URL: "" }).redisUrl).toBeUndefined();
    expect(loadConfig({ REDIS_URL: "redis://redis:6379" }).redisUrl).toBe("redis://redis:6379");
    expect(loadConfig({ REDIS_URL: "rediss://user:pw@cache.bank:6380/2" }).redisUrl).toBe("rediss://user:pw@cache.bank:6380/2");
  });

  it("never echoes REDIS_URL in the error: it may hold a password", () => {
    expect(() => loadConfig({ REDIS_URL: "http://user:hunter2@cache" })).toThrow(/^Invalid configuration: REDIS_URL[^"]*$/);
  });

  it.each([
    [undefined, false],
    ["", false],
    ["false", false],
    ["true", true],
    ["1", 1],
    ["0", 0],
    [" 2 ", 2],
    ["loopback", ["loopback"]],
    ["loopback, 10.0.0.0/8", ["loopback", "10.0.0.0/8"]],
    ["10.1.2.3,192.168.0.0/16 , fd00::/8,::1, uniquelocal, linklocal", ["10.1.2.3", "192.168.0.0/16", "fd00::/8", "::1", "uniquelocal", "linklocal"]],
  ])("reads TRUST_PROXY %j as Express's trust proxy %j", (value, expected) => {
    const { trustProxy } = loadConfig({ TRUST_PROXY: value });
    expect(trustProxy).toEqual(expected);
    // What the configuration accepts, Express accepts too (it would throw at start-up otherwise).
    expect(() => express().set("trust proxy", trustProxy)).not.toThrow();
  });

  it("keeps a configured secret and lets LOG_PRETTY override the default", () => {
    const config = loadConfig({ NODE_ENV: "test", JWT_SECRET: secret, LOG_PRETTY: "true" });
    expect(config.auth.secret).toBe(secret);
    expect(config.log.pretty).toBe(true);
  });
});
