// Rate limits when several instances run behind a load balancer: they count in one Redis
// (REDIS_URL), a Redis that is away lets requests pass (fail open, logged), and the client's address
// comes from the proxies named in TRUST_PROXY. The tests that need a Redis server run when
// TEST_REDIS_URL names one (CI); the rest need none.
import pino from "pino";
import request from "supertest";
import { createApp } from "../../src/app";
import { connectRateLimitStores, type RateLimitStores } from "../../src/http/rate-limit-store";
import { as, expectProblem, API } from "../support/http";
import { closedPort, deleteKeys, expectRedisAnswers, recordingLogger, redisKeys, testRedisUrl, uniqueKeyPrefix } from "../support/redis";
import { TcpProxy } from "../support/tcp-proxy";
import { createTestApp, createTestDatabase, newUserId, testConfig, type TestApp } from "../support/test-app";

/** A bearer token that looks like a JWT and is refused: only the refused-credential limit counts it. */
const madeUpToken = (i: number) => `Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4${i}In0.${"A".repeat(43)}`;

let tokens = 0;
/** Statuses of refused requests that claim, through X-Forwarded-For, to come from `forwardedFor`. */
async function refusedFrom(t: TestApp, forwardedFor: string | undefined, times = 1): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < times; i += 1) {
    const req = request(t.app)
      .get(`${API}/bills`)
      .set("Authorization", madeUpToken((tokens += 1)));
    if (forwardedFor !== undefined) req.set("X-Forwarded-For", forwardedFor);
    statuses.push((await req).status);
  }
  return statuses;
}

describe("the client address of the refused-credential limit", () => {
  const apps: TestApp[] = [];
  const appWith = async (env: Record<string, string>) => {
    const t = await createTestApp({ env: { RATE_LIMIT_PER_MINUTE: "2", ...env } });
    apps.push(t);
    return t;
  };
  afterAll(() => Promise.all(apps.map((t) => t.close())));

  it("when TRUST_PROXY is unset, then X-Forwarded-For is ignored: every claimed client shares the connecting address's count", async () => {
    const t = await appWith({});
    expect([...(await refusedFrom(t, "203.0.113.1")), ...(await refusedFrom(t, "203.0.113.2")), ...(await refusedFrom(t, "203.0.113.3"))]).toEqual([
      401, 401, 429,
    ]);
  });

  it("when TRUST_PROXY names the load balancer, then each client behind it has its own count", async () => {
    const t = await appWith({ TRUST_PROXY: "loopback, 10.0.0.0/8" });
    expect(await refusedFrom(t, "203.0.113.1", 3)).toEqual([401, 401, 429]);
    expectProblem(await request(t.app).get(`${API}/bills`).set("Authorization", madeUpToken(0)).set("X-Forwarded-For", "203.0.113.1"), 429, "rate_limited");
    // Another client through the same load balancer, and the load balancer itself, are not limited by it.
    expect(await refusedFrom(t, "203.0.113.2", 2)).toEqual([401, 401]);
    expect(await refusedFrom(t, undefined, 2)).toEqual([401, 401]);
    // A client that is itself a trusted address (one hop further in) is counted by where it came from.
    expect(await refusedFrom(t, "203.0.113.3, 10.1.2.3")).toEqual([401]);
    expect(await refusedFrom(t, "203.0.113.1, 10.1.2.3")).toEqual([429]);
  });

  it("when TRUST_PROXY is a hop count, then only the address the load balancer appended counts, not what the client wrote before it", async () => {
    const t = await appWith({ TRUST_PROXY: "1" });
    expect([
      ...(await refusedFrom(t, "198.51.100.7, 203.0.113.1")),
      ...(await refusedFrom(t, "198.51.100.8, 203.0.113.1")),
      ...(await refusedFrom(t, "198.51.100.9, 203.0.113.1")),
    ]).toEqual([401, 401, 429]);
    expect(await refusedFrom(t, "198.51.100.7, 203.0.113.2")).toEqual([401]);
  });
});

