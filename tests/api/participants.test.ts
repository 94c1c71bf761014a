import { SEEDED_BANK_USERS } from "../../src/adapters/directory/user-directory";
import { createBill, insertParticipant } from "../support/builders";
import { as, expectProblem } from "../support/http";
import { createTestApp, newUserId, type TestApp } from "../support/test-app";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const alice = SEEDED_BANK_USERS[0];

async function user() {
  const id = newUserId();
  return { id, token: await t.tokenFor(id) };
}

async function add(token: string, billId: string, body: Record<string, unknown>) {
  const res = await as(t, token).post(`/bills/${billId}/participants`).send(body);
  if (res.status !== 201) throw new Error(`add failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; amountToPay: string | null; paymentStatus: string; isCreator: boolean };
}

/** The creator records an offline payment for them (the bill must be split). */
async function markPaid(token: string, billId: string, id: string) {
  const res = await as(t, token).put(`/bills/${billId}/participants/${id}/mark-as-paid`).send({ method: "cash" });
  if (res.status !== 200) throw new Error(`mark-as-paid: ${res.status} ${JSON.stringify(res.body)}`);
}

describe("POST /bills/:billId/participants", () => {
  it("adds a person who is not a bank customer", async () => {
    const me = await user();
    const bill = await createBill(t, me.token);
    const res = await as(t, me.token).post(`/bills/${bill.id}/participants`).send({ name: "Bob", phone: "+84912345678" });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: "Bob", phone: "+84912345678", userId: null, isBankCustomer: false, isCreator: false, paymentStatus: "pending" });
    const history = await t.db.prisma.statusHistory.findMany({ where: { participantId: res.body.id } });
    expect(history).toEqual([expect.objectContaining({ previousStatus: null, newStatus: "pending", changedBy: me.id })]);
  });

  it.each([
    ["phone", { phone: alice.phone }],
    ["email", { email: alice.email!.toUpperCase() }],
    ["bank user id", { userId: alice.userId }],
  ])("recognises a bank customer by %s", async (_how, contact) => {
    const me = await user();
    const bill = await createBill(t, me.token);
    const p = await add(me.token, bill.id, { name: "Alice", ...contact });
    expect(p).toMatchObject({ userId: alice.userId, isBankCustomer: true });
  });

  it("adds the creator, whose own share counts as paid", async () => {
    const me = await user();
    const bill = await createBill(t, me.token);
    const p = await add(me.token, bill.id, { name: "Me", userId: me.id });
    expect(p).toMatchObject({ isCreator: true, isBankCustomer: true, paymentStatus: "paid" });
  });

  it.each(["o~o@example.com", "a!b@example.com", "x#$%&'*+/=?^_`{|}-y@example.com", "first.last@mail.xn--p1ai"])(
    "accepts the RFC 5321 address %s",
    async (email) => {
      const me = await user();
      const bill = await createBill(t, me.token);
      const res = await as(t, me.token).post(`/bills/${bill.id}/participants`).send({ name: "X", email });
      expect({ status: res.status, email: res.body.email }).toEqual({ status: 201, email });
    },
  );

  it.each(["ü@example.com", "a@bücher.example"])("refuses the internationalised address %s, saying why (docs/api-conventions.md)", async (email) => {
    const me = await user();
    const bill = await createBill(t, me.token);
    const res = await as(t, me.token).post(`/bills/${bill.id}/participants`).send({ name: "X", email });
    expectProblem(res, 400, "validation_failed");
    expect(res.body.issues).toEqual([
      expect.objectContaining({ path: "email", message: expect.stringMatching(/internationalised addresses \(RFC 6531\) are not accepted/) }),
    ]);
  });

  it.each([
    [{ phone: "0912345678" }, "phone"],
    [{ name: "   " }, "name"],
    [{ email: "not-an-email" }, "email"],
    [{ name: "" }, "name"],
    [{ name: "X", amountToPay: "10" }, "amountToPay"],
    [{ name: "X", paymentStatus: "paid" }, "paymentStatus"],
  ])("refuses %j with 400 naming %s", async (body, field) => {
    const me = await user();
    const bill = await createBill(t, me.token);
    const res = await as(t, me.token)
      .post(`/bills/${bill.id}/participants`)
      .send({ name: "X", ...body });
    expectProblem(res, 400);
    expect(res.body.issues.map((i: { path: string }) => i.path)).toContain(field);
  });

  it("refuses an unknown bank user id with 422", async () => {
    const me = await user();
    const bill = await createBill(t, me.token);
    expectProblem(await as(t, me.token).post(`/bills/${bill.id}/participants`).send({ name: "Z", userId: "nobody" }), 422, "unknown_bank_user");
  });

  it("refuses the same bank customer or phone twice with 409", async () => {
    const me = await user();
    const bill = await createBill(t, me.token);
    await add(me.token, bill.id, { name: "Alice", userId: alice.userId });
    expectProblem(await as(t, me.token).post(`/bills/${bill.id}/participants`).send({ name: "Alice again", phone: alice.phone }), 409, "duplicate_participant");
    await add(me.token, bill.id, { name: "Bob", phone: "+84912345678" });
    expectProblem(await as(t, me.token).post(`/bills/${bill.id}/participants`).send({ name: "Bobby", phone: "+84912345678" }), 409, "duplicate_participant");
    expect(await t.db.prisma.participant.count({ where: { billId: bill.id } })).toBe(2);
  });

  it.each(["completed", "cancelled"] as const)("refuses changes on a %s bill with 409", async (status) => {
    const me = await user();
    const bill = await createBill(t, me.token);
    const p = await add(me.token, bill.id, { name: "Bob" });
    await t.db.prisma.bill.update({ where: { id: bill.id }, data: { status } });
    expectProblem(await as(t, me.token).post(`/bills/${bill.id}/participants`).send({ name: "Carl" }), 409, "bill_closed");
    expectProblem(await as(t, me.token).put(`/bills/${bill.id}/participants/${p.id}`).send({ name: "B" }), 409, "bill_closed");
    expectProblem(await as(t, me.token).delete(`/bills/${bill.id}/participants/${p.id}`), 409, "bill_closed");
  });

  it('names a missing required field in plain words: "name is required"', async () => {
    const me = await user();
    const bill = await createBill(t, me.token);
    const res = await as(t, me.token).post(`/bills/${bill.id}/participants`).send({ phone: "+15550001111" });
    expectProblem(res, 400, "validation_failed");
    expect(res.body.issues).toContainEqual(expect.objectContaining({ path: "name", message: "name is required" }));
    expect(res.body.detail).toBe("name is required");
  });

  it("answers 404 for someone else's bill and adds no one", async () => {
    const [me, mallory] = [await user(), await user()];
    const bill = await createBill(t, me.token);
    expectProblem(await as(t, mallory.token).post(`/bills/${bill.id}/participants`).send({ name: "Eve" }), 404);
    expect(await t.db.prisma.participant.count({ where: { billId: bill.id } })).toBe(0);
  });
});

