import request from "supertest";
import pino from "pino";
import { createApp } from "../../src/app";
import { openApiPath } from "../../src/http/api-router";
import { openDatabase } from "../../src/db/database";
import { createTestApp, newUserId, testConfig, type TestApp } from "../support/test-app";
import { API, as, expectProblem } from "../support/http";
import { createBill } from "../support/builders";

let t: TestApp;
let token: string;
beforeAll(async () => {
  t = await createTestApp();
  token = await t.tokenFor(newUserId());
});
afterAll(() => t.close());

describe("health", () => {
  it("GET /health answers while the process is alive", async () => {
    const res = await request(t.app).get("/health");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
  });

  it("GET /ready answers 200 when the database is reachable", async () => {
    const res = await request(t.app).get("/ready");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "ready", jobs: { queued: expect.any(Number), active: expect.any(Number), failed: expect.any(Number) } });
  });

  it("GET /ready counts the failed background jobs, for operators", async () => {
    const before = (await request(t.app).get("/ready")).body.jobs.failed as number;
    const realCleanup = t.app.locals.jobs.spec("idempotency-cleanup")!;
    t.app.locals.jobs.define({
      ...realCleanup,
      run: async () => {
        throw new Error("boom");
      },
    });
    try {
      await t.app.locals.jobs.enqueue(undefined, "idempotency-cleanup", {});
      // Tried three times in all (the queue's retry limit is 2; retries run at once here), then left failed.
      expect(await t.runJobs(["idempotency-cleanup"], { ignoreStartAfter: true })).toEqual({ ran: 3, failed: 3 });
      expect(await t.runJobs(["idempotency-cleanup"], { ignoreStartAfter: true })).toEqual({ ran: 0, failed: 0 });
      expect((await request(t.app).get("/ready")).body.jobs.failed).toBe(before + 1);
    } finally {
      // Restores the queue's real handler (the one the app defined).
      t.app.locals.jobs.define(realCleanup);
    }
  });

  it("GET /ready answers 503 with the problem shape when the database is gone", async () => {
    // Nothing listens on port 1: every connection is refused.
    const db = await openDatabase({ url: "postgresql://postgres@127.0.0.1:1/chillbill_test_unreachable", poolMax: 1 });
    const app = createApp({ config: testConfig(), db, logger: pino({ level: "silent" }) });
    try {
      const res = await request(app).get("/ready");
      expectProblem(res, 503, "not_ready");
      expect(res.headers["retry-after"]).toBeDefined();
      const api = await request(app).get(`${API}/bills`).set("Authorization", `Bearer ${token}`);
      expectProblem(api, 503, "database_unavailable");
    } finally {
      await db.close();
    }
  });
});

describe("errors share one problem shape", () => {
  it("an unknown route is a 404 problem", async () => {
    expectProblem(await as(t, token).get("/nowhere"), 404, "route_not_found");
    expectProblem(await request(t.app).get("/nowhere"), 404, "route_not_found");
  });

  it("a known path called with a method it does not have is a 405 problem with Allow, before authentication", async () => {
    const billId = "00000000-0000-4000-8000-000000000001";
    const res = await request(t.app).patch(`${API}/bills/${billId}/split/equal`).set("Authorization", `Bearer ${token}`);
    expectProblem(res, 405, "method_not_allowed");
    expect(res.headers.allow).toBe("POST");
    expect(res.body.detail).toBe(`${API}/bills/${billId}/split/equal does not accept PATCH; it accepts POST`);
    const anonymous = await request(t.app).delete(`${API}/bills`);
    expectProblem(anonymous, 405, "method_not_allowed");
    expect(anonymous.headers.allow).toBe("GET, HEAD, POST");
  });

  it('a literal segment wins over a parameter: PUT .../participants/unpaid is 405 Allow GET, not a rename of participant "unpaid"', async () => {
    const bill = await createBill(t, token);
    const res = await as(t, token).put(`/bills/${bill.id}/participants/unpaid`).send({ name: "x" });
    expectProblem(res, 405, "method_not_allowed");
    expect(res.headers.allow).toBe("GET, HEAD");
    expect((await as(t, token).get(`/bills/${bill.id}/participants/unpaid`)).status).toBe(200);
    expect((await request(t.app).head(`${API}/bills/${bill.id}/participants/unpaid`).set("Authorization", `Bearer ${token}`)).status).toBe(200);
  });

  it("the paths outside the API answer other methods 405 with Allow too: health, documents, Swagger UI, the pay page", async () => {
    const token32 = "A".repeat(32);
    const cases: [method: "post" | "put" | "delete" | "get", path: string, allow: string][] = [
      ["post", "/health", "GET, HEAD"],
      ["delete", "/ready", "GET, HEAD"],
      ["post", "/openapi.json", "GET, HEAD"],
      ["put", "/openapi.internal.json", "GET, HEAD"],
      ["post", "/docs/", "GET, HEAD"],
      ["delete", `/pay/${token32}`, "GET, HEAD"],
      ["post", `/pay/${token32}/qr.png`, "GET, HEAD"],
      ["get", `/pay/${token32}/pay`, "POST"],
    ];
    for (const [method, path, allow] of cases) {
      const res = await request(t.app)[method](path);
      expect({ method, path, status: res.status, allow: res.headers.allow, code: res.body.code }).toEqual({
        method,
        path,
        status: 405,
        allow,
        code: "method_not_allowed",
      });
    }
    expect((await request(t.app).head("/health")).status).toBe(200);
    expect((await request(t.app).get("/openapi.json")).status).toBe(200);
  });

  it("an unknown path stays 404 whatever the method", async () => {
    expectProblem(await as(t, token).put("/bills/x/nothing-here"), 404, "route_not_found");
    expectProblem(await as(t, token).delete("/nowhere"), 404, "route_not_found");
  });

  it("malformed JSON is a 400 problem", async () => {
    const res = await as(t, token).post("/bills").set("Content-Type", "application/json").send('{"totalAmount": ');
    expectProblem(res, 400, "malformed_json");
  });

  it("a body over the limit is a 413 problem", async () => {
    const res = await as(t, token)
      .post("/bills")
      .set("Content-Type", "application/json")
      .send(JSON.stringify({ note: "x".repeat(200_000) }));
    expectProblem(res, 413, "body_too_large");
  });

  it("a body that is not JSON is a 415 problem", async () => {
    const res = await as(t, token).post("/bills").set("Content-Type", "text/plain").send("total=10");
    expectProblem(res, 415, "unsupported_content_type");
  });

  it("an unexpected failure is a 500 problem without details, with the request id", async () => {
    const broken = createApp({
      config: testConfig(),
      db: t.db,
      logger: pino({ level: "silent" }),
      tokenVerifier: {
        verify: async () => {
          throw new Error("boom at /srv/secret.ts:1");
        },
      },
    });
    const res = await request(broken).get(`${API}/bills`).set("Authorization", "Bearer a.b.c");
    expectProblem(res, 500, "internal_error");
    expect(JSON.stringify(res.body)).not.toContain("boom");
  });
});

