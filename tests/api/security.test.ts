// Security headers (on every answer, errors included), body limits and rate limiting.
import request from "supertest";
import { createBill } from "../support/builders";
import { as, expectProblem, expectSecurityHeaders, API } from "../support/http";
import { signedCallback } from "../support/images";
import { postWebhook } from "../support/payments";
import { createTestApp, newUserId, type TestApp } from "../support/test-app";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ env: { RATE_LIMIT_PER_MINUTE: "5" } });
});
afterAll(() => t.close());

it("sends security headers and a strict policy on /health and on API answers", async () => {
  expectSecurityHeaders(await request(t.app).get("/health"));
  const token = await t.tokenFor(newUserId());
  const bill = await createBill(t, token);
  for (const res of [await as(t, token).get("/bills"), await as(t, token).get(`/bills/${bill.id}`), await as(t, token).get(`/bills/${bill.id}/export.csv`)]) {
    expect(res.status).toBe(200);
    expectSecurityHeaders(res);
  }
});

it("sends the same headers on error answers, whichever layer refuses", async () => {
  const token = () => t.tokenFor(newUserId());
  const answers: [request.Response, number][] = [
    [await request(t.app).get(`${API}/bills`), 401], // auth
    [await as(t, await token()).get("/nowhere"), 404], // no route
    [await as(t, await token()).get(`/bills/${"0".repeat(8)}-0000-0000-0000-${"0".repeat(12)}`), 404], // not yours
    [
      await as(t, await token())
        .post("/bills")
        .send({ status: "completed" }),
      400,
    ], // validation
    [
      await as(t, await token())
        .post("/bills")
        .set("Content-Type", "application/json")
        .send("{"),
      400,
    ], // body parser
    [
      await as(t, await token())
        .post("/bills")
        .set("Content-Type", "application/json")
        .send(JSON.stringify({ note: "x".repeat(200_000) })),
      413,
    ],
    [
      await as(t, await token())
        .post("/bills")
        .set("Content-Type", "text/plain")
        .send("x"),
      415,
    ],
    [await signedCallback(t, `/internal/bills/${newUserId()}/bill-result`, "{}", { header: null }), 401], // signature
  ];
  for (const [res, status] of answers) {
    expectProblem(res, status);
    expectSecurityHeaders(res);
  }
});

it("refuses a body over 1 MB on the signed routes with 413 in the problem shape, signed or not, and reads one just under", async () => {
  const MB = 1024 * 1024;
  const padded = (size: number) => `{"pad":"${"x".repeat(size - 10)}"}`;
  expect(Buffer.byteLength(padded(MB))).toBe(MB);
  const billPath = "/internal/bills/01a207c9-a789-71bc-bab2-18da81c8123d/bill-result";
  for (const res of [
    await signedCallback(t, billPath, padded(MB + 1)),
    await postWebhook(t, padded(MB + 1)),
    await postWebhook(t, padded(MB + 1), { header: null }),
  ]) {
    expectProblem(res, 413, "body_too_large");
    expectSecurityHeaders(res);
  }
  // At the limit the body is read, its signature checked and its content judged.
  expectProblem(await signedCallback(t, billPath, padded(MB)), 400, "validation_failed");
  expectProblem(await postWebhook(t, padded(MB)), 400, "validation_failed");
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
  expectSecurityHeaders(limited);
  expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
  expect(limited.headers["ratelimit-policy"] ?? limited.headers["ratelimit"]).toBeDefined();
  // Another client is not affected.
  expect((await as(t, await t.tokenFor(newUserId())).get("/bills")).status).toBe(200);
});

describe("made-up tokens from one address", () => {
  let flooded: TestApp;
  beforeAll(async () => {
    flooded = await createTestApp({ env: { RATE_LIMIT_PER_MINUTE: "3" } });
  });
  afterAll(() => flooded.close());

  it("are limited like a user (a new token per request does not escape the limit), while valid tokens from the same address are not", async () => {
    const garbage = (i: number) => `Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4${i}In0.${"A".repeat(43)}`;
    // Valid requests of five users from the same address do not count towards it.
    for (let i = 0; i < 5; i += 1) expect((await as(flooded, await flooded.tokenFor(newUserId())).get("/bills")).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await request(flooded.app).get(`${API}/bills`).set("Authorization", garbage(i))).status);
    expect(statuses).toEqual([401, 401, 401, 429, 429]);
    const limited = await request(flooded.app).get(`${API}/bills`).set("Authorization", garbage(99));
    expectProblem(limited, 429, "rate_limited");
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    // A user with a valid token from the same address is judged on their own count, not the address's.
    expect((await as(flooded, await flooded.tokenFor(newUserId())).get("/bills")).status).toBe(200);
  });
});

it("reads no request body before the caller is authenticated: a stranger's malformed or oversized JSON gets 401, not 400 or 413", async () => {
  const malformed = await request(t.app).post(`${API}/bills`).set("Content-Type", "application/json").send("{");
  expectProblem(malformed, 401, "missing_token");
  const oversized = await request(t.app)
    .post(`${API}/bills`)
    .set("Content-Type", "application/json")
    .send(JSON.stringify({ note: "x".repeat(200_000) }));
  expectProblem(oversized, 401, "missing_token");
  // The same bodies from a user are read and judged.
  expectProblem(
    await as(t, await t.tokenFor(newUserId()))
      .post("/bills")
      .set("Content-Type", "application/json")
      .send("{"),
    400,
    "malformed_json",
  );
});

it("does not limit the signed callbacks", async () => {
  const results = await Promise.all(
    Array.from({ length: 8 }, () => request(t.app).post(`${API}/webhook/payment-callback`).set("Content-Type", "application/json").send("{}")),
  );
  expect(results.map((r) => r.status)).toEqual(Array(8).fill(401));
});
