import request from "supertest";
import { v7 as uuidv7 } from "uuid";
import { createTestApp, newUserId, TestClock, type TestApp } from "../support/test-app";
import { API, as, expectProblem } from "../support/http";
import { createBill, insertParticipant } from "../support/builders";

let t: TestApp;
let clock: TestClock;
beforeAll(async () => {
  clock = new TestClock();
  t = await createTestApp({ clock });
});
afterAll(() => t.close());

async function user(prefix = "user") {
  const id = newUserId(prefix);
  return { id, token: await t.tokenFor(id) };
}

const history = (billId: string) => t.db.prisma.statusHistory.findMany({ where: { billId }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });

describe("POST /bills", () => {
  it("creates a bill with the caller as creator and answers 201 with its id", async () => {
    const alice = await user();
    const res = await as(t, alice.token)
      .post("/bills")
      .send({ totalAmount: "120.5", currency: "USD", merchantName: "Pho 24", billDate: "2026-11-20", note: "team lunch" });
    expect(res.status).toBe(201);
    expect(res.headers.location).toBe(`bills/${res.body.id}`);
    expect(res.body).toMatchObject({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      creatorUserId: alice.id,
      status: "created",
      totalAmount: "120.50",
      currency: "USD",
      merchantName: "Pho 24",
      billDate: "2026-11-20",
      note: "team lunch",
      aiProcessed: false,
    });
    const row = await t.db.prisma.bill.findUniqueOrThrow({ where: { id: res.body.id } });
    expect(row.totalAmount?.toString()).toBe("120.5");
    expect(await history(res.body.id)).toEqual([
      expect.objectContaining({ entityType: "bill", previousStatus: null, newStatus: "created", changedBy: alice.id }),
    ]);
  });

  it("creates an empty bill, for the AI to fill in later", async () => {
    const alice = await user();
    const res = await as(t, alice.token).post("/bills").send({});
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ totalAmount: null, currency: null, merchantName: null, billDate: null });
  });

  it("writes amounts in the currency's minor units (VND 0, KWD 3, CLF and UYW 4)", async () => {
    const alice = await user();
    expect((await createBill(t, alice.token, { totalAmount: "100000", currency: "VND" })).totalAmount).toBe("100000");
    expect((await createBill(t, alice.token, { totalAmount: "10", currency: "KWD" })).totalAmount).toBe("10.000");
    expect((await createBill(t, alice.token, { totalAmount: "10", currency: "CLF" })).totalAmount).toBe("10.0000");
    expect((await createBill(t, alice.token, { totalAmount: "10", currency: "UYW" })).totalAmount).toBe("10.0000");
  });

  it.each(["CLF", "UYW"])("stores and answers 10.0001 %s with its fourth decimal", async (currency) => {
    const alice = await user();
    const bill = await createBill(t, alice.token, { totalAmount: "10.0001", currency });
    expect(bill.totalAmount).toBe("10.0001");
    expect((await t.db.prisma.bill.findUniqueOrThrow({ where: { id: bill.id } })).totalAmount?.toFixed(4)).toBe("10.0001");
    expect((await as(t, alice.token).get(`/bills/${bill.id}`)).body.totalAmount).toBe("10.0001");
    const refused = await as(t, alice.token).post("/bills").send({ totalAmount: "10.00001", currency });
    expectProblem(refused, 400, "validation_failed");
  });

  it("stores the largest amount the API accepts, to the last digit (the columns hold what the schema allows)", async () => {
    const alice = await user();
    const bill = await createBill(t, alice.token, { totalAmount: "999999999999999.9999", currency: "CLF" });
    expect(bill.totalAmount).toBe("999999999999999.9999");
    expect((await t.db.prisma.bill.findUniqueOrThrow({ where: { id: bill.id } })).totalAmount?.toFixed(4)).toBe("999999999999999.9999");
    const updated = await as(t, alice.token).put(`/bills/${bill.id}`).send({ totalAmount: "999999999999999", currency: "VND" });
    expect(updated.status).toBe(200);
    expect(updated.body.totalAmount).toBe("999999999999999");
  });

  it.each([
    [{ totalAmount: "10.00" }, "currency", "is required when totalAmount is given"],
    [{ totalAmount: "10.001", currency: "USD" }, "totalAmount", "has more than 2 decimal places, the most USD allows"],
    [{ totalAmount: "10.5", currency: "VND" }, "totalAmount", "must be a whole number in VND, which has no minor unit"],
    [{ totalAmount: "0", currency: "USD" }, "totalAmount", 'must be a decimal string greater than zero, such as "12.50"'],
    [{ totalAmount: "-5", currency: "USD" }, "totalAmount", expect.stringContaining("decimal string")],
    [
      { totalAmount: 120.5, currency: "USD" },
      "totalAmount",
      'totalAmount must be a decimal string, not a number: send amounts as decimal strings, e.g. "120.50"',
    ],
    [{ totalAmount: "1000000000000000", currency: "USD" }, "totalAmount", "is too large: at most 15 digits before the point"],
    [{ totalAmount: "1000000000000000.0000", currency: "CLF" }, "totalAmount", "is too large: at most 15 digits before the point"],
    [{ totalAmount: "9".repeat(40), currency: "VND" }, "totalAmount", "is too large: at most 15 digits before the point"],
    [{ currency: "usd" }, "currency", expect.stringContaining("ISO 4217")],
    [{ billDate: "2026-02-30" }, "billDate", "must be a real calendar date"],
    [{ billDate: "20/11/2026" }, "billDate", "must be a date as YYYY-MM-DD"],
    [{ merchantName: "" }, "merchantName", "must not be empty"],
    [{ note: "x".repeat(1001) }, "note", "must be at most 1000 characters"],
    [{ status: "completed" }, "status", "is not a field that can be set here"],
    [{ creatorUserId: "mallory" }, "creatorUserId", "is not a field that can be set here"],
    [{ id: "01a207c9-a789-71bc-bab2-18da81c8123d" }, "id", "is not a field that can be set here"],
  ])("refuses %j with 400 naming %s", async (body, field, message) => {
    const alice = await user();
    const res = await as(t, alice.token).post("/bills").send(body);
    expectProblem(res, 400, "validation_failed");
    expect(res.body.issues).toContainEqual(expect.objectContaining({ path: field, message }));
    expect(res.body.detail).toContain(field);
    expect(await t.db.prisma.bill.count({ where: { creatorUserId: alice.id } })).toBe(0);
  });

  it.each([
    ["no token", undefined, "missing_token"],
    ["a non-bearer scheme", "Basic YWxpY2U6cHc=", "invalid_token"],
    ["a garbage token", "Bearer abc.def.ghi", "invalid_token"],
  ])("refuses %s with 401", async (_label, header, code) => {
    const req = request(t.app).post(`${API}/bills`).send({});
    const res = header ? await req.set("Authorization", header) : await req;
    expectProblem(res, 401, code);
    expect(res.headers["www-authenticate"]).toMatch(/^Bearer/);
  });
});