describe("keeping the split true", () => {
  it("recomputes an equal split when someone joins or leaves", async () => {
    const me = await user();
    const bill = await createBill(t, me.token, { totalAmount: "100.00" });
    const a = await add(me.token, bill.id, { name: "A" });
    const b = await add(me.token, bill.id, { name: "B" });
    await as(t, me.token).post(`/bills/${bill.id}/split/equal`).send({});
    const c = await add(me.token, bill.id, { name: "C" });
    let list = (await as(t, me.token).get(`/bills/${bill.id}/participants`)).body.items;
    expect(list.map((p: { amountToPay: string }) => p.amountToPay).sort()).toEqual(["33.33", "33.33", "33.34"]);
    expect((await as(t, me.token).delete(`/bills/${bill.id}/participants/${c.id}`)).status).toBe(204);
    list = (await as(t, me.token).get(`/bills/${bill.id}/participants`)).body.items;
    expect(list.map((p: { id: string; amountToPay: string }) => [p.id, p.amountToPay])).toEqual([
      [a.id, "50.00"],
      [b.id, "50.00"],
    ]);
    expect((await as(t, me.token).get(`/bills/${bill.id}`)).body.needsResplit).toBe(false);
  });

  it("marks a custom or percentage split as needing a new split when the people change", async () => {
    const me = await user();
    const bill = await createBill(t, me.token, { totalAmount: "100.00" });
    const a = await add(me.token, bill.id, { name: "A" });
    const b = await add(me.token, bill.id, { name: "B" });
    await as(t, me.token)
      .post(`/bills/${bill.id}/split/percentage`)
      .send({
        percentages: [
          { participantId: a.id, percentage: "60" },
          { participantId: b.id, percentage: "40" },
        ],
      });
    await add(me.token, bill.id, { name: "C" });
    expect((await as(t, me.token).get(`/bills/${bill.id}`)).body).toMatchObject({ splitMethod: "percentage", needsResplit: true });
  });

  it("recomputes an equal split when the total changes", async () => {
    const me = await user();
    const bill = await createBill(t, me.token, { totalAmount: "100.00" });
    await add(me.token, bill.id, { name: "A" });
    await add(me.token, bill.id, { name: "B" });
    await as(t, me.token).post(`/bills/${bill.id}/split/equal`).send({});
    const res = await as(t, me.token).put(`/bills/${bill.id}`).send({ totalAmount: "90.00" });
    expect(res.body.participants.map((p: { amountToPay: string }) => p.amountToPay)).toEqual(["45.00", "45.00"]);
    expect(res.body.totals.assignedAmount).toBe("90.00");
  });

  it("adds someone to an equal split after somebody paid: the split is recomputed and the excess paid is refund due", async () => {
    const me = await user();
    const bill = await createBill(t, me.token, { totalAmount: "100.00" });
    const a = await add(me.token, bill.id, { name: "A" });
    await add(me.token, bill.id, { name: "B" });
    await as(t, me.token).post(`/bills/${bill.id}/split/equal`).send({});
    await markPaid(me.token, bill.id, a.id);
    const res = await as(t, me.token).post(`/bills/${bill.id}/participants`).send({ name: "C" });
    expect(res.status).toBe(201);
    const status = (await as(t, me.token).get(`/bills/${bill.id}/status`)).body;
    const byName = Object.fromEntries(status.participants.map((p: { name: string }) => [p.name, p]));
    expect(status.participants.map((p: { amountToPay: string }) => p.amountToPay).sort()).toEqual(["33.33", "33.33", "33.34"]);
    expect(byName.A).toMatchObject({ paidAmount: "50.00", outstandingAmount: "0.00", paymentStatus: "paid" });
    expect(byName.A.refundDue).toBe((50 - Number(byName.A.amountToPay)).toFixed(2));
    expect(status.totals).toMatchObject({ receivedAmount: "50.00", refundDueAmount: byName.A.refundDue });
  });
});

