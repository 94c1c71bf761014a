// Small helpers so API tests read like the spec: as(user).post("/bills").send(...)
import request from "supertest";
import type { TestApp } from "./test-app";

export const API = "/api/chillbill";

export function as(t: TestApp, token: string) {
  const auth = (r: request.Test) => r.set("Authorization", `Bearer ${token}`);
  const agent = request(t.app);
  return {
    get: (path: string) => auth(agent.get(API + path)),
    post: (path: string) => auth(agent.post(API + path)),
    put: (path: string) => auth(agent.put(API + path)),
    delete: (path: string) => auth(agent.delete(API + path)),
  };
}

export function expectProblem(res: request.Response, status: number, code?: string) {
  expect(res.status).toBe(status);
  expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({
    status,
    type: expect.any(String),
    title: expect.any(String),
    detail: expect.any(String),
    code: expect.stringMatching(/^[a-z][a-z0-9_]*$/),
    instance: expect.any(String),
  });
  expect(res.body.requestId).toBe(res.headers["x-request-id"]);
  expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(ts|js):\d+/); // no stack frames
  if (code) expect(res.body.code).toBe(code);
}

/** The headers helmet sets on every answer outside /docs, errors included. */
export function expectSecurityHeaders(res: request.Response) {
  expect(res.headers["x-content-type-options"]).toBe("nosniff");
  expect(res.headers["content-security-policy"]).toContain("default-src 'none'");
  expect(res.headers["strict-transport-security"]).toMatch(/max-age=\d+/);
  expect(res.headers["x-frame-options"]).toBe("SAMEORIGIN");
  expect(res.headers["cross-origin-resource-policy"]).toBe("same-origin");
  expect(res.headers["referrer-policy"]).toBe("no-referrer");
  expect(res.headers["x-powered-by"]).toBeUndefined();
}
