// GET /bills/:billId/events across instances: two apps on one database (two pools and two
// listeners on PostgreSQL; one shared PGlite otherwise), as two instances behind a load balancer.
// Events are rows of bill_events written in the transaction of the change and sent with NOTIFY:
// a stream on one instance sees the other's changes in order, resumes after its Last-Event-ID with
// exactly what it missed, and never sees a change that rolled back.
import { appendEvents } from "../../src/events/events.store";
import { lockBill } from "../../src/ledger/store";
import { as } from "../support/http";
import { pngBytes, signedCallback } from "../support/images";
import { billWithRequests, paymentEvent, postWebhook, splitBill } from "../support/payments";
import { openEvents, serve, type Served } from "../support/sse";
import { createTestApp, describeOnPostgres, newUserId, type TestApp } from "../support/test-app";

let a: TestApp;
let b: TestApp;
let A: Served;
let B: Served;
beforeAll(async () => {
  a = await createTestApp();
  b = await createTestApp({ sameDatabaseAs: a });
  A = await serve(a);
  B = await serve(b);
});
afterAll(async () => {
  await A?.close();
  await B?.close();
  await b?.close();
  await a?.close();
});

/** The ids of the bill's rows in bill_events, oldest first (after `afterId`). */
async function tableIds(billId: string, afterId = 0): Promise<number[]> {
  const rows = await a.db.sql.query<{ id: string | number }>("SELECT id FROM bill_events WHERE bill_id = $1::uuid AND id > $2 ORDER BY id", [billId, afterId]);
  return rows.map((r) => Number(r.id));
}

describe("GET /bills/:billId/events (Server-Sent Events)", () => {
  it("streams a snapshot, then the bill's events, each with the id of its row in bill_events", async () => {
    const { token, billId, requests } = await billWithRequests(a, ["me", "Alice", "Bob"]);
    const stream = await openEvents(A.base, billId, token);
    expect(stream.status).toBe(200);
    expect(stream.contentType).toMatch(/^text\/event-stream/);
    expect(JSON.parse(stream.frames[0].data)).toMatchObject({ billId, status: "active" });
    for (const r of requests) expect((await postWebhook(a, paymentEvent(r))).status).toBe(200);
    await stream.until("the bill completed", (s) => s.kinds.includes("bill.status:completed"));
    expect(stream.kinds).toEqual(["payment.received", "payment.received", "bill.status:completed"]);
    expect(stream.events[0]).toEqual({
      id: expect.any(Number),
      type: "payment.received",
      billId,
      at: expect.any(String),
      data: { participantId: requests[0].participantId, method: "payment_system" },
    });
    const ids = stream.events.map((e) => e.id);
    expect(ids).toEqual((await tableIds(billId)).slice(-3));
    stream.close();
  });

  it("streams a failed payment, an offline payment and an AI result, each written with its change", async () => {
    const { token, billId, requestOf, byName } = await billWithRequests(a, ["me", "Alice", "Bob"]);
    const stream = await openEvents(A.base, billId, token);
    await postWebhook(a, paymentEvent(requestOf("Alice"), "payment.failed"));
    await as(a, token).put(`/bills/${billId}/participants/${byName.Bob}/mark-as-paid`).send({ method: "cash" });
    await stream.untilCount(2);
    expect(stream.events.map((e) => [e.type, e.data])).toEqual([
      ["payment.failed", { participantId: byName.Alice, type: "failed" }],
      ["payment.received", { participantId: byName.Bob, method: "cash" }],
    ]);
    const job = await as(a, token).post(`/bills/${billId}/bill-image`).attach("image", pngBytes(), { filename: "receipt.png", contentType: "image/png" });
    expect(job.status).toBe(202);
    expect(
      (await signedCallback(a, `/internal/bills/${billId}/bill-result`, { jobId: job.body.jobId, status: "completed", result: { merchant_name: "Pho 24" } }))
        .status,
    ).toBe(200);
    const events = await stream.untilCount(3);
    expect(events[2]).toMatchObject({ type: "ai.result", data: { kind: "bill", jobId: job.body.jobId, state: "completed" } });
    expect(events.map((e) => e.id)).toEqual((await tableIds(billId)).slice(-3));
    stream.close();
  });

  it("is 404 for someone who may not see the bill, and 401 without a token", async () => {
    const { billId } = await splitBill(a, ["me", "Alice"]);
    expect((await openEvents(A.base, billId, await a.tokenFor(newUserId()))).status).toBe(404);
    expect((await openEvents(A.base, billId, null)).status).toBe(401);
  });

  it("refuses a malformed Last-Event-ID (or lastEventId) with 400 that names it", async () => {
    const { token, billId } = await splitBill(a, ["me", "Alice"]);
    const header = await openEvents(A.base, billId, token, { lastEventId: "12abc" });
    expect(header.status).toBe(400);
    expect(header.body).toMatchObject({ code: "validation_failed", detail: expect.stringContaining("Last-Event-ID must be the id of an event") });
    const query = await openEvents(A.base, billId, token, { query: "?lastEventId=-1" });
    expect(query.status).toBe(400);
    expect(query.body).toMatchObject({ detail: expect.stringContaining("lastEventId must be the id of an event") });
  });

  it("takes a Last-Event-ID past the bill's latest event (another database's, or pruned) as the latest", async () => {
    const { token, billId, requestOf } = await billWithRequests(a, ["me", "Alice", "Bob"]);
    const stream = await openEvents(A.base, billId, token, { lastEventId: "999999999999" });
    await postWebhook(a, paymentEvent(requestOf("Alice")));
    expect((await stream.untilCount(1)).map((e) => e.type)).toEqual(["payment.received"]);
    stream.close();
  });
});

