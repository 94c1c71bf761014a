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
  expect(res.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
  expect(res.body.requestId).toBe(res.headers["x-request-id"]);
  expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(ts|js):\d+/); // no stack frames
  if (code) expect(res.body.code).toBe(code);
}
