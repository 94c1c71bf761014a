// Faults against the real server process and a real PostgreSQL server (TEST_DATABASE_URL): SIGKILL
// while an AI result and a payment webhook are inside their transactions, a database outage
// through a proxy the test cuts or hangs (while serving, and while starting: nothing answers until
// start-up is done), bursts of duplicate and racing payments, and SIGTERM during requests. The
// test holds row, table and advisory locks from its own connection to stop a request (or a start)
// at a known point, and checks the outcome in the database. Run by `npm run test:faults` (CI runs it).
import { request as httpRequest } from "node:http";
import { connect, createServer, type AddressInfo } from "node:net";
import { readdirSync } from "node:fs";
import path from "node:path";
import type { Client } from "pg";
import { AI_SIGNATURE_HEADER } from "../../src/adapters/ai/ai-service";
import { DEFAULT_AI_FIXTURES } from "../../src/adapters/ai/mock-ai-service";
import { signDevelopmentToken } from "../../src/http/auth";
import { aiCallbackSignature, pngBytes } from "../support/images";
import { paymentEvent } from "../support/payments";
import { apiClient, RealServers, sendWebhook, TEST_CONNECTION, until, type Answer } from "../support/real-servers";
import type { LaunchedServer, ServerProcess } from "../support/server-process";
import { TcpProxy } from "../support/tcp-proxy";
import { TEST_JWT_SECRET } from "../support/test-app";

const USER = "faults-user";

const servers = new RealServers("faults");
const { freshDatabase, connectTo, boot } = servers;
beforeAll(() => servers.open());
afterAll(() => servers.close());

// ---------------------------------------------------------------------------------------------
// Helpers: requests, locks (databases, servers, polling: tests/support/real-servers.ts)

const client = (server: ServerProcess) => apiClient(server, USER);

