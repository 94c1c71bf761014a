import request from "supertest";
import { createTestApp, newUserId, type TestApp } from "../support/test-app";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

it("creates a bill", async () => {
  const token = await t.tokenFor(newUserId());
  const res = await request(t.app).post("/api/chillbill/bills").set("Authorization", `Bearer ${token}`).send({ totalAmount: "10.00", currency: "USD" });
  expect(res.status).toBe(201);
});
