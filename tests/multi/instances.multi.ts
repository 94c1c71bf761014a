// Several instances of the service on one PostgreSQL database (TEST_DATABASE_URL), behind a
// round-robin proxy, with the outside services they share run by the test: an SMTP server, a
// payment system, Redis (REDIS_URL). Each describe boots its own three instances on a fresh
// database (tests/support/cluster.ts). What each test proves: docs/testing.md. Run by
// `npm run test:multi` (CI runs it after the fault suite).
import { createClient } from "redis";
import { v7 as uuidv7 } from "uuid";
import { paymentEvent } from "../support/payments";
import { apiClient, RealServers, sendWebhook, until, type ApiClient } from "../support/real-servers";
import { startCluster, type Cluster } from "../support/cluster";
import { FakePaymentSystem } from "../support/fake-payment-system";
import { SmtpSink } from "../support/smtp-sink";
import { SseClient } from "../support/sse-client";
import { signDevelopmentToken } from "../../src/http/auth";
import { TEST_JWT_SECRET } from "../support/test-app";

const servers = new RealServers("multi");
beforeAll(() => servers.open());
afterAll(() => servers.close());

const WEBHOOK_PATH = "/api/chillbill/webhook/payment-callback";

/** A user of its own for each test: nothing one test does (or counts) reaches another. */
const newUser = () => `multi-user-${uuidv7()}`;

type PaymentRequest = {
  id: string;
  participantId: string;
  paymentId: string;
  reference: string;
  amount: string;
  currency: string;
  status: string;
  paymentLink: string;
};

interface Person {
  name: string;
  email: string;
}

const people = (...names: string[]): Person[] => names.map((name) => ({ name, email: `${name.toLowerCase()}-${uuidv7().slice(-8)}@example.com` }));

/**
 * A bill split equally among `who`, everyone asked to pay. `calls` are taken in turn, one per
 * request, so with one client per instance each step lands on the next instance.
 */
async function billAwaitingPayment(calls: ApiClient[], who: Person[], totalAmount = "90.00") {
  let turn = 0;
  const call: ApiClient = (...args) => calls[turn++ % calls.length](...args);
  const bill = await call("POST", "/bills", { totalAmount, currency: "USD", merchantName: "Multi" });
  expect(bill.status).toBe(201);
  const participants: Record<string, string> = {};
  for (const p of who) {
    const added = await call("POST", `/bills/${bill.body.id}/participants`, p);
    expect(added.status).toBe(201);
    participants[p.name] = added.body.id;
  }
  expect((await call("POST", `/bills/${bill.body.id}/split/equal`, {})).status).toBe(200);
  const requested = await call("POST", `/bills/${bill.body.id}/request-payments`);
  expect(requested.status).toBe(200);
  expect(requested.body.requests).toHaveLength(who.length);
  const requests = requested.body.requests as PaymentRequest[];
  const requestOf = (name: string) => requests.find((r) => r.participantId === participants[name])!;
  return { billId: bill.body.id as string, participants, requests, requestOf };
}

/** Clients of one user, one per instance (each straight to its instance, not through the proxy). */
const perInstance = (cluster: Cluster, user: string) => cluster.instances.map((s) => apiClient(s, user));

async function notificationRows(cluster: Cluster, billId: string) {
  const { rows } = await cluster.db.query<{ id: string; type: string; channel: string; recipient: string; message: string; status: string }>(
    `SELECT id, type::text, channel::text, recipient, message, status::text FROM notifications WHERE bill_id = $1 ORDER BY created_at, id`,
    [billId],
  );
  return rows;
}

/** Every notification row of the bill is sent, and each email row arrived exactly once (no other mail to these people). */
async function expectEachNotificationDeliveredOnce(cluster: Cluster, smtp: SmtpSink, billId: string, who: Person[]) {
  const rows = await notificationRows(cluster, billId);
  expect(rows.filter((r) => r.status !== "sent")).toEqual([]);
  const emails = rows.filter((r) => r.channel === "email");
  for (const row of emails) expect({ row: row.message, received: smtp.to(row.recipient, row.message).length }).toEqual({ row: row.message, received: 1 });
  const received = who.flatMap((p) => smtp.to(p.email));
  expect(received).toHaveLength(emails.length);
  return rows;
}

