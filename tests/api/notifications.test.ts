import request from "supertest";
import { as, expectProblem, API } from "../support/http";
import { paymentEvent, postWebhook, splitBill } from "../support/payments";
import { QUEUES } from "../../src/jobs/jobs";
import { createTestApp, newUserId, TestClock, type TestApp } from "../support/test-app";

let t: TestApp;
const clock = new TestClock();
beforeAll(async () => {
  t = await createTestApp({ clock, env: { REMINDER_INTERVAL_HOURS: "24", NOTIFY_MAX_ATTEMPTS: "3" } });
});
afterAll(() => t.close());

const channels = () =>
  t.app.locals.adapters.channels as unknown as Record<"in_app" | "sms" | "email", { failWith?: Error; sent: { to: string; text: string }[] }>;

async function activeBill() {
  const bill = await splitBill(t, ["me", "Alice", "Bob"], { merchantName: "Pho 24" });
  await t.db.prisma.participant.update({ where: { id: bill.byName.Bob }, data: { phone: "+84933333333", email: "bob@example.com" } });
  const { requests } = (await as(t, bill.token).post(`/bills/${bill.billId}/request-payments`)).body;
  return { ...bill, requests };
}

describe("POST /bills/:billId/send-notifications", () => {
  it("tells everyone who owes their share and how to pay, and says who was skipped", async () => {
    const { token, billId, byName, requests } = await activeBill();
    const bobLink = requests.find((r: { participantId: string }) => r.participantId === byName.Bob).paymentLink;
    const res = await as(t, token).post(`/bills/${billId}/send-notifications`);
    expect(res.status).toBe(200);
    expect(res.body.notified).toEqual([
      { participantId: byName.Alice, name: "Alice", channels: ["in_app"] },
      { participantId: byName.Bob, name: "Bob", channels: ["sms", "email"] },
    ]);
    expect(res.body.skipped).toEqual([{ participantId: byName.me, name: "me", reason: "the creator's own share" }]);
    // Written with their job in the request's transaction; the job sends them.
    expect(await t.db.prisma.notification.count({ where: { billId, type: "payment_request", status: "pending" } })).toBeGreaterThanOrEqual(3);
    await t.runJobs([QUEUES.notification]);
    expect(await t.db.prisma.notification.count({ where: { billId, status: { not: "sent" } } })).toBe(0);
    const sms = channels().sms.sent.at(-1)!;
    expect(sms.to).toBe("+84933333333");
    expect(sms.text).toMatch(/^Pho 24: your share is 33\.3[34] USD\. Pay here: /);
    expect(sms.text.endsWith(bobLink)).toBe(true);
  });

  it("needs a split (409) and is 404 for someone else", async () => {
    const userId = newUserId();
    const token = await t.tokenFor(userId);
    const bill = (await as(t, token).post("/bills").send({})).body;
    expectProblem(await as(t, token).post(`/bills/${bill.id}/send-notifications`), 409, "split_required");
    expectProblem(await as(t, await t.tokenFor(newUserId())).post(`/bills/${bill.id}/send-notifications`), 404);
  });
});

describe("POST /bills/:billId/send-reminders", () => {
  it("reminds only those who have not paid, and nobody again within the interval", async () => {
    const { token, billId, byName, requests } = await activeBill();
    await postWebhook(t, paymentEvent(requests.find((r: { participantId: string }) => r.participantId === byName.Alice)));
    const first = await as(t, token).post(`/bills/${billId}/send-reminders`);
    expect(first.status).toBe(200);
    expect(first.body.reminded).toEqual([{ participantId: byName.Bob, name: "Bob", channels: ["sms", "email"] }]);
    expect(first.body.skipped.map((s: { name: string; reason: string }) => [s.name, s.reason])).toEqual([
      ["me", "the creator's own share"],
      ["Alice", "already paid"],
    ]);
    clock.advance(23 * 3_600_000);
    const again = await as(t, token).post(`/bills/${billId}/send-reminders`);
    expect(again.body.reminded).toEqual([]);
    expect(again.body.skipped.find((s: { name: string }) => s.name === "Bob").reason).toMatch(/^reminded at .*; next reminder after /);
    clock.advance(2 * 3_600_000);
    const later = await as(t, token).post(`/bills/${billId}/send-reminders`);
    expect(later.body.reminded.map((r: { name: string }) => r.name)).toEqual(["Bob"]);
    await t.runJobs([QUEUES.notification]);
    expect(await t.db.prisma.notification.count({ where: { billId, type: "reminder", status: "sent" } })).toBe(4);
  });

  it("refuses a bill that is not active (409)", async () => {
    const { token, billId } = await splitBill(t, ["A"]);
    expectProblem(await as(t, token).post(`/bills/${billId}/send-reminders`), 409, "bill_not_active");
  });

  it("the automatic schedule follows the same rules", async () => {
    const { billId } = await activeBill();
    clock.advance(25 * 3_600_000);
    // Scoped to this bill: on the shared PostgreSQL database other files' bills are due too.
    expect(await t.app.locals.services.notifications.remindDue({ billId })).toEqual({ bills: 1, reminded: 2 });
    const count = await t.db.prisma.notification.count({ where: { billId, type: "reminder" } });
    expect(count).toBe(3); // Alice in the app, Bob by SMS and email
    expect(await t.app.locals.services.notifications.remindDue({ billId })).toEqual({ bills: 1, reminded: 0 });
    expect(await t.db.prisma.notification.count({ where: { billId, type: "reminder" } })).toBe(3);
  });
});

