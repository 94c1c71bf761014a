// Races that must leave exactly one payment per participant and a consistent bill. With
// TEST_DATABASE_URL (CI) they run on the real PostgreSQL server through a connection pool, so the
// requests really overlap; on PGlite (one connection) they are serialised and check the same outcome.
import { as } from "../support/http";
import { billWithRequests, paymentEvent, postWebhook } from "../support/payments";
import { createTestApp, type TestApp } from "../support/test-app";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const requested = (names: string[]) => billWithRequests(t, names);

async function paidHistory(participantId: string) {
  return t.db.prisma.statusHistory.count({ where: { participantId, entityType: "participant", newStatus: "paid" } });
}

it("100 deliveries of the same event, and 20 different success events for the same payment, record one payment", async () => {
  const { billId, requests } = await requested(["A", "B"]);
  const event = paymentEvent(requests[0]);
  const results = await Promise.all([
    ...Array.from({ length: 100 }, () => postWebhook(t, event)),
    ...Array.from({ length: 20 }, () => postWebhook(t, paymentEvent(requests[0]))),
  ]);
  expect(results.every((r) => r.status === 200)).toBe(true);
  const outcomes = results.map((r) => r.body.outcome as string);
  expect(outcomes.filter((o) => o === "applied")).toHaveLength(1);
  expect(outcomes.filter((o) => o === "duplicate")).toHaveLength(99);
  expect(await paidHistory(requests[0].participantId)).toBe(1);
  expect(await t.db.prisma.paymentEvent.count({ where: { paymentRequestId: requests[0].id, outcome: "applied" } })).toBe(1);
  expect((await t.db.prisma.bill.findUniqueOrThrow({ where: { id: billId } })).status).toBe("active");
});

it("webhooks racing mark-as-paid calls for the same people: one payment each, and the bill completed once", async () => {
  const names = Array.from({ length: 10 }, (_, i) => `P${i}`);
  const { token, billId, requests } = await requested(names);
  const calls = requests.flatMap((r) => [
    postWebhook(t, paymentEvent(r)),
    postWebhook(t, paymentEvent(r)),
    as(t, token).put(`/bills/${billId}/participants/${r.participantId}/mark-as-paid`).send({ method: "cash" }),
  ]);
  const results = await Promise.all(calls);
  for (const r of results) expect([200, 409]).toContain(r.status);
  for (const r of requests) expect(await paidHistory(r.participantId)).toBe(1);
  const participants = await t.db.prisma.participant.findMany({ where: { billId } });
  expect(participants.every((p) => p.paymentStatus === "paid")).toBe(true);
  const bill = await t.db.prisma.bill.findUniqueOrThrow({ where: { id: billId } });
  expect(bill.status).toBe("completed");
  expect(await t.db.prisma.statusHistory.count({ where: { billId, entityType: "bill", newStatus: "completed" } })).toBe(1);
  // Every request ended either paid (webhook first) or closed (marked first); never both counted.
  const statuses = await t.db.prisma.paymentRequest.findMany({ where: { billId }, select: { status: true } });
  expect(statuses.every((s) => s.status === "paid" || s.status === "cancelled")).toBe(true);
});