async function historyDuplicates(cluster: Cluster, billId: string) {
  const { rows } = await cluster.db.query(
    `SELECT participant_id, entity_type, previous_status, new_status, count(*)::int AS n
       FROM status_history WHERE bill_id = $1
      GROUP BY participant_id, entity_type, previous_status, new_status HAVING count(*) > 1`,
    [billId],
  );
  return rows;
}

/** pg-boss's record of a job (its id is ours for keyed jobs: a payment request's hand-over). */
async function jobRecord(cluster: Cluster, queue: string, id: string) {
  const { rows } = await cluster.db.query<{ state: string; retry_count: number }>(
    `SELECT state::text, retry_count FROM pgboss.job WHERE name = $1 AND id = $2`,
    [queue, id],
  );
  return rows[0];
}

// ---------------------------------------------------------------------------------------------

describe("three instances behind a round-robin proxy", () => {
  let cluster: Cluster;
  const smtp = new SmtpSink();

  beforeAll(async () => {
    const smtpUrl = await smtp.listen("all");
    // The mock payment system never pays by itself: the payer presses "Pay now" on the pay page.
    cluster = await startCluster(servers, { env: { SMTP_URL: smtpUrl } });
  });
  afterAll(async () => {
    await cluster?.stop();
    await smtp.close();
  });

  it("a whole flow with each request on the next instance, paid through pay pages and webhooks that come back through the proxy, ends completed with each notice sent once", async () => {
    const user = newUser();
    const calls = perInstance(cluster, user);
    const who = people("Ann", "Ben");
    const landed: number[] = [];
    let turn = 0;
    const call: ApiClient = (...args) => {
      landed.push(turn % 3);
      return calls[turn++ % 3](...args);
    };

    // A client whose answer was lost sends the create again, with its key, and reaches another instance.
    const key = uuidv7();
    const body = { totalAmount: "90.00", currency: "USD", merchantName: "Round robin" };
    const created = await call("POST", "/bills", body, 20_000, { "idempotency-key": key });
    expect(created.status).toBe(201);
    const again = await call("POST", "/bills", body, 20_000, { "idempotency-key": key });
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(created.body.id);
    const billId = created.body.id as string;
    for (const p of who) expect((await call("POST", `/bills/${billId}/participants`, p)).status).toBe(201);
    expect((await call("POST", `/bills/${billId}/split/equal`, {})).status).toBe(200);
    const requested = await call("POST", `/bills/${billId}/request-payments`);
    expect(requested.status).toBe(200);
    const requests = requested.body.requests as PaymentRequest[];
    expect(requests.map((r) => r.status)).toEqual(["sent", "sent"]);

    // Each participant opens their link (it points at the proxy, not at the instance that made it)
    // and pays; the payment system's webhook comes back through the proxy to any instance.
    for (const r of requests) {
      expect(r.paymentLink.startsWith(`${cluster.proxy.url}/pay/`)).toBe(true);
      const pageAnswer = await fetch(r.paymentLink);
      expect(pageAnswer.status).toBe(200);
      expect(await pageAnswer.text()).toContain("Pay now");
      const paid = await fetch(`${r.paymentLink}/pay`, { method: "POST", redirect: "manual" });
      expect(paid.status).toBe(303);
    }
    const status = await until("the bill to be completed", async () => {
      const s = await call("GET", `/bills/${billId}/status`);
      return s.body.status === "completed" ? s.body : undefined;
    });
    expect(status.totals).toMatchObject({ paidCount: 2, unpaidCount: 0 });
    // Every step of the flow was answered by another instance than the one before.
    expect(new Set(landed)).toEqual(new Set([0, 1, 2]));
    expect(landed.every((instance, i) => i === 0 || instance !== landed[i - 1])).toBe(true);

    const webhooks = cluster.proxy.served.filter((s) => s.path === WEBHOOK_PATH);
    expect(webhooks.length).toBeGreaterThanOrEqual(2);
    expect(webhooks.every((w) => w.status === 200)).toBe(true);
    const money = await cluster.db.query(
      `SELECT (SELECT count(*)::int FROM payments WHERE bill_id = $1) AS payments,
              (SELECT count(*)::int FROM payment_events e JOIN payment_requests r ON r.id = e.payment_request_id WHERE r.bill_id = $1 AND e.outcome = 'applied') AS applied,
              (SELECT count(*)::int FROM status_history WHERE bill_id = $1 AND entity_type = 'bill' AND new_status = 'completed') AS completed`,
      [billId],
    );
    expect(money.rows).toEqual([{ payments: 2, applied: 2, completed: 1 }]);
    expect(await historyDuplicates(cluster, billId)).toEqual([]);

    // Each participant was asked to pay and told the bill is settled, once each.
    await until("every notification sent", async () => ((await notificationRows(cluster, billId)).every((n) => n.status === "sent") ? true : undefined));
    const rows = await expectEachNotificationDeliveredOnce(cluster, smtp, billId, who);
    for (const p of who) {
      expect(
        rows
          .filter((r) => r.recipient === p.email)
          .map((r) => r.type)
          .sort(),
      ).toEqual(["bill_completed", "payment_request"]);
    }
  });

  it("100 copies of one signed webhook spread over the three instances apply once: one payment, 99 duplicates", async () => {
    const { billId, requests } = await billAwaitingPayment([apiClient(cluster.proxy, newUser())], people("Cai", "Dan"));
    const [paying] = requests;
    const event = paymentEvent(paying);
    const before = cluster.proxy.countsFor(WEBHOOK_PATH);

    const answers = await Promise.all(Array.from({ length: 100 }, () => sendWebhook(cluster.proxy, event)));

    const spread = cluster.proxy.countsFor(WEBHOOK_PATH).map((n, i) => n - before[i]);
    expect(spread.reduce((a, b) => a + b, 0)).toBe(100);
    for (const n of spread) expect(n).toBeGreaterThanOrEqual(33);
    expect(answers.map((a) => a.status)).toEqual(Array(100).fill(200));
    const outcomes = answers.map((a) => a.body.outcome as string);
    expect(outcomes.filter((o) => o === "applied")).toHaveLength(1);
    expect(outcomes.filter((o) => o === "duplicate")).toHaveLength(99);

    const db = cluster.db;
    expect((await db.query(`SELECT outcome FROM payment_events WHERE id = $1`, [event.id])).rows).toEqual([{ outcome: "applied" }]);
    expect((await db.query(`SELECT count(*)::int AS n FROM payments WHERE payment_request_id = $1`, [paying.id])).rows[0].n).toBe(1);
    const paid = await db.query(
      `SELECT count(*)::int AS n FROM status_history WHERE bill_id = $1 AND participant_id = $2 AND entity_type = 'participant' AND new_status = 'paid'`,
      [billId, paying.participantId],
    );
    expect(paid.rows[0].n).toBe(1);
    expect(await historyDuplicates(cluster, billId)).toEqual([]);
    // The creator hears about the payment once.
    const received = (await notificationRows(cluster, billId)).filter((n) => n.type === "payment_received");
    expect(received).toHaveLength(1);
  });

  it("an event stream on one instance gets, in order, every event caused by requests to the other two, and resumes on a third with Last-Event-ID without a gap or a repeat", async () => {
    const user = newUser();
    const [onA, onB, onC] = perInstance(cluster, user);
    const { billId, requestOf, participants } = await billAwaitingPayment([onB, onC], people("Eve", "Fay", "Gil"));
    const token = await signDevelopmentToken(TEST_JWT_SECRET, user);
    const streamUrl = (instance: number) => `${cluster.instances[instance].url}/api/chillbill/bills/${billId}/events`;
    void onA;

    const first = await SseClient.open(streamUrl(0), { authorization: `Bearer ${token}` });
    expect(first.status).toBe(200);
    await until("the snapshot", async () => (first.events.length ? true : undefined));
    // Caused on B and C, one after the other (each answered before the next is sent).
    expect((await sendWebhook(cluster.instances[1], paymentEvent(requestOf("Gil"), "payment.failed", { reason: "card declined" }))).body.outcome).toBe(
      "applied",
    );
    expect((await sendWebhook(cluster.instances[2], paymentEvent(requestOf("Eve")))).body.outcome).toBe("applied");
    await until("two events on A", async () => (first.changes.length >= 2 ? true : undefined));
    first.close();
    const seenFirst = first.changes;

    // While nobody listens, on B; then the stream resumes on C from the last id it delivered.
    expect((await onB("PUT", `/bills/${billId}/participants/${participants.Fay}/mark-as-paid`, { method: "cash" })).status).toBe(200);
    const resumed = await SseClient.open(streamUrl(2), { authorization: `Bearer ${token}`, "last-event-id": seenFirst.at(-1)!.id! });
    expect(resumed.status).toBe(200);
    expect((await onC("PUT", `/bills/${billId}/participants/${participants.Gil}/mark-as-paid`, { method: "cash" })).status).toBe(200);
    // (pg reads a bigint as a string; ordered as the number it is.)
    const { rows: stored } = await cluster.db.query<{ id: string; type: string }>(`SELECT id, type FROM bill_events WHERE bill_id = $1 ORDER BY id`, [billId]);
    const firstIndex = stored.findIndex((e) => e.id === seenFirst[0].id);
    expect(firstIndex).toBeGreaterThanOrEqual(0);
    const expected = stored.slice(firstIndex);
    await until("the resumed stream to catch up", async () => (seenFirst.length + resumed.changes.length >= expected.length ? true : undefined));
    resumed.close();

    // Exactly the bill's events since the stream opened, in their order (the commit order), each once.
    const all = [...seenFirst, ...resumed.changes];
    expect(all.map((e) => ({ id: e.id, type: e.event }))).toEqual(expected.map((e) => ({ id: e.id, type: e.type })));
    const what = all.map((e) => {
      const { data } = JSON.parse(e.data) as { data: { participantId?: string; status?: string } };
      return `${e.event} ${Object.keys(participants).find((name) => participants[name] === data.participantId) ?? data.status}`;
    });
    expect(what.slice(0, 2)).toEqual(["payment.failed Gil", "payment.received Eve"]);
    // The last payment also completes the bill: one commit, two events.
    expect(what.slice(2, 3)).toEqual(["payment.received Fay"]);
    expect(what.slice(3).sort()).toEqual(["bill.status completed", "payment.received Gil"]);
  });
});