describe("failed sends", () => {
  it("are recorded, do not fail the request, and are retried by their job a bounded number of times", async () => {
    const { token, billId } = await activeBill();
    await t.runJobs([QUEUES.notification]);
    const latestEmail = () =>
      t.db.prisma.notification.findFirstOrThrow({ where: { billId, channel: "email" }, orderBy: [{ createdAt: "desc" }, { id: "desc" }] });
    // Retries wait with backoff; ignoreStartAfter runs them now.
    const retryAll = async () => {
      for (let i = 0; i < 4; i += 1) await t.runJobs([QUEUES.notification], { ignoreStartAfter: true });
    };
    channels().email.failWith = new Error("SMTP 421 try later");
    let second;
    try {
      expect((await as(t, token).post(`/bills/${billId}/send-notifications`)).status).toBe(200);
      expect(await t.runJobs([QUEUES.notification])).toEqual({ ran: 1, failed: 1 });
      const failed = await latestEmail();
      expect(failed).toMatchObject({ status: "failed", attempts: 1, error: "SMTP 421 try later" });
      expect((await t.db.prisma.notification.findFirstOrThrow({ where: { billId, channel: "sms", createdAt: failed.createdAt } })).status).toBe("sent");
      await retryAll();
      // NOTIFY_MAX_ATTEMPTS=3: tried three times in all, then left failed (its job too).
      expect(await t.db.prisma.notification.findUniqueOrThrow({ where: { id: failed.id } })).toMatchObject({ status: "failed", attempts: 3 });
      expect((await t.app.locals.jobs.counts()).find((c) => c.queue === QUEUES.notification)).toMatchObject({ queued: 0, active: 0, failed: 1 });

      clock.advance(1000);
      await as(t, token).post(`/bills/${billId}/send-notifications`);
      await t.runJobs([QUEUES.notification]);
      second = await latestEmail();
      expect(second).toMatchObject({ status: "failed", attempts: 1 });
    } finally {
      channels().email.failWith = undefined;
    }
    await retryAll();
    expect(await t.db.prisma.notification.findUniqueOrThrow({ where: { id: second.id } })).toMatchObject({ status: "sent", attempts: 2, error: null });
    // The SMS of the same job went out once: a retry sends only what is still unsent.
    expect(await t.db.prisma.notification.findFirstOrThrow({ where: { billId, channel: "sms", createdAt: second.createdAt } })).toMatchObject({
      status: "sent",
      attempts: 1,
    });
  });
});

describe("updated_at (the spec's Notifications.updated_at)", () => {
  it("moves with every change of a notification: written, failed, sent, read", async () => {
    const { token, billId, byName } = await activeBill();
    await t.runJobs([QUEUES.notification]);
    const row = (id: string) => t.db.prisma.notification.findUniqueOrThrow({ where: { id } });
    clock.advance(60_000);
    const writtenAt = clock.now();
    channels().email.failWith = new Error("SMTP 421 try later");
    let email;
    try {
      expect((await as(t, token).post(`/bills/${billId}/send-notifications`)).status).toBe(200);
      email = await t.db.prisma.notification.findFirstOrThrow({ where: { billId, channel: "email", createdAt: writtenAt } });
      expect(email).toMatchObject({ status: "pending", updatedAt: writtenAt });
      clock.advance(60_000);
      const failedAt = clock.now();
      await t.runJobs([QUEUES.notification]);
      expect(await row(email.id)).toMatchObject({ status: "failed", updatedAt: failedAt });
    } finally {
      channels().email.failWith = undefined;
    }
    clock.advance(60_000);
    const sentAt = clock.now();
    for (let i = 0; i < 4 && (await row(email.id)).status !== "sent"; i += 1) await t.runJobs([QUEUES.notification], { ignoreStartAfter: true });
    expect(await row(email.id)).toMatchObject({ status: "sent", sentAt, updatedAt: sentAt });

    const inApp = await t.db.prisma.notification.findFirstOrThrow({ where: { billId, participantId: byName.Alice, channel: "in_app", createdAt: writtenAt } });
    clock.advance(60_000);
    const alice = await t.db.prisma.participant.findUniqueOrThrow({ where: { id: byName.Alice } });
    expect((await as(t, await t.tokenFor(alice.userId!)).post(`/notifications/${inApp.id}/read`)).status).toBe(200);
    expect(await row(inApp.id)).toMatchObject({ readAt: clock.now(), updatedAt: clock.now() });
  });
});