async function upload(server: ServerProcess, billId: string, kind: "bill" | "group"): Promise<number> {
  const form = new FormData();
  form.set("image", new Blob([pngBytes(4096)], { type: "image/png" }), `${kind}.png`);
  const token = await signDevelopmentToken(TEST_JWT_SECRET, USER);
  const res = await fetch(`${server.url}/api/chillbill/bills/${billId}/${kind}-image`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  await res.arrayBuffer();
  return res.status;
}

/** A signed AI callback, as the AI service sends (and re-sends) it. */
async function sendAiResult(server: ServerProcess, billId: string, kind: "bill" | "group", body: object) {
  const raw = JSON.stringify(body);
  const res = await fetch(`${server.url}/api/chillbill/internal/bills/${billId}/${kind}-result`, {
    method: "POST",
    headers: { "content-type": "application/json", [AI_SIGNATURE_HEADER]: aiCallbackSignature(raw) },
    body: raw,
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, body: await res.json() };
}

type PaymentRequest = { id: string; participantId: string; paymentId: string; reference: string; amount: string; currency: string };

async function billAwaitingPayment(call: ReturnType<typeof client>, names = ["A", "B"], totalAmount = "90.00") {
  const bill = (await call("POST", "/bills", { totalAmount, currency: "USD", merchantName: "Faults" })).body;
  for (const name of names) expect((await call("POST", `/bills/${bill.id}/participants`, { name })).status).toBe(201);
  expect((await call("POST", `/bills/${bill.id}/split/equal`, {})).status).toBe(200);
  const requested = await call("POST", `/bills/${bill.id}/request-payments`);
  expect(requested.status).toBe(200);
  expect(requested.body.requests).toHaveLength(names.length);
  return { billId: bill.id as string, requests: requested.body.requests as PaymentRequest[] };
}

/** Backends of this database (the server's, not the test's own) waiting for a lock, with what they run. */
async function lockWaiters(database: string): Promise<{ pid: number; query: string }[]> {
  const { rows } = await servers.admin.query<{ pid: number; query: string }>(
    `SELECT pid, query FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND application_name <> $2 AND wait_event_type = 'Lock'`,
    [database, TEST_CONNECTION],
  );
  return rows;
}

/** The server's backends waiting for a lock on `table`, asked on a connection to its database (table oids are per database). */
async function waitingFor(db: Client, table: string): Promise<{ pid: number }[]> {
  const { rows } = await db.query<{ pid: number }>(
    `SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
      WHERE a.datname = current_database() AND a.application_name <> $1 AND NOT l.granted AND l.relation = $2::regclass`,
    [TEST_CONNECTION, table],
  );
  return rows;
}

/** The server's connections to this database. */
async function serverBackends(database: string): Promise<number> {
  const { rows } = await servers.admin.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND application_name <> $2`,
    [database, TEST_CONNECTION],
  );
  return rows[0].n;
}

async function historyOf(db: Client, billId: string) {
  const { rows } = await db.query<{
    participant_id: string | null;
    entity_type: string;
    previous_status: string | null;
    new_status: string;
    changed_by: string;
  }>(`SELECT participant_id, entity_type::text, previous_status, new_status, changed_by FROM status_history WHERE bill_id = $1 ORDER BY created_at, id`, [
    billId,
  ]);
  return rows;
}

/** History rows that say the same thing twice (same entity, same transition). */
async function duplicateHistory(db: Client, billId: string) {
  const { rows } = await db.query(
    `SELECT participant_id, entity_type, previous_status, new_status, count(*)::int AS n
       FROM status_history WHERE bill_id = $1
      GROUP BY participant_id, entity_type, previous_status, new_status HAVING count(*) > 1`,
    [billId],
  );
  return rows;
}

function expectProblem(res: Answer, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ type: expect.stringMatching(/^https?:\/\//), title: expect.any(String), status, detail: expect.any(String), code });
  expect(res.body.requestId).toEqual(expect.any(String));
  expect(res.body.requestId).toBe(res.headers.get("x-request-id"));
  expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(ts|js):\d+/);
}

/** A port nobody listens on now (the OS's choice, released at once). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Whether a TCP connection to the port is accepted (false: refused). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

// ---------------------------------------------------------------------------------------------

describe("SIGKILL in the middle of a flow", () => {
  it("an AI group result caught inside its transaction is rolled back; after a restart the job is handed over again, and no result is applied twice", async () => {
    const { url, name } = await freshDatabase();
    const db = await connectTo(url);
    const locker = await connectTo(url);
    const first = await boot({ DATABASE_URL: url, AI_MOCK_DELAY_MS: "1500" });
    const call = client(first);
    const bill = (await call("POST", "/bills", {})).body;

    // The receipt is read and applied on the first server.
    expect(await upload(first, bill.id, "bill")).toBe(202);
    const billJob = await until("the receipt result", async () => {
      const s = (await call("GET", `/bills/${bill.id}/processing-status`)).body;
      return s.billImage.state === "completed" ? s.billImage : undefined;
    });

    // The group result is stopped inside its transaction: the ledger's one write statement (people,
    // shares and history together) has taken the participants table and waits for the history
    // table, which the test holds. Found by the lock it waits for: pg_stat_activity cuts long
    // statement texts short (track_activity_query_size).
    expect(await upload(first, bill.id, "group")).toBe(202);
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE status_history IN EXCLUSIVE MODE");
    const [stuck] = await until(
      "the group result to wait inside its transaction",
      async () => {
        const waiting = await waitingFor(db, "status_history");
        return waiting.length ? waiting : undefined;
      },
      10_000,
      25,
    );
    const wrote = await db.query(`SELECT 1 FROM pg_locks WHERE pid = $1 AND relation = 'participants'::regclass AND mode = 'RowExclusiveLock' AND granted`, [
      stuck.pid,
    ]);
    expect(wrote.rowCount).toBe(1);

    expect(await first.stop("SIGKILL")).toBeNull();
    await locker.query("ROLLBACK");
    await until("the killed server's connections to close", async () => ((await serverBackends(name)) === 0 ? true : undefined));
    // Nothing of the half-applied result was kept; the job is still open.
    expect((await db.query(`SELECT count(*)::int AS n FROM participants WHERE bill_id = $1`, [bill.id])).rows[0].n).toBe(0);
    expect((await db.query(`SELECT state::text, attempts FROM image_jobs WHERE bill_id = $1 AND kind = 'group'`, [bill.id])).rows).toEqual([
      { state: "processing", attempts: 1 },
    ]);

    // After the restart the recovery sweep hands the group photo over again and its result lands.
    const second = await boot({ DATABASE_URL: url, AI_MOCK_DELAY_MS: "100", AI_JOB_TIMEOUT_MS: "2000" });
    const again = client(second);
    const status = await until("the group job to complete", async () => {
      const s = (await again("GET", `/bills/${bill.id}/processing-status`)).body;
      return s.groupImage.state === "completed" ? s : undefined;
    });
    expect(status.groupImage.attempts).toBe(2);
    expect(status.billImage).toMatchObject({ jobId: billJob.jobId, state: "completed", attempts: 1 });

    // The AI service delivers both results again (its first deliveries never got an answer): no-ops.
    for (const [kind, jobId] of [
      ["bill", billJob.jobId],
      ["group", status.groupImage.jobId],
    ] as const) {
      const resent = await sendAiResult(second, bill.id, kind, { jobId, status: "completed", result: DEFAULT_AI_FIXTURES[kind] });
      expect(resent).toMatchObject({ status: 200, body: { jobId, state: "completed", applied: false } });
    }

    const people = await db.query<{ name: string; ai_face_id: string }>(`SELECT name, ai_face_id FROM participants WHERE bill_id = $1 ORDER BY name`, [
      bill.id,
    ]);
    expect(people.rows).toEqual([
      { name: "Alice", ai_face_id: "face-alice" },
      { name: "Bob", ai_face_id: "face-bob" },
    ]);
    const history = await historyOf(db, bill.id);
    expect(history.filter((h) => h.entity_type === "participant")).toHaveLength(2); // one "added" row each
    expect(await duplicateHistory(db, bill.id)).toEqual([]);
    const stored = await db.query(
      `SELECT total_amount::text AS total, currency, merchant_name, jsonb_array_length(line_items) AS items FROM bills WHERE id = $1`,
      [bill.id],
    );
    expect(stored.rows[0]).toEqual({ total: "100.0000", currency: "USD", merchant_name: "Test Restaurant", items: 3 });
    expect((await db.query(`SELECT state::text FROM image_jobs WHERE bill_id = $1`, [bill.id])).rows).toEqual([{ state: "completed" }, { state: "completed" }]);
    expect(await second.stop()).toBe(0);
  });

  it("a payment webhook caught inside its transaction is rolled back; the payment system's retry after the restart applies it once", async () => {
    const { url, name } = await freshDatabase();
    const db = await connectTo(url);
    const locker = await connectTo(url);
    const first = await boot({ DATABASE_URL: url });
    const { billId, requests } = await billAwaitingPayment(client(first));
    const [paying] = requests;
    const event = paymentEvent(paying);

    // The test holds the bill's row: the webhook gets inside its transaction and waits there.
    await locker.query("BEGIN");
    await locker.query("SELECT id FROM bills WHERE id = $1 FOR UPDATE", [billId]);
    const inFlight = sendWebhook(first, event);
    await until("the webhook to wait for the bill's lock", async () => ((await lockWaiters(name)).length ? true : undefined), 10_000, 25);

    expect(await first.stop("SIGKILL")).toBeNull();
    expect((await inFlight).status).toBe(0); // no answer: the payment system will send it again
    await locker.query("ROLLBACK");
    await until("the killed server's connections to close", async () => ((await serverBackends(name)) === 0 ? true : undefined));
    expect((await db.query(`SELECT count(*)::int AS n FROM payment_events WHERE id = $1`, [event.id])).rows[0].n).toBe(0);
    expect((await db.query(`SELECT payment_status::text AS s FROM participants WHERE id = $1`, [paying.participantId])).rows[0].s).toBe("requested");

    const second = await boot({ DATABASE_URL: url });
    expect(await sendWebhook(second, event)).toMatchObject({ status: 200, body: { outcome: "applied" } });
    expect(await sendWebhook(second, event)).toMatchObject({ status: 200, body: { outcome: "duplicate" } });

    const events = await db.query(`SELECT outcome FROM payment_events WHERE id = $1`, [event.id]);
    expect(events.rows).toEqual([{ outcome: "applied" }]);
    const participant = await db.query(`SELECT payment_status::text AS status, paid_amount::text AS paid FROM participants WHERE id = $1`, [
      paying.participantId,
    ]);
    expect(participant.rows).toEqual([{ status: "paid", paid: "45.0000" }]);
    const request = await db.query(`SELECT status::text FROM payment_requests WHERE id = $1`, [paying.id]);
    expect(request.rows).toEqual([{ status: "paid" }]);
    const history = await historyOf(db, billId);
    expect(history.filter((h) => h.participant_id === paying.participantId && h.entity_type === "participant" && h.new_status === "paid")).toEqual([
      expect.objectContaining({ previous_status: "requested", changed_by: "webhook" }),
    ]);
    expect(await duplicateHistory(db, billId)).toEqual([]);
    expect(await second.stop()).toBe(0);
  });
});

describe("database outage", () => {
  async function behindProxy(env: Record<string, string> = {}) {
    const database = await freshDatabase();
    const target = new URL(database.url);
    const proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const proxied = new URL(database.url);
    proxied.hostname = "127.0.0.1";
    proxied.port = String(await proxy.start());
    const server = await boot({ DATABASE_URL: proxied.toString(), DATABASE_POOL_MAX: "4", ...env });
    return { ...database, proxiedUrl: proxied.toString(), proxy, server };
  }

  /** A server behind the proxy with a bill awaiting payment, and the event that pays its first share. */
  async function awaitingPaymentBehindProxy(env: Record<string, string> = {}) {
    const setup = await behindProxy(env);
    try {
      const call = client(setup.server);
      const { billId, requests } = await billAwaitingPayment(call);
      return { ...setup, call, billId, requests, event: paymentEvent(requests[0]) };
    } catch (err) {
      await setup.server.stop();
      await setup.proxy.close();
      throw err;
    }
  }

  /**
   * After an outage: ready again without a restart, a write goes through, and the webhook the
   * payment system retries is applied once (then a duplicate), checked in the database.
   */
  async function expectRecovered(server: ServerProcess, url: string, billId: string, event: ReturnType<typeof paymentEvent>, participantId: string) {
    await until("ready again", async () => ((await fetch(`${server.url}/ready`)).status === 200 ? true : undefined));
    expect((await client(server)("POST", "/bills", { totalAmount: "10.00", currency: "USD" })).status).toBe(201);
    expect(await sendWebhook(server, event)).toMatchObject({ status: 200, body: { outcome: "applied" } });
    expect(await sendWebhook(server, event)).toMatchObject({ status: 200, body: { outcome: "duplicate" } });
    expect(server.child.exitCode).toBeNull();
    const db = await connectTo(url);
    expect((await db.query(`SELECT outcome FROM payment_events WHERE id = $1`, [event.id])).rows).toEqual([{ outcome: "applied" }]);
    const paid = (await historyOf(db, billId)).filter((h) => h.entity_type === "participant" && h.new_status === "paid");
    expect(paid).toEqual([expect.objectContaining({ participant_id: participantId })]);
  }

  it("cut: reads and writes answer 503 problems within seconds, /ready is not ready, webhooks are refused; it recovers without a restart and the retried webhook is applied once", async () => {
    const { url, proxy, server, call, billId, requests, event } = await awaitingPaymentBehindProxy();
    try {
      proxy.cut();
      const read = await call("GET", "/bills");
      expectProblem(read, 503, "database_unavailable");
      expect(read.ms).toBeLessThan(6_000);
      const write = await call("POST", "/bills", { totalAmount: "10.00", currency: "USD" });
      expectProblem(write, 503, "database_unavailable");
      expect(write.ms).toBeLessThan(6_000);
      expect(write.headers.get("retry-after")).toBe("5");
      const ready = await fetch(`${server.url}/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ status: 503, code: "not_ready" });
      const refused = await sendWebhook(server, event);
      expect(refused.status).toBeGreaterThanOrEqual(500); // not 2xx, not a final 4xx: the payment system retries
      expect(refused.ms).toBeLessThan(6_000);

      proxy.restore();
      await expectRecovered(server, url, billId, event, requests[0].participantId);
      expect((await call("GET", `/bills/${billId}/status`)).body.totals).toMatchObject({ paidCount: 1, unpaidCount: 1 });
    } finally {
      await server.stop();
      await proxy.close();
    }
  });

  // The database stops answering without an error (a black hole: connections are accepted and
  // never answered). Open pool connections are dropped here, so every request has to connect again
  // and is bounded by the pool's connect timeout (5 s) or Prisma's transaction start limit (2 s).
  // The next test stalls the open connections instead.
  it("hang (connections accepted, never answered): /ready, reads and writes answer 503 and webhooks a 5xx within a bounded time; it recovers without a restart", async () => {
    const { url, proxy, server, call, billId, requests, event } = await awaitingPaymentBehindProxy();
    try {
      proxy.hang({ open: "drop" });
      const started = Date.now();
      const ready = await fetch(`${server.url}/ready`, { signal: AbortSignal.timeout(15_000) });
      expect(ready.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(4_000);
      const [read, write, refused] = await Promise.all([
        call("GET", "/bills", undefined, 15_000),
        call("POST", "/bills", { totalAmount: "10.00", currency: "USD" }, 15_000),
        sendWebhook(server, event, 15_000),
      ]);
      proxy.restore();
      expectProblem(read, 503, "database_unavailable");
      expect(read.ms).toBeLessThan(8_000);
      expectProblem(write, 503, "database_unavailable");
      expect(write.ms).toBeLessThan(8_000);
      expect(refused.status).toBeGreaterThanOrEqual(500);
      expect(refused.ms).toBeLessThan(8_000);

      await expectRecovered(server, url, billId, event, requests[0].participantId);
    } finally {
      proxy.restore();
      await server.stop();
      await proxy.close();
    }
  });
  // Open connections go silent mid-query (proxy.hang() without options: nothing is forwarded either
  // way, no error, no reset). The pool's query guard (DATABASE_QUERY_TIMEOUT_MS) destroys a
  // connection whose query is not answered in time, so requests fail within that bound instead of
  // waiting for the network to heal, and no connection goes back to the pool mid-transaction.
  it("stall (open connections stop answering): reads, writes and webhooks answer 503 within the query timeout; it recovers without a restart and the webhook is applied once", async () => {
    const { url, proxy, server, call, billId, requests, event } = await awaitingPaymentBehindProxy({ DATABASE_QUERY_TIMEOUT_MS: "2000" });
    try {
      // Every pooled connection is open (and idle) before the stall.
      await Promise.all(Array.from({ length: 8 }, () => call("GET", `/bills/${billId}`)));

      proxy.hang();
      const [read, write, refused] = await Promise.all([
        call("GET", `/bills/${billId}`, undefined, 20_000),
        call("POST", "/bills", { totalAmount: "10.00", currency: "USD" }, 20_000),
        sendWebhook(server, event, 20_000),
      ]);
      expectProblem(read, 503, "database_unavailable");
      expect(read.ms).toBeLessThan(8_000);
      expectProblem(write, 503, "database_unavailable");
      expect(write.ms).toBeLessThan(8_000);
      expect(refused.status).toBeGreaterThanOrEqual(500);
      expect(refused.ms).toBeLessThan(8_000);
      expect(server.child.exitCode).toBeNull();

      proxy.restore();
      await expectRecovered(server, url, billId, event, requests[0].participantId);
    } finally {
      proxy.restore();
      await server.stop();
      await proxy.close();
    }
  });

  it("a bill lock held past the query timeout: the waiting write and webhook are cancelled on the server and answer 503, reads go on, and the webhook applies once the lock is gone", async () => {
    const { url, name } = await freshDatabase();
    const locker = await connectTo(url);
    const server = await boot({ DATABASE_URL: url, DATABASE_QUERY_TIMEOUT_MS: "1500" });
    try {
      const call = client(server);
      const { billId, requests } = await billAwaitingPayment(call);
      const event = paymentEvent(requests[0]);
      await locker.query("BEGIN");
      await locker.query("SELECT id FROM bills WHERE id = $1 FOR UPDATE", [billId]);

      const [write, refused] = await Promise.all([call("PUT", `/bills/${billId}`, { note: "waits for the lock" }), sendWebhook(server, event)]);
      expectProblem(write, 503, "database_unavailable");
      expect(write.ms).toBeLessThan(5_000);
      expect(refused.status).toBe(503);
      expect(refused.ms).toBeLessThan(5_000);
      // Cancelled where they ran (statement_timeout), not left waiting behind a dropped connection.
      expect(await lockWaiters(name)).toHaveLength(0);
      expect((await call("GET", `/bills/${billId}`)).status).toBe(200);

      await locker.query("ROLLBACK");
      expect(await sendWebhook(server, event)).toMatchObject({ status: 200, body: { outcome: "applied" } });
      expect((await call("PUT", `/bills/${billId}`, { note: "after the lock" })).status).toBe(200);
    } finally {
      await locker.query("ROLLBACK").catch(() => undefined);
      await server.stop();
    }
  });

  it("SIGTERM while the database is silent still exits, within the shutdown timeout", async () => {
    const { proxy, server } = await behindProxy({ DATABASE_QUERY_TIMEOUT_MS: "60000", SHUTDOWN_TIMEOUT_MS: "2000" });
    try {
      const call = client(server);
      await call("POST", "/bills", { totalAmount: "10.00", currency: "USD" });
      proxy.hang();
      const stuck = call("GET", "/bills", undefined, 30_000).catch((err: Error) => err);
      await new Promise((r) => setTimeout(r, 300));
      const started = Date.now();
      const code = await server.stop("SIGTERM");
      // The deadline is 2 s; the margin covers signal delivery and process exit on a loaded 2-CPU
      // machine, and stays far below the 60 s query timeout that a missed deadline would take.
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(code).toBe(0);
      expect(server.logs().some((l) => l.msg === "In-flight requests did not finish in time; closing their connections")).toBe(true);
      expect(server.logs().some((l) => l.msg === "Shutdown complete")).toBe(true);
      await stuck;
    } finally {
      proxy.restore();
      await proxy.close();
    }
  });
  it("SIGTERM while a background sweep is mid-query and the database goes silent exits within the shutdown deadline", async () => {
    // The first image-job sweep runs as soon as the server listens. The test holds an exclusive
    // lock on image_jobs, so that sweep is stopped mid-query at a known point (seen waiting in
    // pg_stat_activity); then the database goes silent. Shutdown must not wait for the query
    // timeout (60 s here), only for SHUTDOWN_TIMEOUT_MS.
    const shutdownTimeoutMs = 2_000;
    const env = { DATABASE_QUERY_TIMEOUT_MS: "60000", SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs) };
    const { proxy, server: first, url, name, proxiedUrl } = await behindProxy(env);
    expect(await first.stop("SIGTERM")).toBe(0); // the schema is in place; the next start migrates nothing
    const locker = await connectTo(url);
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE image_jobs IN ACCESS EXCLUSIVE MODE");
    try {
      const server = await boot({ DATABASE_URL: proxiedUrl, DATABASE_POOL_MAX: "4", ...env });
      await until("the first sweep waiting on image_jobs", async () => ((await lockWaiters(name)).some((w) => /image_jobs/.test(w.query)) ? true : undefined));
      proxy.hang();
      const started = Date.now();
      const code = await server.stop("SIGTERM");
      const elapsed = Date.now() - started;
      // The deadline is 2 s; the margin of 6 s covers signal delivery and process exit on a loaded
      // 2-CPU machine. Before the fix this took the 60 s query timeout, so the bound still tells.
      expect(elapsed).toBeLessThan(shutdownTimeoutMs + 6_000);
      expect(code).toBe(0);
      const messages = server.logs().map((l) => l.msg);
      expect(messages).toContain("Background work did not finish before the shutdown deadline; leaving it");
      expect(messages).toContain("Shutdown complete");
    } finally {
      await locker.query("ROLLBACK");
      proxy.restore();
      await proxy.close();
    }
  });
});