describe("two instances on one database", () => {
  it("a change made through one instance reaches a stream on the other, in order", async () => {
    const { token, billId } = await splitBill(a, ["me", "Alice", "Bob"]);
    const stream = await openEvents(A.base, billId, token);
    const { requests } = (await as(b, token).post(`/bills/${billId}/request-payments`)).body;
    for (const r of requests) expect((await postWebhook(b, paymentEvent(r))).status).toBe(200);
    await stream.until("the bill completed", (s) => s.kinds.includes("bill.status:completed"));
    expect(stream.kinds).toEqual(["bill.status:active", "payment.received", "payment.received", "bill.status:completed"]);
    expect(stream.events.map((e) => e.id)).toEqual(await tableIds(billId));
    stream.close();
  });

  it("a stream that resumes on the other instance with Last-Event-ID gets exactly what it missed, then the live events", async () => {
    const { token, billId, requestOf, byName } = await billWithRequests(a, ["me", "Alice", "Bob", "Carol"]);
    const first = await openEvents(A.base, billId, token);
    await postWebhook(b, paymentEvent(requestOf("Alice")));
    const [seen] = await first.untilCount(1);
    first.close();

    // Missed while no one watched, written by both instances.
    await postWebhook(a, paymentEvent(requestOf("Bob"), "payment.failed"));
    await as(b, token).put(`/bills/${billId}/participants/${byName.Bob}/mark-as-paid`).send({ method: "cash" });

    const resumed = await openEvents(B.base, billId, token, { lastEventId: String(seen.id) });
    await resumed.untilCount(2);
    await postWebhook(a, paymentEvent(requestOf("Carol")));
    await resumed.until("the bill completed", (s) => s.kinds.includes("bill.status:completed"));
    expect(resumed.kinds).toEqual(["payment.failed", "payment.received", "payment.received", "bill.status:completed"]);
    expect(resumed.events.map((e) => e.data.method ?? e.data.type ?? e.data.status)).toEqual(["failed", "cash", "payment_system", "completed"]);
    expect(resumed.events.map((e) => e.id)).toEqual(await tableIds(billId, seen.id));
    resumed.close();

    // The same with ?lastEventId= (EventSource polyfills that cannot set the header).
    const polyfill = await openEvents(A.base, billId, token, { query: `?lastEventId=${seen.id}` });
    await polyfill.untilCount(4);
    expect(polyfill.events.map((e) => e.id)).toEqual(resumed.events.map((e) => e.id));
    polyfill.close();
  });

  it("an event written in a transaction that rolls back is never streamed", async () => {
    const { token, billId, byName } = await billWithRequests(a, ["me", "Alice", "Bob"]);
    const stream = await openEvents(A.base, billId, token);
    // The ledger cancels the bill in B's transaction, which then fails: nothing of it may show.
    await expect(
      b.db.sql.transaction(async (tx) => {
        expect(await lockBill(tx, billId, null)).toBe(true);
        await b.app.locals.ledger.decideAndWrite(tx, billId, "test", { kind: "cancel_bill", reason: "rolled back" });
        throw new Error("rolled back on purpose");
      }),
    ).rejects.toThrow("rolled back on purpose");
    // A change that commits after it, on the same bill, is streamed, and it is the first thing streamed.
    await as(b, token).put(`/bills/${billId}/participants/${byName.Alice}/mark-as-paid`).send({ method: "cash" });
    await stream.untilCount(1);
    expect(stream.kinds).toEqual(["payment.received"]);
    expect((await a.db.sql.query("SELECT 1 FROM bill_events WHERE bill_id = $1::uuid AND data->>'status' = 'cancelled'", [billId])).length).toBe(0);
    expect(stream.events.map((e) => e.id)).toEqual((await tableIds(billId)).slice(-1));
    stream.close();
  });

  it("an event too big for a notification is read from the table, in its place", async () => {
    const { token, billId, requestOf } = await billWithRequests(a, ["me", "Alice", "Bob"]);
    const stream = await openEvents(A.base, billId, token);
    const note = "x".repeat(9_000); // NOTIFY takes less than 8000 bytes: this one is sent as its id
    await b.db.sql.transaction(async (tx) => {
      await lockBill(tx, billId, null);
      await appendEvents(tx, billId, [{ type: "ai.result", data: { kind: "bill", note } }], new Date());
    });
    await postWebhook(b, paymentEvent(requestOf("Alice")));
    const events = await stream.untilCount(2);
    expect(events.map((e) => e.type)).toEqual(["ai.result", "payment.received"]);
    expect(events[0].data.note).toBe(note);
    expect(events.map((e) => e.id)).toEqual((await tableIds(billId)).slice(-2));
    stream.close();
  });

  it("pruneEvents deletes the events written before the cutoff and keeps the others", async () => {
    const { billId } = await splitBill(a, ["me", "Alice"]);
    const write = (at: string, status: string) =>
      b.db.sql.transaction(async (tx) => {
        await lockBill(tx, billId, null);
        await appendEvents(tx, billId, [{ type: "bill.status", data: { status } }], new Date(at));
      });
    await write("2001-01-01T00:00:00Z", "old");
    await write("2001-02-01T00:00:00Z", "old");
    await write("2001-06-01T00:00:00Z", "kept");
    // Older than any other test's events (they are written now), so it deletes only these two.
    expect(await a.app.locals.events.pruneEvents(new Date("2001-03-01T00:00:00Z"))).toBe(2);
    const left = await a.db.sql.query<{ status: string }>("SELECT data->>'status' AS status FROM bill_events WHERE bill_id = $1::uuid ORDER BY id", [billId]);
    expect(left.map((r) => r.status)).toEqual(["kept"]);
  });
});