describe("payment-received notices (written with the webhook's transaction)", () => {
  it("are delivered by their job, once, however often the job runs", async () => {
    const { token, billId, requests } = await activeBill();
    await t.runJobs([QUEUES.notification]);
    const inApp = channels().in_app;
    const before = inApp.sent.length;
    expect((await postWebhook(t, paymentEvent(requests[0]))).body.outcome).toBe("applied");
    // Committed with the payment: the process could die now and any instance would still send it.
    const [notice] = await t.db.prisma.notification.findMany({ where: { billId, type: "payment_received" } });
    expect(notice).toMatchObject({
      status: "pending",
      attempts: 0,
      channel: "in_app",
      recipientUserId: (await as(t, token).get(`/bills/${billId}`)).body.creatorUserId,
    });
    expect(await t.runJobs([QUEUES.notification])).toEqual({ ran: 1, failed: 0 });
    expect(await t.db.prisma.notification.findUniqueOrThrow({ where: { id: notice.id } })).toMatchObject({ status: "sent", attempts: 1 });
    expect(inApp.sent.slice(before).map((m) => m.text)).toEqual([notice.message]);
    // Nothing left to run; and a job run again (its process died before recording it done) sends nothing twice.
    expect(await t.runJobs([QUEUES.notification], { ignoreStartAfter: true })).toEqual({ ran: 0, failed: 0 });
    await t.app.locals.services.outbox.deliver([{ id: "again", data: { ids: [notice.id] } }]);
    expect(inApp.sent.slice(before).map((m) => m.text)).toEqual([notice.message]);
  });
});

describe("cancelled bills", () => {
  it("tell those who owed that they owe nothing", async () => {
    const { token, billId, byName } = await activeBill();
    await as(t, token).delete(`/bills/${billId}`);
    const rows = await t.db.prisma.notification.findMany({ where: { billId, type: "bill_cancelled" } });
    expect(rows.map((n) => n.participantId).sort()).toEqual([byName.Alice, byName.Bob, byName.Bob].sort());
    expect(rows[0].message).toBe("Pho 24: the bill was cancelled. You owe nothing for it.");
  });
});

describe("GET /notifications (in-app)", () => {
  it("lists the caller's in-app notifications, newest first, a page at a time, and nobody else's", async () => {
    const { token, billId, requests } = await activeBill();
    for (const r of requests) await postWebhook(t, paymentEvent(r));
    const page1 = await as(t, token).get("/notifications?limit=2");
    expect(page1.status).toBe(200);
    expect(page1.body.items).toHaveLength(2);
    expect(page1.body.items.every((n: { billId: string }) => n.billId === billId)).toBe(true);
    const page2 = await as(t, token).get(`/notifications?limit=2&cursor=${page1.body.nextCursor}`);
    expect(page2.body.nextCursor).toBeNull();
    const all = [...page1.body.items, ...page2.body.items].map((n: { type: string }) => n.type);
    expect(all.sort()).toEqual(["bill_completed", "payment_received", "payment_received"]);
    const stranger = await as(t, await t.tokenFor(newUserId())).get("/notifications");
    expect(stranger.body.items).toEqual([]);
    expectProblem(await request(t.app).get(`${API}/notifications`), 401);
    expectProblem(await as(t, token).get("/notifications?cursor=yesterday"), 400);

    const first = page1.body.items[0];
    const read = await as(t, token).post(`/notifications/${first.id}/read`);
    expect(read.body).toMatchObject({ id: first.id, changed: true, readAt: expect.any(String) });
    expect((await as(t, token).post(`/notifications/${first.id}/read`)).body.changed).toBe(false);
    expectProblem(await as(t, await t.tokenFor(newUserId())).post(`/notifications/${first.id}/read`), 404);
    expect((await as(t, token).get("/notifications?limit=1")).body.items[0].readAt).toEqual(read.body.readAt);
  });
});