describe("database outage during start-up", () => {
  // Small backoff, so that a test sees several attempts within seconds.
  const quickRetries = { START_RETRY_DELAY_MS: "200", START_RETRY_MAX_DELAY_MS: "1000" };

  /** A fresh database behind a proxy, and a port of the test's choosing: the port must be known before the server listens. */
  async function startingBehindProxy() {
    const database = await freshDatabase();
    const target = new URL(database.url);
    const proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const proxied = new URL(database.url);
    proxied.hostname = "127.0.0.1";
    proxied.port = String(await proxy.start());
    const port = await freePort();
    const launch = (env: Record<string, string> = {}) =>
      servers.launch({ DATABASE_URL: proxied.toString(), DATABASE_POOL_MAX: "4", PORT: String(port), ...quickRetries, ...env });
    return { ...database, proxy, port, launch };
  }

  /** The log lines of failed attempts of one step. */
  const retriesOf = (server: LaunchedServer, step: string) => server.logs().filter((l) => l.step === step && l.level === 40);

  /** Knocks on the port every 50 ms until stopped; how many connections were accepted meanwhile. */
  function watchPort(port: number) {
    let accepted = 0;
    let knocks = 0;
    let watching = true;
    const done = (async () => {
      while (watching) {
        if (await accepts(port)) accepted += 1;
        knocks += 1;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    return {
      stop: async () => {
        watching = false;
        await done;
        return { accepted, knocks };
      },
    };
  }

  it("a database that is down at first: the port stays closed (not even /health answers) while each attempt is logged; once the database is up, /ready answers 200 and it serves", async () => {
    const { proxy, port, launch } = await startingBehindProxy();
    try {
      proxy.cut();
      const server = launch();
      const watcher = watchPort(port);
      await until("three failed attempts to reach the database", async () => (retriesOf(server, "connecting to the database").length >= 3 ? true : undefined));
      await expect(fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow();
      const { accepted, knocks } = await watcher.stop();
      expect(knocks).toBeGreaterThan(5);
      expect(accepted).toBe(0);
      expect(server.child.exitCode).toBeNull();
      const retries = retriesOf(server, "connecting to the database");
      expect(retries.slice(0, 3).map((l) => l.retryInMs)).toEqual([200, 400, 800]);
      for (const line of retries) {
        expect(line).toMatchObject({
          attempt: expect.any(Number),
          retryAt: expect.any(String),
          error: expect.stringMatching(/Connection terminated|ECONNRESET/),
        });
        expect(String(line.msg)).toMatch(
          /^Start-up: connecting to the database failed \(attempt \d+, the database is unavailable\): .+; trying again in \d+ ms$/,
        );
      }

      proxy.restore();
      const running = await server.listening();
      expect(running.url).toBe(`http://127.0.0.1:${port}`);
      const messages = server.logs().map((l) => String(l.msg));
      expect(messages).toContainEqual(expect.stringMatching(/^Start-up: connecting to the database succeeded after \d+ failed attempt\(s\)$/));
      // Listening is the last step: everything the start does is logged before it.
      const listeningAt = messages.findIndex((m) => m.startsWith("ChillBill listening on"));
      expect(messages.findIndex((m) => /^Applied \d+ migration/.test(m))).toBeLessThan(listeningAt);
      expect((await fetch(`${running.url}/ready`)).status).toBe(200);
      expect((await client(running)("POST", "/bills", { totalAmount: "10.00", currency: "USD" })).status).toBe(201);
      expect(await running.stop("SIGTERM")).toBe(0);
      expect(server.output()).not.toMatch(/failed to start/);
    } finally {
      await proxy.close();
    }
  });

  it("an outage while the job queue starts (pg-boss's install) is retried: the port stays closed meanwhile, then it serves and its jobs run", async () => {
    const { url, name, proxy, port, launch } = await startingBehindProxy();
    // pg-boss installs its schema under this transaction-level advisory lock (its plans.js): the
    // test holds it, so the start is caught inside pg-boss's start() at a known point.
    const holder = await connectTo(url);
    const pgBossLock = `('x' || encode(sha224((current_database() || '.pgboss.pgboss')::bytea), 'hex'))::bit(64)::bigint`;
    await holder.query(`SELECT pg_advisory_lock(${pgBossLock})`);
    try {
      const server = launch();
      const watcher = watchPort(port);
      await until(
        "the job queue's install waiting for its lock",
        async () => {
          const { rows } = await servers.admin.query(
            `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND NOT l.granted AND a.datname = $1 AND a.application_name <> $2`,
            [name, TEST_CONNECTION],
          );
          return rows.length ? true : undefined;
        },
        60_000,
      );
      expect(server.logs().map((l) => String(l.msg))).toContainEqual(expect.stringMatching(/^Applied \d+ migration/));

      proxy.cut();
      await until("two failed attempts to start the job queue", async () => (retriesOf(server, "starting the job queue").length >= 2 ? true : undefined));
      expect(server.child.exitCode).toBeNull();
      await holder.query(`SELECT pg_advisory_unlock(${pgBossLock})`);
      const { accepted, knocks } = await watcher.stop();
      expect(knocks).toBeGreaterThan(5);
      expect(accepted).toBe(0);

      proxy.restore();
      const running = await server.listening();
      expect(server.logs().map((l) => String(l.msg))).toContainEqual(
        expect.stringMatching(/^Start-up: starting the job queue succeeded after \d+ failed attempt\(s\)$/),
      );
      const ready = await fetch(`${running.url}/ready`);
      expect(ready.status).toBe(200);
      expect(((await ready.json()) as { jobs: unknown }).jobs).toEqual({ queued: expect.any(Number), active: expect.any(Number), failed: 0 });
      // The job queue works: the start's AI recovery run was taken by a worker and finished.
      await until("the start's AI recovery run to finish", async () => (server.logs().some((l) => l.msg === "AI job recovery finished") ? true : undefined));
      expect((await client(running)("POST", "/bills", { totalAmount: "10.00", currency: "USD" })).status).toBe(201);
      expect(await running.stop("SIGTERM")).toBe(0);
      expect(server.output()).not.toMatch(/failed to start/);
    } finally {
      await holder.query(`SELECT pg_advisory_unlock_all()`).catch(() => undefined);
      await proxy.close();
    }
  });

  it("SIGTERM while start-up waits for the database ends the wait at once and exits 0, having served nothing", async () => {
    const { proxy, port, launch } = await startingBehindProxy();
    try {
      proxy.cut();
      // A first wait of 60 s: an exit within seconds proves the wait was cut short.
      const server = launch({ START_RETRY_DELAY_MS: "60000", START_RETRY_MAX_DELAY_MS: "60000" });
      await until("the first failed attempt", async () => (retriesOf(server, "connecting to the database").length >= 1 ? true : undefined));
      const started = Date.now();
      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);
      expect(Date.now() - started).toBeLessThan(5_000);
      const messages = server.logs().map((l) => String(l.msg));
      expect(messages).toEqual(
        expect.arrayContaining(["Stopping start-up: SIGTERM", "Start-up stopped (SIGTERM) before anything was served", "Shutdown complete"]),
      );
      expect(messages.some((m) => m.startsWith("ChillBill listening"))).toBe(false);
      expect(await accepts(port)).toBe(false);
    } finally {
      await proxy.close();
    }
  });

  it("with START_RETRY_LIMIT, a database that stays away ends the start with exit 1 after that many retries, saying so in one line", async () => {
    const { proxy, launch } = await startingBehindProxy();
    try {
      proxy.cut();
      const server = launch({ START_RETRY_LIMIT: "2", START_RETRY_DELAY_MS: "100" });
      expect(await server.exited).toBe(1);
      expect(retriesOf(server, "connecting to the database")).toHaveLength(2);
      expect(server.output()).toMatch(
        /\nChillBill failed to start \(connecting to the database\): connecting to the database failed 3 times in a row, the database being unavailable \(START_RETRY_LIMIT=2\); giving up\. Last error: [^\n]+\n$/,
      );
    } finally {
      await proxy.close();
    }
  });

  it("a database that does not exist is a setting to fix, not an outage: the start ends at once with exit 1, naming the step", async () => {
    const { url } = await freshDatabase();
    const missing = new URL(url);
    missing.pathname = `/${missing.pathname.slice(1)}_missing`;
    const server = servers.launch({ DATABASE_URL: missing.toString(), ...quickRetries });
    expect(await server.exited).toBe(1);
    expect(retriesOf(server, "connecting to the database")).toHaveLength(0);
    expect(server.output()).toMatch(/ChillBill failed to start \(connecting to the database\): error: database "[^"]+_missing" does not exist/);
  });
});

describe("bursts on the real server", () => {
  let url: string;
  let server: ServerProcess;
  let db: Client;
  beforeAll(async () => {
    ({ url } = await freshDatabase());
    server = await boot({ DATABASE_URL: url });
    db = await connectTo(url);
  });
  afterAll(async () => {
    if (server) expect(await server.stop()).toBe(0);
  });

  it("100 identical signed webhooks at once for one payment: one applied, 99 duplicates, one payment recorded", async () => {
    const { billId, requests } = await billAwaitingPayment(client(server));
    const [paying] = requests;
    const event = paymentEvent(paying);
    const answers = await Promise.all(Array.from({ length: 100 }, () => sendWebhook(server, event)));
    expect(answers.map((a) => a.status)).toEqual(Array(100).fill(200));
    const outcomes = answers.map((a) => a.body.outcome as string);
    expect(outcomes.filter((o) => o === "applied")).toHaveLength(1);
    expect(outcomes.filter((o) => o === "duplicate")).toHaveLength(99);

    expect((await db.query(`SELECT outcome FROM payment_events WHERE id = $1`, [event.id])).rows).toEqual([{ outcome: "applied" }]);
    expect((await db.query(`SELECT count(*)::int AS n FROM payment_events WHERE payment_request_id = $1`, [paying.id])).rows[0].n).toBe(1);
    const history = await historyOf(db, billId);
    expect(history.filter((h) => h.participant_id === paying.participantId && h.entity_type === "participant" && h.new_status === "paid")).toHaveLength(1);
    expect(await duplicateHistory(db, billId)).toEqual([]);
    const bill = await db.query(`SELECT status::text FROM bills WHERE id = $1`, [billId]);
    expect(bill.rows).toEqual([{ status: "active" }]);
  });

  it("50 webhooks racing 50 mark-as-paid calls (one of each per participant): one payment each, the bill completed once, no duplicate history", async () => {
    const call = client(server);
    const names = Array.from({ length: 50 }, (_, i) => `P${String(i).padStart(2, "0")}`);
    const { billId, requests } = await billAwaitingPayment(call, names, "500.00");
    const events = requests.map((r) => paymentEvent(r));
    // Fired together, interleaved, the mark first for every other participant.
    const markPaid = (r: PaymentRequest) => call("PUT", `/bills/${billId}/participants/${r.participantId}/mark-as-paid`, { method: "cash" });
    const pairs = requests.map((r, i) => {
      if (i % 2 === 0) {
        const mark = markPaid(r);
        return { webhook: sendWebhook(server, events[i]), mark };
      }
      const webhook = sendWebhook(server, events[i]);
      return { webhook, mark: markPaid(r) };
    });
    const webhooks = await Promise.all(pairs.map((p) => p.webhook));
    const marks = await Promise.all(pairs.map((p) => p.mark));

    // Every participant's share was settled exactly once: by the webhook, or by the creator's mark.
    // A webhook that came after the mark is money received all the same: counted, as refund due.
    const winners = requests.map((r, i) => {
      expect(webhooks[i]).toMatchObject({ status: 200, body: { outcome: "applied" } });
      expect([200, 409]).toContain(marks[i].status);
      return marks[i].status === 409 ? "webhook" : "mark";
    });
    // Both sides won somewhere, so the race was real (about half each in practice).
    expect(new Set(winners)).toEqual(new Set(["webhook", "mark"]));
    const participants = await db.query<{ id: string; payment_status: string; payment_method: string; paid: string; refund: string }>(
      `SELECT id, payment_status::text, payment_method, paid_amount::text AS paid, refund_due::text AS refund FROM participants WHERE bill_id = $1`,
      [billId],
    );
    expect(participants.rows).toHaveLength(50);
    const requestStatus = new Map(
      (
        await db.query<{ participant_id: string; status: string }>(`SELECT participant_id, status::text FROM payment_requests WHERE bill_id = $1`, [billId])
      ).rows.map((r) => [r.participant_id, r.status]),
    );
    for (const p of participants.rows) {
      const byWebhook = winners[requests.findIndex((r) => r.participantId === p.id)] === "webhook";
      expect({ status: p.payment_status, method: p.payment_method, request: requestStatus.get(p.id), paid: p.paid, refund: p.refund }).toEqual(
        byWebhook
          ? { status: "paid", method: "payment_system", request: "paid", paid: "10.0000", refund: "0.0000" }
          : { status: "paid", method: "cash", request: "cancelled", paid: "20.0000", refund: "10.0000" },
      );
    }
    const applied = await db.query(
      `SELECT count(*)::int AS n FROM payment_events e JOIN payment_requests r ON r.id = e.payment_request_id WHERE r.bill_id = $1 AND e.outcome = 'applied'`,
      [billId],
    );
    expect(applied.rows[0].n).toBe(50);

    const history = await historyOf(db, billId);
    for (const r of requests) {
      expect(history.filter((h) => h.participant_id === r.participantId && h.entity_type === "participant" && h.new_status === "paid")).toHaveLength(1);
    }
    expect(await duplicateHistory(db, billId)).toEqual([]);
    expect(history.filter((h) => h.entity_type === "bill" && h.new_status === "completed")).toHaveLength(1);
    const totals = await db.query(
      `SELECT b.status::text AS status, b.total_amount::text AS total,
              (SELECT sum(paid_amount - refund_due)::text FROM participants WHERE bill_id = b.id) AS applied,
              (SELECT sum(amount)::text FROM payments WHERE bill_id = b.id) AS received,
              (SELECT sum(refund_due)::text FROM participants WHERE bill_id = b.id) AS refund
         FROM bills b WHERE b.id = $1`,
      [billId],
    );
    const marked = winners.filter((w) => w === "mark").length;
    expect(totals.rows).toEqual([
      { status: "completed", total: "500.0000", applied: "500.0000", received: `${500 + 10 * marked}.0000`, refund: `${10 * marked}.0000` },
    ]);
    const status = (await call("GET", `/bills/${billId}/status`)).body;
    expect(status).toMatchObject({ status: "completed", totals: { paidCount: 50, unpaidCount: 0 } });
  });
});

describe("graceful shutdown", () => {
  it("SIGTERM during an upload and a JSON request lets both finish with their normal answers, refuses new connections, then exits 0", async () => {
    const { url, name } = await freshDatabase();
    const db = await connectTo(url);
    const locker = await connectTo(url);
    const uploads = path.join(servers.dir, "uploads-shutdown");
    const server = await boot({ DATABASE_URL: url, UPLOAD_DIR: uploads });
    const call = client(server);
    const uploadBill = (await call("POST", "/bills", {})).body;
    const slowBill = (await call("POST", "/bills", { merchantName: "Before" })).body;
    const token = await signDevelopmentToken(TEST_JWT_SECRET, USER);
    const { port } = new URL(server.url);

    // A JSON request held inside its transaction: the test holds its bill's row.
    await locker.query("BEGIN");
    await locker.query("SELECT id FROM bills WHERE id = $1 FOR UPDATE", [slowBill.id]);
    const slowUpdate = call("PUT", `/bills/${slowBill.id}`, { merchantName: "After" });
    slowUpdate.catch(() => undefined); // awaited below; a failure is reported there
    await until("the update to wait for the bill's lock", async () => ((await lockWaiters(name)).length ? true : undefined), 10_000, 25);

    // An upload whose body is still arriving.
    const boundary = "----chillbill-faults";
    const file = pngBytes(512 * 1024);
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="slow.png"\r\nContent-Type: image/png\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    let finishUpload: () => void = () => undefined;
    const uploaded = new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port,
          method: "POST",
          path: `/api/chillbill/bills/${uploadBill.id}/bill-image`,
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": `multipart/form-data; boundary=${boundary}`,
            "content-length": head.length + file.length + tail.length,
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.write(head);
      req.write(file.subarray(0, 1024));
      finishUpload = () => {
        req.write(file.subarray(1024));
        req.end(tail);
      };
    });

    await until("the upload to be streaming into a file", async () => (readdirSync(uploads).length > 0 ? true : undefined), 10_000, 25);

    server.child.kill("SIGTERM");
    await until(
      "the server to start shutting down",
      async () => (server.logs().some((l) => /^Shutting down/.test(String(l.msg))) ? true : undefined),
      10_000,
      25,
    );
    // It no longer accepts connections, while both requests are still open.
    await until(
      "new connections to be refused",
      async () => {
        const refused = await new Promise<boolean>((resolve) => {
          const probe = httpRequest({ host: "127.0.0.1", port, path: "/health", agent: false }, (res) => {
            res.resume();
            resolve(false);
          });
          probe.on("error", () => resolve(true));
          probe.end();
        });
        return refused ? true : undefined;
      },
      5_000,
      50,
    );
    expect(server.child.exitCode).toBeNull();

    finishUpload();
    await locker.query("COMMIT");
    expect(await uploaded).toBe(202);
    const updated = await slowUpdate;
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ id: slowBill.id, merchantName: "After" });
    expect(await server.stop()).toBe(0);
    expect(server.logs().map((l) => l.msg)).toContain("Shutdown complete");
    expect((await db.query(`SELECT merchant_name FROM bills WHERE id = $1`, [slowBill.id])).rows).toEqual([{ merchant_name: "After" }]);
    expect((await db.query(`SELECT count(*)::int AS n FROM image_jobs WHERE bill_id = $1`, [uploadBill.id])).rows[0].n).toBe(1);
  });
});