describeOnPostgres("the listening connection (PostgreSQL)", () => {
  const name = `chillbill-test-listener-${process.pid}`;
  let c: TestApp;
  let C: Served;
  beforeAll(async () => {
    // A first reconnect wait long enough to write an event while the listener is away.
    c = await createTestApp({ listenerName: name, listenerRetryMs: 1_500 });
    C = await serve(c);
  });
  afterAll(async () => {
    await C?.close();
    await c?.close();
  });

  const listeners = async () =>
    (await c.db.sql.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()", [name])).map(
      (r) => r.pid,
    );

  async function waitFor(what: string, check: () => Promise<boolean>) {
    const deadline = Date.now() + 10_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  it("is one connection per process, however many streams are open", async () => {
    const one = await billWithRequests(c, ["me", "Alice"]);
    const two = await billWithRequests(c, ["me", "Bob"]);
    const streams = await Promise.all([
      openEvents(C.base, one.billId, one.token),
      openEvents(C.base, one.billId, one.token),
      openEvents(C.base, two.billId, two.token),
    ]);
    expect(await listeners()).toHaveLength(1);
    for (const s of streams) s.close();
  });

  it("reconnects after its connection is killed, and a stream misses nothing written meanwhile", async () => {
    const { token, billId, requestOf, byName } = await billWithRequests(c, ["me", "Alice", "Bob", "Carol"]);
    const stream = await openEvents(C.base, billId, token);
    await postWebhook(c, paymentEvent(requestOf("Alice")));
    await stream.untilCount(1);

    const [pid] = await listeners();
    expect(pid).toEqual(expect.any(Number));
    await c.db.sql.query("SELECT pg_terminate_backend($1)", [pid]);
    await waitFor("the listener to be gone", async () => (await listeners()).length === 0);
    // Written while no connection listens: no notification reaches this process.
    await as(c, token).put(`/bills/${billId}/participants/${byName.Bob}/mark-as-paid`).send({ method: "cash" });
    expect(await listeners()).toEqual([]);

    await stream.untilCount(2);
    const [again] = await listeners();
    expect(again).not.toBe(pid);
    await postWebhook(c, paymentEvent(requestOf("Carol")));
    await stream.until("the bill completed", (s) => s.kinds.includes("bill.status:completed"));
    expect(stream.kinds).toEqual(["payment.received", "payment.received", "payment.received", "bill.status:completed"]);
    expect(stream.events[1].data).toEqual({ participantId: byName.Bob, method: "cash" });
    expect(stream.events.map((e) => e.id)).toEqual((await tableIds(billId)).slice(-4));
    stream.close();
  });

  it("closing the events and the database ends the streams and the listening connection", async () => {
    const d = await createTestApp({ listenerName: `${name}-closing` });
    const D = await serve(d);
    const { token, billId } = await splitBill(d, ["me", "Alice"]);
    const stream = await openEvents(D.base, billId, token);
    const named = async () => (await c.db.sql.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1", [`${name}-closing`])).length;
    expect(await named()).toBe(1);
    await d.app.locals.events.close();
    await stream.until("the stream to end", (s) => s.ended);
    await D.close();
    await d.db.close();
    await waitFor("the listening connection to close", async () => (await named()) === 0);
  });
});
