// The job queue (src/jobs on pg-boss): enqueued with the transaction or not at all, keyed jobs made
// once, a worker woken by a commit, failures retried and then left visible, and the work that
// must not double (reminders called at once on several instances) done once.
import pino from "pino";
import { Jobs, QUEUES, type Job } from "../../src/jobs/jobs";
import { as } from "../support/http";
import { paymentEvent, postWebhook, splitBill } from "../support/payments";
import { createTestApp, type TestApp } from "../support/test-app";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

/** A second Jobs on the same queue tables, with its own handler for the clean-up queue (a stand-in queue). */
async function jobsWith(run: (jobs: readonly Job<{ n: number }>[]) => Promise<void>, options: { work?: boolean; retryLimit?: number } = {}) {
  const jobs = new Jobs(t.db.executor, pino({ level: "silent" }), {
    schema: t.config.jobs.schema,
    work: options.work ?? false,
    pollingIntervalMs: 60_000,
    maintenanceIntervalSeconds: 60,
  });
  jobs.define<{ n: number }>({ queue: QUEUES.idempotencyCleanup, run, retryLimit: options.retryLimit ?? 0, retryDelaySeconds: 1, leaseSeconds: 30 });
  await jobs.start();
  return jobs;
}

describe("enqueueing", () => {
  it("a job enqueued in a transaction that rolls back does not exist; one that commits does, and a keyed job is made once", async () => {
    const seen: number[] = [];
    const jobs = await jobsWith(async (batch) => void seen.push(...batch.map((j) => j.data.n)));
    try {
      await expect(
        t.db.sql.transaction(async (tx) => {
          await jobs.enqueue(tx, QUEUES.idempotencyCleanup, { n: 1 });
          throw new Error("the change failed");
        }),
      ).rejects.toThrow("the change failed");
      const key = "018f0000-0000-7000-8000-000000000001";
      await t.db.sql.transaction(async (tx) => {
        await jobs.enqueue(tx, QUEUES.idempotencyCleanup, { n: 2 }, { id: key });
        expect(await jobs.enqueue(tx, QUEUES.idempotencyCleanup, { n: 3 }, { id: key })).toBeNull();
      });
      expect(await jobs.drain([QUEUES.idempotencyCleanup])).toEqual({ ran: 1, failed: 0 });
      expect(seen).toEqual([2]);
    } finally {
      await jobs.stop();
    }
  });
});

describe("starting", () => {
  it("an install that met a database outage can be tried again, and then works (a server's start-up retries it)", async () => {
    // The database drops the connection on the first statement pg-boss sends (is it installed?).
    let outage = true;
    const flaky = {
      executeSql: async (text: string, values?: unknown[]) => {
        if (outage) {
          outage = false;
          throw new Error("Connection terminated unexpectedly");
        }
        return t.db.executor.executeSql(text, values);
      },
    };
    const seen: number[] = [];
    // A schema of its own, so that the second install really has to create it.
    const jobs = new Jobs(flaky, pino({ level: "silent" }), {
      schema: `${t.config.jobs.schema}_restart`,
      work: false,
      pollingIntervalMs: 60_000,
      maintenanceIntervalSeconds: 60,
    });
    jobs.define<{ n: number }>({
      queue: QUEUES.idempotencyCleanup,
      run: async (batch) => void seen.push(...batch.map((j) => j.data.n)),
      retryLimit: 0,
      retryDelaySeconds: 1,
      leaseSeconds: 30,
    });
    try {
      await expect(jobs.install()).rejects.toThrow("Connection terminated unexpectedly");
      await jobs.install();
      await jobs.enqueue(undefined, QUEUES.idempotencyCleanup, { n: 1 });
      expect(await jobs.drain([QUEUES.idempotencyCleanup])).toEqual({ ran: 1, failed: 0 });
      expect(seen).toEqual([1]);
    } finally {
      await jobs.stop();
    }
  });
});

describe("workers", () => {
  it("a commit's wake() runs the job at once, not at the next poll (a minute away here)", async () => {
    let resolveSeen!: (n: number) => void;
    const seen = new Promise<number>((resolve) => (resolveSeen = resolve));
    const jobs = await jobsWith(async (batch) => resolveSeen(batch[0].data.n), { work: true });
    try {
      // The worker's first poll finds nothing; it then sleeps for a minute unless woken.
      await new Promise((r) => setTimeout(r, 300));
      await jobs.enqueue(undefined, QUEUES.idempotencyCleanup, { n: 7 });
      const started = Date.now();
      jobs.wake(QUEUES.idempotencyCleanup);
      expect(await seen).toBe(7);
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      await jobs.stop();
    }
  });

  it("a failing job is retried up to its limit, then left failed and counted", async () => {
    let calls = 0;
    const jobs = await jobsWith(
      async () => {
        calls += 1;
        throw new Error("still down");
      },
      { retryLimit: 2 },
    );
    try {
      const failedBefore = (await jobs.counts()).find((c) => c.queue === QUEUES.idempotencyCleanup)!.failed;
      await jobs.enqueue(undefined, QUEUES.idempotencyCleanup, { n: 1 });
      for (let i = 0; i < 5; i += 1) await jobs.drain([QUEUES.idempotencyCleanup], { ignoreStartAfter: true });
      expect(calls).toBe(3);
      expect((await jobs.counts()).find((c) => c.queue === QUEUES.idempotencyCleanup)).toMatchObject({ queued: 0, active: 0, failed: failedBefore + 1 });
      // An operator sees it with its error, and puts it back (npm run jobs -- retry): it runs once more.
      const [latest] = await jobs.failed(1);
      expect(latest).toMatchObject({ queue: QUEUES.idempotencyCleanup, retries: 2, error: "still down" });
      expect(await jobs.retry(QUEUES.idempotencyCleanup, [latest.id])).toBe(1);
      await jobs.drain([QUEUES.idempotencyCleanup], { ignoreStartAfter: true });
      expect(calls).toBe(4);
    } finally {
      await jobs.stop();
    }
  });
});

describe("reminders called at the same time", () => {
  it("remind each participant once: the bill's row is locked while deciding and writing", async () => {
    const bill = await splitBill(t, ["me", "Alice", "Bob"]);
    for (const [name, phone] of [
      ["Alice", "+84911111111"],
      ["Bob", "+84933333333"],
    ]) {
      await t.db.prisma.participant.update({ where: { id: bill.byName[name] }, data: { phone, isBankCustomer: false } });
    }
    const { requests } = (await as(t, bill.token).post(`/bills/${bill.billId}/request-payments`)).body;
    await postWebhook(t, paymentEvent(requests[0]));
    const { notifications } = t.app.locals.services;
    // Three callers at once (on PostgreSQL, three connections: as three instances would be).
    const results = await Promise.all([notifications.remind(bill.billId), notifications.remind(bill.billId), notifications.remind(bill.billId)]);
    expect(results.flatMap((r) => r.reminded).map((r) => r.name)).toHaveLength(1);
    expect(await t.db.prisma.notification.count({ where: { billId: bill.billId, type: "reminder" } })).toBe(1);
    // And the schedule run right after them finds nobody due.
    expect(await notifications.remind(bill.billId)).toMatchObject({ reminded: [] });
  });
});
