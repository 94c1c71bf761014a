// Security headers and rate limiting.
import request from "supertest";
import { as, expectProblem, API } from "../support/http";
import { createTestApp, newUserId, type TestApp } from "../support/test-app";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: { RATE_LIMIT_PER_MINUTE: "5" } });
});
afterAll(() => t.close());

it("sends security headers on API answers and a strict policy", async () => {
  const res = await request(t.app).get("/health");
  expect(res.headers["x-content-type-options"]).toBe("nosniff");
  expect(res.headers["content-security-policy"]).toContain("default-src 'none'");
  expect(res.headers["strict-transport-security"]).toBeDefined();
  expect(res.headers["x-frame-options"]).toBe("SAMEORIGIN");
  expect(res.headers["x-powered-by"]).toBeUndefined();
});

it("lets the docs page run its own scripts, and nothing from elsewhere", async () => {
  const res = await request(t.app).get("/docs/").redirects(1);
  expect(res.headers["content-security-policy"]).toContain("script-src 'self' 'unsafe-inline'");
});

it("answers 429 with Retry-After and the problem shape past the limit, per client", async () => {
  const token = await t.tokenFor(newUserId());
  const statuses: number[] = [];
  for (let i = 0; i < 6; i += 1) statuses.push((await as(t, token).get("/bills")).status);
  expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
  const limited = await as(t, token).get("/bills");
  expectProblem(limited, 429, "rate_limited");
  expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
  expect(limited.headers["ratelimit-policy"] ?? limited.headers["ratelimit"]).toBeDefined();
  // Another client is not affected.
  expect((await as(t, await t.tokenFor(newUserId())).get("/bills")).status).toBe(200);
});

it("does not limit the signed callbacks", async () => {
  const results = await Promise.all(
    Array.from({ length: 8 }, () => request(t.app).post(`${API}/webhook/payment-callback`).set("Content-Type", "application/json").send("{}")),
  );
  expect(results.map((r) => r.status)).toEqual(Array(8).fill(401));
});