describe("Idempotency-Key on POST /bills", () => {
  it("returns the first response to a retry and creates one bill", async () => {
    const alice = await user();
    const body = { totalAmount: "42.00", currency: "EUR" };
    const first = await as(t, alice.token).post("/bills").set("Idempotency-Key", "create-1").send(body);
    const retry = await as(t, alice.token).post("/bills").set("Idempotency-Key", "create-1").send({ currency: "EUR", totalAmount: "42.00" });
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    expect(await t.db.prisma.bill.count({ where: { creatorUserId: alice.id } })).toBe(1);
  });

  it("refuses a reused key with a different body", async () => {
    const alice = await user();
    await as(t, alice.token).post("/bills").set("Idempotency-Key", "k").send({ totalAmount: "1.00", currency: "USD" });
    const res = await as(t, alice.token).post("/bills").set("Idempotency-Key", "k").send({ totalAmount: "2.00", currency: "USD" });
    expectProblem(res, 422, "idempotency_key_reused");
    expect(await t.db.prisma.bill.count({ where: { creatorUserId: alice.id } })).toBe(1);
  });

  it("scopes keys to the user: the same key from two users makes two bills", async () => {
    const [alice, bob] = [await user(), await user()];
    const a = await as(t, alice.token).post("/bills").set("Idempotency-Key", "shared").send({});
    const b = await as(t, bob.token).post("/bills").set("Idempotency-Key", "shared").send({});
    expect(a.body.id).not.toBe(b.body.id);
    expect(b.body.creatorUserId).toBe(bob.id);
  });

  it("forgets a key after its time to live", async () => {
    const alice = await user();
    const first = await as(t, alice.token).post("/bills").set("Idempotency-Key", "old").send({});
    clock.advance(25 * 3_600_000);
    const later = await as(t, alice.token).post("/bills").set("Idempotency-Key", "old").send({ note: "new" });
    expect(later.status).toBe(201);
    expect(later.body.id).not.toBe(first.body.id);
  });

  it("creates one bill when the same request races itself", async () => {
    const alice = await user();
    const results = await Promise.all(Array.from({ length: 5 }, () => as(t, alice.token).post("/bills").set("Idempotency-Key", "race").send({ note: "once" })));
    // Every request gets the one bill (replayed), or 409 if it asked while the first was in flight.
    for (const r of results) expect([201, 409]).toContain(r.status);
    const created = results.filter((r) => r.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(new Set(created.map((r) => r.body.id)).size).toBe(1);
    const retry = await as(t, alice.token).post("/bills").set("Idempotency-Key", "race").send({ note: "once" });
    expect(retry.body.id).toBe(created[0].body.id);
    expect(await t.db.prisma.bill.count({ where: { creatorUserId: alice.id } })).toBe(1);
  });

  it("refuses a malformed key", async () => {
    const alice = await user();
    const res = await as(t, alice.token).post("/bills").set("Idempotency-Key", "x".repeat(300)).send({});
    expectProblem(res, 400, "validation_failed");
    expect(res.body.issues[0].path).toBe("headers.idempotency-key");
  });
});

describe("GET /bills", () => {
  it("lists only the caller's bills, newest first, a page at a time", async () => {
    const [alice, bob] = [await user(), await user()];
    const created = [];
    for (let i = 0; i < 5; i += 1) {
      clock.advance(1000);
      created.push((await createBill(t, alice.token, { note: `bill ${i}` })).id);
    }
    await createBill(t, bob.token);
    const newestFirst = [...created].reverse();

    const page1 = await as(t, alice.token).get("/bills?limit=2");
    expect(page1.status).toBe(200);
    expect(page1.body.items.map((b: { id: string }) => b.id)).toEqual(newestFirst.slice(0, 2));
    const page2 = await as(t, alice.token).get(`/bills?limit=2&cursor=${page1.body.nextCursor}`);
    expect(page2.body.items.map((b: { id: string }) => b.id)).toEqual(newestFirst.slice(2, 4));
    const page3 = await as(t, alice.token).get(`/bills?limit=2&cursor=${page2.body.nextCursor}`);
    expect(page3.body.items.map((b: { id: string }) => b.id)).toEqual(newestFirst.slice(4));
    expect(page3.body.nextCursor).toBeNull();
  });

  it("pages correctly through bills created in the same millisecond", async () => {
    const alice = await user();
    const ids = [];
    for (let i = 0; i < 4; i += 1) ids.push((await createBill(t, alice.token)).id);
    const seen: string[] = [];
    let cursor = "";
    do {
      const res = await as(t, alice.token).get(`/bills?limit=3${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...res.body.items.map((b: { id: string }) => b.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen.sort()).toEqual(ids.sort());
  });

  it("filters by one or several statuses", async () => {
    const alice = await user();
    const open = await createBill(t, alice.token);
    const cancelled = await createBill(t, alice.token);
    await as(t, alice.token).delete(`/bills/${cancelled.id}`);
    const onlyCancelled = await as(t, alice.token).get("/bills?status=cancelled");
    expect(onlyCancelled.body.items.map((b: { id: string }) => b.id)).toEqual([cancelled.id]);
    const both = await as(t, alice.token).get("/bills?status=created,cancelled");
    expect(both.body.items).toHaveLength(2);
    const onlyCreated = await as(t, alice.token).get("/bills?status=created");
    expect(onlyCreated.body.items.map((b: { id: string }) => b.id)).toEqual([open.id]);
  });

  it.each([
    ["status=paid", "query.status"],
    ["limit=0", "query.limit"],
    ["limit=101", "query.limit"],
    ["cursor=not-a-cursor", "query.cursor"],
    ["sort=asc", "query.sort"],
  ])("refuses ?%s with 400 naming %s", async (qs, field) => {
    const alice = await user();
    const res = await as(t, alice.token).get(`/bills?${qs}`);
    expectProblem(res, 400);
    expect(res.body.issues).toContainEqual(expect.objectContaining({ path: field }));
  });
});

describe("GET /bills/:billId", () => {
  it("returns the bill with its participants and totals", async () => {
    const alice = await user();
    const bill = await createBill(t, alice.token, { totalAmount: "90.00" });
    await insertParticipant(t, bill.id, { name: "Alice", amountToPay: "30", paymentStatus: "paid" });
    await insertParticipant(t, bill.id, { name: "Bob", amountToPay: "60" });
    const res = await as(t, alice.token).get(`/bills/${bill.id}`);
    expect(res.status).toBe(200);
    expect(res.body.participants.map((p: { name: string; amountToPay: string }) => [p.name, p.amountToPay])).toEqual([
      ["Alice", "30.00"],
      ["Bob", "60.00"],
    ]);
    expect(res.body.totals).toEqual({
      participantCount: 2,
      assignedAmount: "90.00",
      paidAmount: "30.00",
      unpaidAmount: "60.00",
      receivedAmount: "30.00",
      refundDueAmount: "0.00",
    });
  });

  it("answers 404 to another user, never the bill", async () => {
    const [alice, mallory] = [await user(), await user()];
    const bill = await createBill(t, alice.token);
    const res = await as(t, mallory.token).get(`/bills/${bill.id}`);
    expectProblem(res, 404, "bill_not_found");
    expect(res.body).not.toHaveProperty("merchantName");
    expect(res.body).not.toHaveProperty("participants");
  });

  it("lets a bank-customer participant read the bill but not change or cancel it", async () => {
    const [alice, bob] = [await user(), await user()];
    const bill = await createBill(t, alice.token);
    await insertParticipant(t, bill.id, { name: "Bob", userId: bob.id });
    expect((await as(t, bob.token).get(`/bills/${bill.id}`)).status).toBe(200);
    expectProblem(await as(t, bob.token).put(`/bills/${bill.id}`).send({ note: "mine now" }), 404);
    expectProblem(await as(t, bob.token).delete(`/bills/${bill.id}`), 404);
    const row = await t.db.prisma.bill.findUniqueOrThrow({ where: { id: bill.id } });
    expect(row).toMatchObject({ status: "created", note: null });
  });

  it("answers 400 for an id that is not a UUID, 404 for an unknown one", async () => {
    const alice = await user();
    const bad = await as(t, alice.token).get("/bills/123");
    expectProblem(bad, 400);
    expect(bad.body.issues[0].path).toBe("params.billId");
    expectProblem(await as(t, alice.token).get("/bills/01a207c9-a789-71bc-bab2-18da81c8123d"), 404);
  });
});

describe("PUT /bills/:billId", () => {
  it("changes the given details and leaves the rest", async () => {
    const alice = await user();
    const bill = await createBill(t, alice.token, { note: "before" });
    const res = await as(t, alice.token).put(`/bills/${bill.id}`).send({ merchantName: "Bun Cha", totalAmount: "80.5", note: null });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ merchantName: "Bun Cha", totalAmount: "80.50", note: null, currency: "USD", billDate: "2026-11-20" });
  });

  it("sets the total and currency of an empty bill together", async () => {
    const alice = await user();
    const bill = await createBill(t, alice.token, { totalAmount: undefined, currency: undefined });
    expectProblem(await as(t, alice.token).put(`/bills/${bill.id}`).send({ totalAmount: "10.00" }), 400, "validation_failed");
    const ok = await as(t, alice.token).put(`/bills/${bill.id}`).send({ totalAmount: "100000", currency: "VND" });
    expect(ok.body).toMatchObject({ totalAmount: "100000", currency: "VND" });
  });

  it("refuses a total too large to store with 400 naming totalAmount, and changes nothing", async () => {
    const alice = await user();
    const bill = await createBill(t, alice.token, { totalAmount: "10.00", currency: "USD" });
    const res = await as(t, alice.token).put(`/bills/${bill.id}`).send({ totalAmount: "1000000000000000" });
    expectProblem(res, 400, "validation_failed");
    expect(res.body.detail).toBe("totalAmount: is too large: at most 15 digits before the point");
    expect((await t.db.prisma.bill.findUniqueOrThrow({ where: { id: bill.id } })).totalAmount?.toFixed(2)).toBe("10.00");
  });

  it("checks the total against a new currency's minor units", async () => {
    const alice = await user();
    const bill = await createBill(t, alice.token, { totalAmount: "10.50" });
    const res = await as(t, alice.token).put(`/bills/${bill.id}`).send({ currency: "JPY" });
    expectProblem(res, 400);
    expect(res.body.issues[0]).toMatchObject({ path: "totalAmount", message: expect.stringContaining("JPY") });
  });

  it("refuses an empty change and unknown fields", async () => {
    const alice = await user();
    const bill = await createBill(t, alice.token);
    expectProblem(await as(t, alice.token).put(`/bills/${bill.id}`).send({}), 400);
    const res = await as(t, alice.token).put(`/bills/${bill.id}`).send({ status: "completed" });
    expectProblem(res, 400);
    expect(res.body.issues[0].path).toBe("status");
  });

  it("marks an existing split as needing a new one when the total changes", async () => {
    const alice = await user();
    const bill = await createBill(t, alice.token);
    await t.db.prisma.bill.update({ where: { id: bill.id }, data: { splitMethod: "custom_amount" } });
    const res = await as(t, alice.token).put(`/bills/${bill.id}`).send({ totalAmount: "120.00" });
    expect(res.body.needsResplit).toBe(true);
    const same = await createBill(t, alice.token);
    await t.db.prisma.bill.update({ where: { id: same.id }, data: { splitMethod: "custom_amount" } });
    expect((await as(t, alice.token).put(`/bills/${same.id}`).send({ totalAmount: "100.0", note: "n" })).body.needsResplit).toBe(false);
  });

  it("changes the total while payment requests are out (the split follows), but not the currency once money arrived", async () => {
    const alice = await user();
    const bill = await createBill(t, alice.token);
    await t.db.prisma.bill.update({ where: { id: bill.id }, data: { status: "active" } });
    const res = await as(t, alice.token).put(`/bills/${bill.id}`).send({ totalAmount: "1.00" });
    expect(res.status).toBe(200);
    expect(res.body.totalAmount).toBe("1.00");
    expect((await as(t, alice.token).put(`/bills/${bill.id}`).send({ note: "paid by card" })).status).toBe(200);
    expectProblem(await as(t, alice.token).put(`/bills/${bill.id}`).send({ totalAmount: null }), 409, "bill_total_required");
  });

  it.each(["completed", "cancelled"] as const)("refuses any change to a %s bill with 409", async (status) => {
    const alice = await user();
    const bill = await createBill(t, alice.token);
    await t.db.prisma.bill.update({ where: { id: bill.id }, data: { status } });
    expectProblem(await as(t, alice.token).put(`/bills/${bill.id}`).send({ note: "late" }), 409, "bill_closed");
    expect((await t.db.prisma.bill.findUniqueOrThrow({ where: { id: bill.id } })).note).toBeNull();
  });

  it("answers 404 to another user and changes nothing", async () => {
    const [alice, mallory] = [await user(), await user()];
    const bill = await createBill(t, alice.token);
    expectProblem(await as(t, mallory.token).put(`/bills/${bill.id}`).send({ note: "hacked" }), 404);
    expect((await t.db.prisma.bill.findUniqueOrThrow({ where: { id: bill.id } })).note).toBeNull();
  });
});

describe("DELETE /bills/:billId", () => {
  it("cancels the bill, keeps the row, closes open payment requests and records the change", async () => {
    const alice = await user();
    const bill = await createBill(t, alice.token);
    const participant = await insertParticipant(t, bill.id, { name: "Bob", amountToPay: "50" });
    await t.db.prisma.paymentRequest.create({
      data: {
        id: uuidv7(),
        reference: `T${Date.now()}`,
        billId: bill.id,
        participantId: participant.id,
        amount: "50",
        currency: "USD",
        channel: "payment_link",
        status: "sent",
        expiryDate: new Date("2026-12-01T00:00:00Z"),
      },
    });
    const res = await as(t, alice.token).delete(`/bills/${bill.id}`).send({ reason: "wrong restaurant" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "cancelled", cancelledAt: expect.any(String) });
    expect(await t.db.prisma.bill.count({ where: { id: bill.id } })).toBe(1);
    expect((await t.db.prisma.paymentRequest.findFirstOrThrow({ where: { billId: bill.id } })).status).toBe("cancelled");
    expect((await history(bill.id)).map((h) => [h.entityType, h.previousStatus, h.newStatus, h.changedBy, h.reason])).toEqual([
      ["bill", null, "created", alice.id, "bill created"],
      ["bill", "created", "cancelled", alice.id, "cancelled by the creator: wrong restaurant"],
      ["payment_request", "sent", "cancelled", alice.id, expect.stringMatching(/: the bill was cancelled$/)],
    ]);
  });

  it("cancels an active bill", async () => {
    const alice = await user();
    const bill = await createBill(t, alice.token);
    await t.db.prisma.bill.update({ where: { id: bill.id }, data: { status: "active" } });
    expect((await as(t, alice.token).delete(`/bills/${bill.id}`)).body.status).toBe("cancelled");
  });

  it.each(["completed", "cancelled"] as const)("refuses to cancel a %s bill with 409 and writes no history", async (status) => {
    const alice = await user();
    const bill = await createBill(t, alice.token);
    await t.db.prisma.bill.update({ where: { id: bill.id }, data: { status } });
    expectProblem(await as(t, alice.token).delete(`/bills/${bill.id}`), 409, "illegal_status_transition");
    expect(await history(bill.id)).toHaveLength(1);
  });

  it("answers 404 to another user and leaves the bill open", async () => {
    const [alice, mallory] = [await user(), await user()];
    const bill = await createBill(t, alice.token);
    expectProblem(await as(t, mallory.token).delete(`/bills/${bill.id}`), 404);
    expect((await t.db.prisma.bill.findUniqueOrThrow({ where: { id: bill.id } })).status).toBe("created");
  });

  it("cancels once when two cancels race", async () => {
    const alice = await user();
    const bill = await createBill(t, alice.token);
    const results = await Promise.all([as(t, alice.token).delete(`/bills/${bill.id}`), as(t, alice.token).delete(`/bills/${bill.id}`)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect((await history(bill.id)).filter((h) => h.newStatus === "cancelled")).toHaveLength(1);
  });
});