describe("PUT and DELETE /bills/:billId/participants/:participantId", () => {
  it("changes name and contact, and finds a bank customer by a new phone", async () => {
    const me = await user();
    const bill = await createBill(t, me.token);
    const p = await add(me.token, bill.id, { name: "Al" });
    const res = await as(t, me.token).put(`/bills/${bill.id}/participants/${p.id}`).send({ name: "Alice", phone: alice.phone });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: "Alice", phone: alice.phone, userId: alice.userId, isBankCustomer: true });
    const cleared = await as(t, me.token).put(`/bills/${bill.id}/participants/${p.id}`).send({ email: null });
    expect(cleared.body.email).toBeNull();
  });

  it("refuses a phone that another participant has", async () => {
    const me = await user();
    const bill = await createBill(t, me.token);
    await add(me.token, bill.id, { name: "A", phone: "+84911111111" });
    const b = await add(me.token, bill.id, { name: "B" });
    expectProblem(await as(t, me.token).put(`/bills/${bill.id}/participants/${b.id}`).send({ phone: "+84911111111" }), 409, "duplicate_participant");
  });

  it("removes someone who has paid: a tombstone owed back all they paid, kept in the reports and the history", async () => {
    const me = await user();
    const bill = await createBill(t, me.token);
    const a = await add(me.token, bill.id, { name: "A" });
    await add(me.token, bill.id, { name: "B" });
    const c = await add(me.token, bill.id, { name: "C" });
    // Before any money: C can go (the equal split is recomputed), and the history keeps C's name.
    expect((await as(t, me.token).delete(`/bills/${bill.id}/participants/${c.id}`)).status).toBe(204);
    expect((await as(t, me.token).post(`/bills/${bill.id}/split/equal`).send({})).status).toBe(200);
    await markPaid(me.token, bill.id, a.id);
    // After money arrived A can still be removed: the 50.00 A paid is owed back, B now owes it all.
    expect((await as(t, me.token).delete(`/bills/${bill.id}/participants/${a.id}`)).status).toBe(204);
    const details = (await as(t, me.token).get(`/bills/${bill.id}`)).body;
    expect(details.participants.map((p: { name: string; amountToPay: string }) => [p.name, p.amountToPay])).toEqual([["B", "100.00"]]);
    expect(details.totals).toMatchObject({ participantCount: 1, receivedAmount: "50.00", refundDueAmount: "50.00" });
    const status = (await as(t, me.token).get(`/bills/${bill.id}/status`)).body;
    expect(status.participants.map((p: { name: string; removedAt: string | null; refundDue: string }) => [p.name, p.removedAt !== null, p.refundDue])).toEqual([
      ["A", true, "50.00"],
      ["B", false, "0.00"],
      ["C", true, "0.00"],
    ]);
    const rows = await t.db.prisma.participant.findMany({ where: { billId: bill.id }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
    expect(rows.map((p) => [p.name, p.removedAt !== null, p.removedReason])).toEqual([
      ["A", true, "removed_by_creator"],
      ["B", false, null],
      ["C", true, "removed_by_creator"],
    ]);
    const history = await t.db.prisma.statusHistory.findMany({
      where: { billId: bill.id, entityType: "participant" },
      orderBy: [{ createdAt: "asc" }, { id: "asc" }],
    });
    expect(history.map((h) => [h.participantName, h.newStatus, h.reasonCode])).toEqual([
      ["A", "pending", "added_by_creator"],
      ["B", "pending", "added_by_creator"],
      ["C", "pending", "added_by_creator"],
      ["C", "removed", "removed_by_creator"],
      ["A", "paid", "marked_paid"],
      ["A", "removed", "removed_by_creator"],
    ]);
    expect(history[3]).toMatchObject({ participantId: c.id, reason: "C removed by the creator" });
    expect(history[5].reason).toBe("A removed by the creator; 50.00 USD they paid is due back to them");
    // A removed person can be added again (a new participant; the tombstone stays).
    expect((await as(t, me.token).post(`/bills/${bill.id}/participants`).send({ name: "C" })).status).toBe(201);
  });

  it("drops the bank-customer link once neither phone nor email matches the bank's record, and links again when one does", async () => {
    const me = await user();
    const bill = await createBill(t, me.token);
    const p = await add(me.token, bill.id, { name: "Alice", phone: alice.phone });
    expect(p).toMatchObject({ userId: alice.userId, isBankCustomer: true });
    // The directory also gave her email: while either still matches, she is still that customer.
    expect((p as unknown as { email: string }).email).toBe(alice.email);
    const phoneOnly = await as(t, me.token).put(`/bills/${bill.id}/participants/${p.id}`).send({ phone: "+84999999999" });
    expect(phoneOnly.body).toMatchObject({ userId: alice.userId, isBankCustomer: true });
    const res = await as(t, me.token).put(`/bills/${bill.id}/participants/${p.id}`).send({ email: "not-alice@example.com" });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ phone: "+84999999999", email: "not-alice@example.com", userId: null, isBankCustomer: false });
    // A change that still matches the bank's record keeps it.
    const back = await as(t, me.token).put(`/bills/${bill.id}/participants/${p.id}`).send({ phone: alice.phone });
    expect(back.body).toMatchObject({ userId: alice.userId, isBankCustomer: true });
    const renamed = await as(t, me.token).put(`/bills/${bill.id}/participants/${p.id}`).send({ email: "someone@example.com" });
    expect(renamed.body).toMatchObject({ userId: alice.userId, isBankCustomer: true });
  });

  it("answers 404 for a participant of another bill", async () => {
    const me = await user();
    const [one, two] = [await createBill(t, me.token), await createBill(t, me.token)];
    const p = await add(me.token, one.id, { name: "A" });
    expectProblem(await as(t, me.token).put(`/bills/${two.id}/participants/${p.id}`).send({ name: "B" }), 404, "participant_not_found");
    expectProblem(await as(t, me.token).delete(`/bills/${two.id}/participants/${p.id}`), 404);
  });
});