describe("request ids", () => {
  it("generates one per request and returns it", async () => {
    const a = await request(t.app).get("/health");
    const b = await request(t.app).get("/health");
    expect(a.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.headers["x-request-id"]).not.toBe(b.headers["x-request-id"]);
  });

  it("keeps a well-formed incoming X-Request-Id and replaces a malformed one", async () => {
    const kept = await request(t.app).get("/nowhere").set("X-Request-Id", "trace-1234567");
    expect(kept.headers["x-request-id"]).toBe("trace-1234567");
    expect(kept.body.requestId).toBe("trace-1234567");
    const replaced = await request(t.app).get("/health").set("X-Request-Id", "<script>");
    expect(replaced.headers["x-request-id"]).not.toBe("<script>");
  });
});

describe("API documentation", () => {
  it("documents every public route the app serves, and only those", async () => {
    const res = await request(t.app).get("/openapi.json");
    expect(res.status).toBe(200);
    expect(res.body.openapi).toMatch(/^3\./);
    const documented = Object.entries(res.body.paths as Record<string, object>).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path}`));
    const served = t.app.locals.declaredRoutes.filter((r) => r.audience === "public").map((r) => `${r.method} ${openApiPath(r.path)}`);
    expect(served.length).toBeGreaterThanOrEqual(5);
    expect(documented.sort()).toEqual(served.sort());
  });

  it("every route mounted on the Express router was declared (and so documented)", () => {
    type Layer = { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: Layer[] }; match(path: string): boolean };
    const stack = (t.app as unknown as { router: { stack: Layer[] } }).router.stack;
    // Routers mounted under the API base (a root router would match any path, so it is left out).
    const mounted = stack
      .filter((layer) => layer.handle?.stack && layer.match(`${API}/x`) && !layer.match("/elsewhere"))
      .flatMap((layer) => layer.handle?.stack ?? [])
      .filter((l) => l.route)
      .flatMap((l) => Object.keys(l.route!.methods).map((m) => `${m} ${API}${l.route!.path}`));
    const declared = t.app.locals.declaredRoutes.map((r) => `${r.method} ${r.path}`);
    expect(mounted.length).toBeGreaterThan(0);
    expect(mounted.sort()).toEqual(declared.sort());
  });

  it("documents request bodies from the validation schemas", async () => {
    const res = await request(t.app).get("/openapi.json");
    const create = res.body.paths["/api/chillbill/bills"].post;
    expect(create.security).toEqual([{ bearerAuth: [] }]);
    const schemaRef = create.requestBody.content["application/json"].schema.$ref;
    expect(schemaRef).toBe("#/components/schemas/CreateBill");
    expect(Object.keys(res.body.components.schemas.CreateBill.properties)).toEqual(
      expect.arrayContaining(["totalAmount", "currency", "merchantName", "billDate", "note"]),
    );
  });

  it("serves an interactive page", async () => {
    const res = await request(t.app).get("/docs/").redirects(1);
    expect(res.status).toBe(200);
    expect(res.text).toContain("swagger-ui");
  });

  it("the page offers both documents in its selector, the public one first", async () => {
    const init = await request(t.app).get("/docs/swagger-ui-init.js");
    expect(init.status).toBe(200);
    const urls = [...init.text.matchAll(/"url": "([^"]+)"/g)].map((m) => m[1]);
    expect(urls).toEqual(["/openapi.json", "/openapi.internal.json"]);
    expect(init.text).toContain('"urls.primaryName": "ChillBill API"');
    const internal = await request(t.app).get("/openapi.internal.json");
    expect(Object.keys(internal.body.paths)).toContain(`${API}/webhook/payment-callback`);
  });
});