// ---------------------------------------------------------------------------------------------

describe("scheduled reminders with three instances running", () => {
  let cluster: Cluster;
  const smtp = new SmtpSink();

  beforeAll(async () => {
    const smtpUrl = await smtp.listen("all");
    // Every minute, and a reminder interval well below the minute: pg-boss fires a schedule 0-35 s
    // after its tick (it looks at schedules every 30 s, then its send-it worker polls every 5 s), so
    // two ticks' runs can be 25 s apart, and each tick must still remind everyone.
    cluster = await startCluster(servers, { env: { SMTP_URL: smtpUrl, REMINDER_CRON: "* * * * *", REMINDER_INTERVAL_HOURS: "0.005" } });
  });
  afterAll(async () => {
    await cluster?.stop();
    await smtp.close();
  });

  it("the reminder schedule runs once per tick across the instances, and each participant is reminded once per tick; send-reminders called on all three at once reminds once", async () => {
    const user = newUser();
    const calls = perInstance(cluster, user);
    const db = cluster.db;
    const scheduled = people("Hal", "Ida");
    const { billId } = await billAwaitingPayment(calls, scheduled);
    // Its requests have been out for an hour: due at the next tick.
    await db.query(`UPDATE payment_requests SET created_at = created_at - interval '1 hour' WHERE bill_id = $1`, [billId]);
    const {
      rows: [{ since }],
    } = await db.query<{ since: Date }>(`SELECT now() AS since`);

    // Called by hand on every instance at once: one reminder each.
    const manual = people("Jon", "Kim");
    const other = await billAwaitingPayment(calls, manual);
    const answers = await Promise.all(calls.map((call) => call("POST", `/bills/${other.billId}/send-reminders`)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    const remindedBy = answers.flatMap((a) => (a.body.reminded as { participantId: string }[]).map((r) => r.participantId));
    expect(remindedBy.sort()).toEqual(Object.values(other.participants).sort());
    const manualRows = (await notificationRows(cluster, other.billId)).filter((n) => n.type === "reminder");
    expect(manualRows.map((n) => n.recipient).sort()).toEqual(manual.map((p) => p.email).sort());

    // Two runs of the schedule that started after the bill fell due.
    await until(
      "two runs of the reminder schedule",
      async () => {
        const { rows } = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'reminders' AND state = 'completed' AND started_on > $1`,
          [since],
        );
        return rows[0].n >= 2 ? true : undefined;
      },
      170_000,
      500,
    );
    const { rows: runs } = await db.query<{ created_on: Date; started_on: Date; completed_on: Date }>(
      `SELECT created_on, started_on, completed_on FROM pgboss.job WHERE name = 'reminders' AND state = 'completed' ORDER BY started_on`,
    );
    const due = runs.filter((r) => r.started_on > since).slice(0, 2);
    const end = due[1].completed_on.getTime();
    const within = (at: number, run: (typeof runs)[number]) => at >= run.started_on.getTime() - 1_000 && at <= run.completed_on.getTime() + 1_000;
    const upTo = runs.filter((r) => r.completed_on.getTime() <= end);

    // The schedule fired once per tick across the three instances: one reminders job per minute,
    // and one "finished" line in all three instances' logs together for each run.
    expect(new Set(upTo.map((r) => Math.floor(r.created_on.getTime() / 60_000))).size).toBe(upTo.length);
    const finished = cluster.instances.flatMap((s) => s.logs()).filter((l) => l.msg === "automatic reminders finished" && (l.time as number) <= end + 1_000);
    expect(finished).toHaveLength(upTo.length);
    for (const run of upTo) expect(finished.filter((l) => within(l.time as number, run))).toHaveLength(1);

    // Each participant: one reminder in each run since the bill fell due (a run straddling that
    // moment may have reminded them too, once).
    await until("the reminders sent", async () => ((await notificationRows(cluster, billId)).every((n) => n.status === "sent") ? true : undefined));
    const { rows: timed } = await db.query<{ recipient: string; created_at: Date }>(
      `SELECT recipient, created_at FROM notifications WHERE bill_id = $1 AND type = 'reminder' AND created_at <= $2 ORDER BY created_at`,
      [billId, new Date(end + 1_000)],
    );
    const emails = scheduled.map((p) => p.email).sort();
    for (const n of timed) expect(upTo.filter((run) => within(n.created_at.getTime(), run))).toHaveLength(1);
    for (const run of upTo) {
      const reminded = timed
        .filter((n) => within(n.created_at.getTime(), run))
        .map((n) => n.recipient)
        .sort();
      expect(due.includes(run) ? reminded : reminded.length ? reminded : emails).toEqual(emails);
    }
    // And each reminder row went out as one mail (the next tick is at least 25 s away).
    const rows = await notificationRows(cluster, billId);
    for (const p of scheduled) {
      const reminders = rows.filter((n) => n.type === "reminder" && n.recipient === p.email && n.status === "sent");
      expect(smtp.to(p.email, "Reminder from")).toHaveLength(reminders.length);
    }
    for (const p of manual) expect(smtp.to(p.email, "Reminder from").length).toBeGreaterThanOrEqual(1);
  });
});

// ---------------------------------------------------------------------------------------------

describe("kill -9 while an instance holds a job", () => {
  it("a payment hand-over job held by an instance whose call to the payment system hangs is taken up by another after its lease, and the request ends with one payment and one notice", async () => {
    const fake = new FakePaymentSystem();
    await fake.start();
    const smtp = new SmtpSink();
    const smtpUrl = await smtp.listen("all");
    const cluster = await startCluster(servers, {
      env: { SMTP_URL: smtpUrl, PAYMENT_MODE: "http" },
      envOf: ({ name }) => ({ PAYMENT_API_URL: fake.urlFor(name) }),
    });
    try {
      const user = newUser();
      const calls = perInstance(cluster, user);
      const who = people("Lea");
      const bill = (await calls[0]("POST", "/bills", { totalAmount: "40.00", currency: "USD", merchantName: "Hang" })).body;
      expect((await calls[0]("POST", `/bills/${bill.id}/participants`, who[0])).status).toBe(201);
      expect((await calls[0]("POST", `/bills/${bill.id}/split/equal`, {})).status).toBe(200);

      // The payment system hangs: the committing instance's own hand-over (i0) and then the job's
      // (on whichever instance took it, 2 s later) wait there.
      fake.stallCreates = true;
      const asked = calls[0]("POST", `/bills/${bill.id}/request-payments`, undefined, 60_000).catch((err: Error) => err);
      const [one, two] = await until(
        "the hand-over job's call to hang at the payment system",
        async () => (fake.creates.length >= 2 ? fake.creates.slice(0, 2) : undefined),
        30_000,
      );
      const requestId = one.requestId;
      expect(two.requestId).toBe(requestId);
      expect([one.instance, two.instance]).toContain("i0"); // the committing instance's own try
      const holder = one.instance === "i0" && two.instance === "i0" ? "i0" : [one.instance, two.instance].find((i) => i !== "i0")!;
      expect(await jobRecord(cluster, "payment-hand-over", requestId)).toMatchObject({ state: "active", retry_count: 0 });

      const victim = cluster.instances.find((s) => s.name === holder)!;
      await cluster.kill(victim.index);
      fake.stallCreates = false;

      const sent = await until(
        "another instance to hand the request over",
        async () => {
          const { rows } = await cluster.db.query<{ status: string; payment_id: string }>(
            `SELECT status::text, payment_id FROM payment_requests WHERE id = $1`,
            [requestId],
          );
          return rows[0]?.status === "sent" ? rows[0] : undefined;
        },
        60_000,
      );
      // One payment at the payment system, however many times it was asked (keyed by our request id).
      expect(fake.paymentsFor(requestId).map((p) => p.id)).toEqual([sent.payment_id]);
      const answered = fake.creates.filter((c) => !c.stalled);
      expect(answered.length).toBeGreaterThanOrEqual(1);
      expect(answered.every((c) => c.instance !== holder)).toBe(true);
      // The job the killed instance held: taken again once its lease ran out, and completed.
      await until(
        "the job completed",
        async () => ((await jobRecord(cluster, "payment-hand-over", requestId))?.state === "completed" ? true : undefined),
        20_000,
      );
      expect((await jobRecord(cluster, "payment-hand-over", requestId)).retry_count).toBeGreaterThanOrEqual(1);

      // Lea is asked to pay once.
      await until("the notice sent", async () => (smtp.to(who[0].email).length >= 1 ? true : undefined), 30_000);
      await until("every notification sent", async () => ((await notificationRows(cluster, bill.id)).every((n) => n.status === "sent") ? true : undefined));
      const rows = await expectEachNotificationDeliveredOnce(cluster, smtp, bill.id, who);
      expect(rows.map((r) => r.type)).toEqual(["payment_request"]);
      await asked;
    } finally {
      await cluster.stop();
      await fake.close();
      await smtp.close();
    }
  });

  it("killed right after a commit, before any notice is sent: every notice of that commit is delivered by another instance, once each", async () => {
    // One SMTP listener per instance, so the test knows which instance connects.
    const smtp = new SmtpSink();
    const urls = [await smtp.listen("i0"), await smtp.listen("i1"), await smtp.listen("i2")];
    const cluster = await startCluster(servers, { envOf: ({ index }) => ({ SMTP_URL: urls[index], SMTP_GREETING_TIMEOUT_MS: "120000" }) });
    try {
      const user = newUser();
      const calls = perInstance(cluster, user);
      const who = people("Max", "Nia");
      const { billId, requestOf } = await billAwaitingPayment(calls, who, "60.00");
      expect((await sendWebhook(cluster.proxy, paymentEvent(requestOf("Max")))).body.outcome).toBe("applied");
      await until("the notices so far sent", async () => ((await notificationRows(cluster, billId)).every((n) => n.status === "sent") ? true : undefined));
      const before = new Set((await notificationRows(cluster, billId)).map((n) => n.id));

      // Every mail server now hangs. The last payment completes the bill: its commit writes the
      // notices (payment received, bill completed), and the instance that takes their job waits on
      // its mail server before anything is sent. That instance is killed there.
      smtp.setAll("silent");
      const connectionsBefore = smtp.connections.length;
      expect((await sendWebhook(cluster.instances[1], paymentEvent(requestOf("Nia")))).body.outcome).toBe("applied");
      const holder = await until("an instance to start sending", async () => smtp.connections[connectionsBefore], 30_000);
      const notices = (await notificationRows(cluster, billId)).filter((n) => !before.has(n.id));
      expect(notices.map((n) => n.type).sort()).toEqual(["bill_completed", "bill_completed", "bill_completed", "payment_received"]);
      await cluster.kill(cluster.instances.find((s) => s.name === holder)!.index);
      // Nothing of that commit was sent.
      expect((await notificationRows(cluster, billId)).filter((n) => !before.has(n.id)).map((n) => n.status)).toEqual([
        "pending",
        "pending",
        "pending",
        "pending",
      ]);
      const mailsBefore = smtp.messages.length;

      smtp.setAll("answer");
      // The job's lease runs out (5 s), then its retry is due (30-60 s: the notification queue's retry delay).
      await until(
        "every notice of that commit sent",
        async () => ((await notificationRows(cluster, billId)).every((n) => n.status === "sent") ? true : undefined),
        120_000,
        500,
      );
      expect(smtp.messages.slice(mailsBefore).every((m) => m.listener !== holder)).toBe(true);
      await expectEachNotificationDeliveredOnce(cluster, smtp, billId, who);
      for (const p of who) expect(smtp.to(p.email, "everyone has paid")).toHaveLength(1);
    } finally {
      await cluster.stop();
      await smtp.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("a payment whose webhook never came", () => {
  it("is found by the reconciliation schedule, asked about at the payment system by any instance, and applied once; the webhook arriving late changes nothing", async () => {
    const fake = new FakePaymentSystem();
    await fake.start();
    const cluster = await startCluster(servers, {
      env: { PAYMENT_MODE: "http", RECONCILE_CRON: "* * * * *", RECONCILE_AFTER_MS: "1000" },
      envOf: ({ name }) => ({ PAYMENT_API_URL: fake.urlFor(name) }),
    });
    try {
      const { billId, requests } = await billAwaitingPayment([apiClient(cluster.proxy, newUser())], people("Ola"), "30.00");
      const [request] = requests;
      expect(request.status).toBe("sent");
      const lost = await fake.pay(request.paymentId, "lost");

      // The reconciliation schedule runs every minute, on whichever instance.
      await until(
        "the participant to be paid",
        async () => {
          const { rows } = await cluster.db.query<{ s: string }>(`SELECT payment_status::text AS s FROM participants WHERE id = $1`, [request.participantId]);
          return rows[0].s === "paid" ? true : undefined;
        },
        150_000,
        1_000,
      );
      expect(fake.webhooks).toEqual([]);
      expect(fake.lookups.filter((l) => l.paymentId === request.paymentId).length).toBeGreaterThanOrEqual(1);
      const events = await cluster.db.query(`SELECT id, outcome FROM payment_events WHERE payment_request_id = $1`, [request.id]);
      expect(events.rows).toEqual([{ id: `reconcile:${request.paymentId}:succeeded`, outcome: "applied" }]);
      expect((await cluster.db.query(`SELECT count(*)::int AS n FROM payments WHERE bill_id = $1`, [billId])).rows[0].n).toBe(1);

      // The payment system comes back and sends the webhook after all: the payment is not counted twice.
      expect(await fake.deliver(fake.payments.get(request.paymentId)!, lost)).toEqual({ status: 200, outcome: "ignored" });
      expect((await cluster.db.query(`SELECT count(*)::int AS n FROM payments WHERE bill_id = $1`, [billId])).rows[0].n).toBe(1);
    } finally {
      await cluster.stop();
      await fake.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("rate limits counted in Redis", () => {
  const redisUrl = process.env.REDIS_URL;
  let cluster: Cluster;

  beforeAll(async () => {
    if (!redisUrl) throw new Error("The multi-instance suite needs a Redis server for the shared rate limits: set REDIS_URL");
    cluster = await startCluster(servers, { env: { REDIS_URL: redisUrl, RATE_LIMIT_PER_MINUTE: "6" } });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("hold across instances: a user's requests spread over all three are limited once, not once per instance", async () => {
    const user = newUser();
    const call = apiClient(cluster.proxy, user);
    const before = cluster.proxy.countsFor("/api/chillbill/bills");
    const statuses: number[] = [];
    for (let i = 0; i < 9; i += 1) statuses.push((await call("GET", "/bills")).status);
    const spread = cluster.proxy.countsFor("/api/chillbill/bills").map((n, i) => n - before[i]);
    expect(spread).toEqual([3, 3, 3]);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429, 429]);
    // Another user is not affected.
    const other = newUser();
    expect((await apiClient(cluster.proxy, other)("GET", "/bills")).status).toBe(200);
    for (const u of [user, other]) await deleteRedisKeys(redisUrl!, u);
  });
});

/** The counters of this test's user, so the shared Redis keeps nothing of the run (they would expire within a minute anyway). */
async function deleteRedisKeys(url: string, user: string): Promise<void> {
  const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 2_000 } });
  client.on("error", () => undefined);
  await client.connect();
  try {
    const keys: string[] = [];
    for await (const batch of client.scanIterator({ MATCH: `*${user}*`, COUNT: 100 })) keys.push(...batch);
    if (keys.length) await client.del(keys);
  } finally {
    await client.close();
  }
}