describe("GET participants and unpaid", () => {
  it("lists who still owes money and how much, without the creator or those who paid", async () => {
    const me = await user();
    const bill = await createBill(t, me.token, { totalAmount: "90.00" });
    await add(me.token, bill.id, { name: "Me", userId: me.id });
    const a = await add(me.token, bill.id, { name: "A" });
    await add(me.token, bill.id, { name: "B" });
    await as(t, me.token).post(`/bills/${bill.id}/split/equal`).send({});
    await markPaid(me.token, bill.id, a.id);
    const res = await as(t, me.token).get(`/bills/${bill.id}/participants/unpaid`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ currency: "USD", unpaidAmount: "30.00" });
    expect(res.body.items.map((p: { name: string; amountOwed: string }) => [p.name, p.amountOwed])).toEqual([["B", "30.00"]]);
    const details = await as(t, me.token).get(`/bills/${bill.id}`);
    expect(details.body.totals).toEqual({
      participantCount: 3,
      assignedAmount: "90.00",
      paidAmount: "60.00",
      unpaidAmount: "30.00",
      receivedAmount: "30.00",
      refundDueAmount: "0.00",
    });
  });

  it("lets a bank-customer participant read, and nobody else", async () => {
    const [me, bob, mallory] = [await user(), await user(), await user()];
    const bill = await createBill(t, me.token);
    await insertParticipant(t, bill.id, { name: "Bob", userId: bob.id });
    expect((await as(t, bob.token).get(`/bills/${bill.id}/participants`)).status).toBe(200);
    expectProblem(await as(t, bob.token).post(`/bills/${bill.id}/participants`).send({ name: "X" }), 404);
    expectProblem(await as(t, mallory.token).get(`/bills/${bill.id}/participants`), 404);
    expectProblem(await as(t, mallory.token).get(`/bills/${bill.id}/participants/unpaid`), 404);
  });
});
