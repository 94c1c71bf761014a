// Walks every declared route: a second user gets 404 and changes nothing on anything that takes a
// bill or participant id; a user's token does not open internal routes; generated bodies, queries
// and ids never cause a 5xx and always get the problem shape.
import fc from "fast-check";
import request from "supertest";
import { API } from "../support/http";
import { pngBytes } from "../support/images";
import { splitBill } from "../support/payments";
import { createTestApp, newUserId, type TestApp } from "../support/test-app";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const sampleBodies: Record<string, unknown> = {
  "put /bills/:billId": { note: "mine now", totalAmount: "1.00" },
  "delete /bills/:billId": {},
  "post /bills/:billId/participants": { name: "Eve" },
  "put /bills/:billId/participants/:participantId": { name: "Eve" },
  "post /bills/:billId/split/custom-amount": { amounts: [] },
  "post /bills/:billId/split/percentage": { percentages: [] },
  "post /bills/:billId/split/shares": { shares: [] },
  "post /bills/:billId/split/itemized": { items: [{ amount: "1.00", participantIds: ["01a207c9-a789-71bc-bab2-18da81c8123d"] }] },
  "post /bills/:billId/calculate": { method: "equal" },
  "put /bills/:billId/participants/:participantId/mark-as-paid": {},
};

async function snapshot(billId: string) {
  const bill = await t.db.prisma.bill.findUniqueOrThrow({ where: { id: billId }, include: { participants: { orderBy: { id: "asc" } }, paymentRequests: true, imageJobs: true } });
  const history = await t.db.prisma.statusHistory.count({ where: { billId } });
  const notifications = await t.db.prisma.notification.count({ where: { billId } });
  return JSON.stringify({ bill, history, notifications });
}

it("a second user gets 404 on every route that takes a bill or participant id, and nothing changes", async () => {
  const owner = await splitBill(t, ["A", "B"]);
  const mallory = await t.tokenFor(newUserId());
  const routes = t.app.locals.declaredRoutes.filter((r) => r.audience === "public" && r.path.includes(":billId"));
  expect(routes.length).toBeGreaterThanOrEqual(20);
  const before = await snapshot(owner.billId);
  for (const route of routes) {
    const path = route.path.replace(":billId", owner.billId).replace(":participantId", owner.byName.A);
    const key = `${route.method} ${route.path.slice(API.length)}`;
    let req = request(t.app)[route.method](path).set("Authorization", `Bearer ${mallory}`);
    if (/-image$/.test(route.path)) req = req.attach("image", pngBytes(), "a.png");
    else if (route.method !== "get") req = req.send(sampleBodies[key] ?? {});
    const res = await req;
    expect({ route: key, status: res.status }).toEqual({ route: key, status: 404 });
    expect(res.body.code).toMatch(/not_found$/);
  }
  expect(await snapshot(owner.billId)).toBe(before);
});

it("refuses a user's token on every internal route", async () => {
  const owner = await splitBill(t, ["A"]);
  const routes = t.app.locals.declaredRoutes.filter((r) => r.audience === "internal");
  expect(routes.length).toBe(3);
  for (const route of routes) {
    const res = await request(t.app)[route.method](route.path.replace(":billId", owner.billId)).set("Authorization", `Bearer ${owner.token}`).send({});
    expect({ path: route.path, status: res.status }).toEqual({ path: route.path, status: 401 });
  }
});

it("never answers a generated request with a 5xx, and always with the problem shape on errors", async () => {
  const owner = await splitBill(t, ["A", "B"]);
  // The event stream stays open by design; its refusals are tested with the stream itself.
  const routes = t.app.locals.declaredRoutes.filter((r) => !r.path.endsWith("/events"));
  const json = fc.jsonValue({ maxDepth: 3 });
  const id = fc.oneof(fc.constant(owner.billId), fc.uuid(), fc.string({ maxLength: 40 }), fc.constant("%00"), fc.constant("..%2F..%2Fetc"));
  const query = fc.dictionary(fc.constantFrom("limit", "cursor", "status", "from", "to", "x"), fc.string({ maxLength: 30 }), { maxKeys: 3 });
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...routes), id, id, json, query, async (route, billId, participantId, body, q) => {
      const path = route.path.replace(":billId", encodeURIComponent(billId)).replace(":participantId", encodeURIComponent(participantId));
      const res = await request(t.app)
        [route.method](path)
        .query(q)
        .set("Authorization", `Bearer ${owner.token}`)
        .set("Content-Type", "application/json")
        .send(route.method === "get" ? undefined : JSON.stringify(body));
      expect(res.status).toBeLessThan(500);
      if (res.status >= 400) {
        expect(res.headers["content-type"]).toMatch(/application\/problem\+json/);
        expect(res.body).toMatchObject({ status: res.status, code: expect.any(String), detail: expect.any(String) });
      }
    }),
    { numRuns: 300 },
  );
});

it("ignores or refuses fields a client must not set, on every write", async () => {
  const owner = await splitBill(t, ["A"]);
  const forbidden = { status: "completed", creatorUserId: "mallory", id: "01a207c9-a789-71bc-bab2-18da81c8123d", paidAmount: "1", paymentStatus: "paid", amountToPay: "1" };
  const writes: [string, string, Record<string, unknown>][] = [
    ["post", "/bills", {}],
    ["put", `/bills/${owner.billId}`, { note: "x" }],
    ["post", `/bills/${owner.billId}/participants`, { name: "C" }],
    ["put", `/bills/${owner.billId}/participants/${owner.byName.A}`, { name: "A2" }],
    ["post", `/bills/${owner.billId}/split/equal`, {}],
    ["put", `/bills/${owner.billId}/participants/${owner.byName.A}/mark-as-paid`, {}],
  ];
  for (const [method, path, body] of writes) {
    for (const [field, value] of Object.entries(forbidden)) {
      const res = await (request(t.app) as unknown as Record<string, (p: string) => request.Test>)[method](API + path)
        .set("Authorization", `Bearer ${owner.token}`)
        .send({ ...body, [field]: value });
      expect({ path, field, status: res.status }).toEqual({ path, field, status: 400 });
      expect(res.body.issues.map((i: { path: string }) => i.path)).toContain(field);
    }
  }
  const bill = await t.db.prisma.bill.findUniqueOrThrow({ where: { id: owner.billId } });
  expect(bill).toMatchObject({ status: "created", creatorUserId: owner.userId });
});