describe("when Redis is unreachable", () => {
  let t: TestApp;
  let log: ReturnType<typeof recordingLogger>;
  beforeAll(async () => {
    log = recordingLogger();
    const url = `redis://127.0.0.1:${await closedPort()}`;
    const stores = await connectRateLimitStores({ url, logger: log.logger, keyPrefix: uniqueKeyPrefix(), connectWaitMs: 300 });
    t = await createTestApp({ env: { RATE_LIMIT_PER_MINUTE: "2", REDIS_URL: url }, rateLimitStores: stores });
  });

  it("then the service starts, answers every request without a limit, and logs the outage once, not per request", async () => {
    const token = await t.tokenFor(newUserId());
    const users: number[] = [];
    for (let i = 0; i < 5; i += 1) users.push((await as(t, token).get("/bills")).status);
    expect(users).toEqual([200, 200, 200, 200, 200]);
    expect(await refusedFrom(t, undefined, 5)).toEqual([401, 401, 401, 401, 401]);
    const errors = log.lines.filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0].msg).toMatch(/^Rate limit store unavailable: requests pass without a limit/);
  });

  it("then closing does not wait for it", async () => {
    const started = Date.now();
    await t.close();
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

it("refuses to build an app with REDIS_URL but no store connected, rather than count in memory unnoticed", async () => {
  const db = await createTestDatabase();
  try {
    const config = testConfig({ REDIS_URL: "redis://127.0.0.1:6379" });
    expect(() => createApp({ config, db, logger: pino({ level: "silent" }) })).toThrow(/REDIS_URL is set but no rate limit store/);
  } finally {
    await db.close();
  }
});

if (testRedisUrl) {
  const redisUrl = testRedisUrl;

  describe("two instances counting in one Redis", () => {
    const keyPrefix = uniqueKeyPrefix();
    let a: TestApp;
    let b: TestApp;
    // Each instance is its own process in production: its own client, the same Redis and prefix.
    const instance = async () =>
      createTestApp({
        env: { RATE_LIMIT_PER_MINUTE: "4", REDIS_URL: redisUrl },
        rateLimitStores: await connectRateLimitStores({ url: redisUrl, logger: pino({ level: "silent" }), keyPrefix }),
      });
    beforeAll(async () => {
      await expectRedisAnswers(redisUrl);
      a = await instance();
      b = await instance();
    });
    afterAll(async () => {
      await Promise.all([a?.close(), b?.close()]);
      await deleteKeys(redisUrl, keyPrefix);
    });

    it("a user whose requests are spread over both meets the limit once, on either", async () => {
      const userId = newUserId();
      const token = await a.tokenFor(userId);
      const statuses: number[] = [];
      for (const t of [a, b, a, b, a]) statuses.push((await as(t, token).get("/bills")).status);
      expect(statuses).toEqual([200, 200, 200, 200, 429]);
      expectProblem(await as(b, token).get("/bills"), 429, "rate_limited");
      // Another user is not affected, on either instance.
      const other = await a.tokenFor(newUserId());
      expect([(await as(a, other).get("/bills")).status, (await as(b, other).get("/bills")).status]).toEqual([200, 200]);
    });

    it("refused credentials from one address are counted together too, apart from the users' counters", async () => {
      expect([
        ...(await refusedFrom(a, undefined)),
        ...(await refusedFrom(b, undefined)),
        ...(await refusedFrom(a, undefined)),
        ...(await refusedFrom(b, undefined)),
        ...(await refusedFrom(a, undefined)),
      ]).toEqual([401, 401, 401, 401, 429]);
      const keys = await redisKeys(redisUrl, keyPrefix);
      expect(keys).toContain(`${keyPrefix}refused-credentials:ip:127.0.0.1`);
      expect(keys.filter((k) => k.startsWith(`${keyPrefix}users:user:`)).length).toBeGreaterThanOrEqual(2);
      expect(keys.every((k) => k.startsWith(`${keyPrefix}users:`) || k.startsWith(`${keyPrefix}refused-credentials:`))).toBe(true);
    });
  });

  describe("when Redis goes away and comes back", () => {
    const keyPrefix = uniqueKeyPrefix();
    let proxy: TcpProxy;
    let t: TestApp;
    let log: ReturnType<typeof recordingLogger>;
    let stores: RateLimitStores;
    beforeAll(async () => {
      await expectRedisAnswers(redisUrl);
      const { hostname, port } = new URL(redisUrl);
      proxy = new TcpProxy({ host: hostname, port: Number(port || 6379) });
      await proxy.start();
      proxy.cut();
      log = recordingLogger();
      stores = await connectRateLimitStores({ url: `redis://127.0.0.1:${proxy.port}`, logger: log.logger, keyPrefix, connectWaitMs: 300 });
      t = await createTestApp({ env: { RATE_LIMIT_PER_MINUTE: "3", REDIS_URL: redisUrl }, rateLimitStores: stores });
    });
    afterAll(async () => {
      await t?.close();
      await proxy?.close();
      await deleteKeys(redisUrl, keyPrefix);
    });

    /** Statuses of a user's requests, and whether Redis counted them (the rate-limit headers are sent only then). */
    async function requests(token: string, times: number) {
      const answers = [];
      for (let i = 0; i < times; i += 1) answers.push(await as(t, token).get("/bills"));
      return { statuses: answers.map((r) => r.status), counted: answers.map((r) => r.headers["ratelimit"] !== undefined) };
    }

    /** Requests until one is counted: the client reconnects by itself, and a request may pass uncounted meanwhile. */
    async function untilCounted(token: string) {
      const until = Date.now() + 10_000;
      while (!(await requests(token, 1)).counted[0]) {
        if (Date.now() > until) throw new Error("Redis was not used again within 10 s of coming back");
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    it("then requests pass while it is away from the start, are counted once it answers, and pass again when it goes", async () => {
      const token = await t.tokenFor(newUserId());
      expect(await requests(token, 4)).toEqual({ statuses: [200, 200, 200, 200], counted: [false, false, false, false] });
      expect(log.lines.filter((l) => l.level >= 50)).toHaveLength(1);

      proxy.restore();
      await untilCounted(token);
      expect(log.lines.some((l) => l.msg === "Rate limit store answers again: requests are counted")).toBe(true);
      expect(await requests(token, 3)).toEqual({ statuses: [200, 200, 429], counted: [true, true, true] });

      proxy.cut();
      const errorsBefore = log.lines.filter((l) => l.level >= 50).length;
      expect((await requests(token, 3)).statuses).toEqual([200, 200, 200]);
      expect(log.lines.filter((l) => l.level >= 50).length).toBe(errorsBefore + 1);
    });

    it("then, when it accepts and never answers, a request waits about a second at most and passes, and counting resumes when it answers", async () => {
      const token = await t.tokenFor(newUserId());
      proxy.restore();
      await untilCounted(token);

      proxy.hang();
      const started = Date.now();
      expect(await requests(token, 4)).toEqual({ statuses: [200, 200, 200, 200], counted: [false, false, false, false] });
      // The first waits for its answer up to the command timeout (1 s); the others find the
      // connection being replaced and pass at once.
      expect(Date.now() - started).toBeLessThan(2_500);

      proxy.restore();
      await untilCounted(token);
      // The count that went unanswered may have reached Redis all the same (it is not sent again),
      // so the limit may come one request early; it comes.
      const after = await requests(token, 3);
      expect(after.counted).toEqual([true, true, true]);
      expect(after.statuses[2]).toBe(429);
    });
  });
}
