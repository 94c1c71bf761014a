import Decimal from "decimal.js";
import { createBill } from "../support/builders";
import { as, expectProblem } from "../support/http";
import { createTestApp, newUserId, type TestApp } from "../support/test-app";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

async function billWith(names: string[], bill: Record<string, unknown> = {}) {
  const id = newUserId();
  const token = await t.tokenFor(id);
  const b = await createBill(t, token, bill);
  const people: { id: string; name: string }[] = [];
  for (const name of names) {
    const res = await as(t, token)
      .post(`/bills/${b.id}/participants`)
      .send(name === "me" ? { name, userId: id } : { name });
    people.push(res.body);
  }
  return { token, billId: b.id, people, userId: id };
}

const stored = async (billId: string) =>
  (await t.db.prisma.participant.findMany({ where: { billId }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] })).map((p) => [
    p.name,
    p.amountToPay?.toString() ?? null,
  ]);

describe("POST /bills/:billId/split/*", () => {
  it("equal: stores the method and every amount, summing to the total", async () => {
    const { token, billId } = await billWith(["A", "B", "C"]);
    const res = await as(t, token).post(`/bills/${billId}/split/equal`).send({});
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ billId, method: "equal", currency: "USD", totalAmount: "100.00", saved: true });
    expect(res.body.allocations.map((a: { amountToPay: string }) => a.amountToPay).sort()).toEqual(["33.33", "33.33", "33.34"]);
    expect((await t.db.prisma.bill.findUniqueOrThrow({ where: { id: billId } })).splitMethod).toBe("equal");
    const total = (await stored(billId)).reduce((sum, [, amount]) => sum.plus(amount as string), new Decimal(0));
    expect(total.toFixed(2)).toBe("100.00");
  });

  it("equal: running it again with nothing changed moves no cent", async () => {
    const { token, billId } = await billWith(["A", "B", "C", "D", "E", "F", "G"]);
    await as(t, token).post(`/bills/${billId}/split/equal`).send({});
    const first = await stored(billId);
    await as(t, token).post(`/bills/${billId}/split/equal`).send({});
    expect(await stored(billId)).toEqual(first);
  });

  it("custom-amount: stores the amounts; 422 with the difference when they do not sum", async () => {
    const { token, billId, people } = await billWith(["A", "B"]);
    const bad = await as(t, token)
      .post(`/bills/${billId}/split/custom-amount`)
      .send({
        amounts: [
          { participantId: people[0].id, amount: "60.00" },
          { participantId: people[1].id, amount: "39.99" },
        ],
      });
    expectProblem(bad, 422, "split_sum_mismatch");
    expect(bad.body).toMatchObject({ detail: "The amounts sum to 99.99 USD, 0.01 short of the total of 100.00", difference: "-0.01" });
    expect(await stored(billId)).toEqual([
      ["A", null],
      ["B", null],
    ]);
    const ok = await as(t, token)
      .post(`/bills/${billId}/split/custom-amount`)
      .send({
        amounts: [
          { participantId: people[0].id, amount: "60.00" },
          { participantId: people[1].id, amount: "40" },
        ],
      });
    expect(ok.status).toBe(200);
    expect(await stored(billId)).toEqual([
      ["A", "60"],
      ["B", "40"],
    ]);
  });

  it("percentage: stores each percentage; 422 unless they sum to 100", async () => {
    const { token, billId, people } = await billWith(["A", "B", "C"]);
    const pct = (values: string[]) => ({ percentages: people.map((p, i) => ({ participantId: p.id, percentage: values[i] })) });
    expectProblem(
      await as(t, token)
        .post(`/bills/${billId}/split/percentage`)
        .send(pct(["33.33", "33.33", "33.33"])),
      422,
      "split_sum_mismatch",
    );
    const ok = await as(t, token)
      .post(`/bills/${billId}/split/percentage`)
      .send(pct(["50", "25.5", "24.5"]));
    expect(ok.body.allocations.map((a: { amountToPay: string; percentage: string }) => [a.amountToPay, a.percentage])).toEqual([
      ["50.00", "50"],
      ["25.50", "25.5"],
      ["24.50", "24.5"],
    ]);
    const row = await t.db.prisma.participant.findUniqueOrThrow({ where: { id: people[1].id } });
    expect(row.percentage?.toString()).toBe("25.5");
  });

  it("shares: divides by weight", async () => {
    const { token, billId, people } = await billWith(["A", "B", "C"], { totalAmount: "100000", currency: "VND" });
    const res = await as(t, token)
      .post(`/bills/${billId}/split/shares`)
      .send({ shares: people.map((p, i) => ({ participantId: p.id, weight: i === 0 ? "2" : "1" })) });
    expect(res.body.allocations.map((a: { amountToPay: string }) => a.amountToPay)).toEqual(["50000", "25000", "25000"]);
  });

  it.each(["CLF", "UYW"])("equal, custom-amount and itemized in %s (4 minor units): stored to the fourth decimal, summing exactly", async (currency) => {
    const { token, billId, people } = await billWith(["A", "B", "C"], { totalAmount: "10.0000", currency });
    const equal = await as(t, token).post(`/bills/${billId}/split/equal`).send({});
    expect(equal.status).toBe(200);
    expect(equal.body.allocations.map((a: { amountToPay: string }) => a.amountToPay).sort()).toEqual(["3.3333", "3.3333", "3.3334"]);
    const sumOf = async () => (await stored(billId)).reduce((sum, [, amount]) => sum.plus(amount as string), new Decimal(0)).toFixed(4);
    expect((await stored(billId)).map(([, amount]) => amount).sort()).toEqual(["3.3333", "3.3333", "3.3334"]);
    expect(await sumOf()).toBe("10.0000");
    const custom = await as(t, token)
      .post(`/bills/${billId}/split/custom-amount`)
      .send({ amounts: people.map((p, i) => ({ participantId: p.id, amount: ["5.0001", "4.9998", "0.0001"][i] })) });
    expect(custom.status).toBe(200);
    expect((await stored(billId)).map(([, amount]) => amount)).toEqual(["5.0001", "4.9998", "0.0001"]);
    const itemized = await as(t, token)
      .post(`/bills/${billId}/split/itemized`)
      .send({ items: [{ amount: "7.0001", participantIds: people.map((p) => p.id) }], extras: { tax: "1.9999", tip: "1.0000" } });
    expect(itemized.status).toBe(200);
    expect(await sumOf()).toBe("10.0000");
    const tooPrecise = await as(t, token)
      .post(`/bills/${billId}/split/custom-amount`)
      .send({ amounts: people.map((p, i) => ({ participantId: p.id, amount: ["5.00001", "4.99999", "0"][i] })) });
    expectProblem(tooPrecise, 400, "validation_failed");
    // Five decimals is more than any currency has: the schema's own bound (4 after the point) refuses it.
    expect(tooPrecise.body.issues[0]).toEqual(expect.objectContaining({ path: "amounts.0.amount", code: "invalid_format" }));
  });

  it("shares: a weight as large as the API accepts is stored, not a 500", async () => {
    const { token, billId, people } = await billWith(["A", "B"]);
    const res = await as(t, token)
      .post(`/bills/${billId}/split/shares`)
      .send({
        shares: [
          { participantId: people[0].id, weight: "999999999999999.9999" },
          { participantId: people[1].id, weight: "0.0001" },
        ],
      });
    expect(res.status).toBe(200);
    const row = await t.db.prisma.participant.findUniqueOrThrow({ where: { id: people[0].id } });
    expect(row.shareWeight?.toFixed(4)).toBe("999999999999999.9999");
  });

  it("itemized: uses the AI's line items and spreads the rest in proportion", async () => {
    const { token, billId, people } = await billWith(["A", "B"]);
    await t.db.prisma.bill.update({
      where: { id: billId },
      data: {
        lineItems: [
          { name: "Pho", amount: "60.00" },
          { name: "Tea", amount: "20.00" },
        ],
      },
    });
    const res = await as(t, token)
      .post(`/bills/${billId}/split/itemized`)
      .send({
        items: [
          { lineItem: 0, participantIds: [people[0].id] },
          { lineItem: 1, participantIds: [people[0].id, people[1].id] },
        ],
      });
    expect(res.status).toBe(200);
    // A: 60 + 10 = 70 of 80 items; B: 10. The other 20.00 splits 70:10 -> 17.50 and 2.50.
    expect(res.body.allocations.map((a: { amountToPay: string }) => a.amountToPay)).toEqual(["87.50", "12.50"]);
    const missing = await as(t, token)
      .post(`/bills/${billId}/split/itemized`)
      .send({ items: [{ lineItem: 5, participantIds: [people[0].id] }] });
    expectProblem(missing, 422, "unknown_line_item");
  });

  it("includes the creator, whose share counts as paid", async () => {
    const { token, billId } = await billWith(["me", "B"]);
    await as(t, token).post(`/bills/${billId}/split/equal`).send({});
    const details = await as(t, token).get(`/bills/${billId}`);
    expect(details.body.totals).toEqual({
      participantCount: 2,
      assignedAmount: "100.00",
      paidAmount: "50.00",
      unpaidAmount: "50.00",
      receivedAmount: "0.00",
      refundDueAmount: "0.00",
    });
    // The creator's "paid" does not lock the split.
    expect((await as(t, token).post(`/bills/${billId}/split/equal`).send({})).status).toBe(200);
  });

  describe("refusals", () => {
    it("a bill without a total: 409 saying to set it or wait for the AI", async () => {
      const { token, billId } = await billWith(["A"], { totalAmount: undefined, currency: undefined });
      const res = await as(t, token).post(`/bills/${billId}/split/equal`).send({});
      expectProblem(res, 409, "bill_total_missing");
      expect(res.body.detail).toMatch(/set totalAmount.*or wait for the AI/);
    });

    it("a bill without participants: 422", async () => {
      const { token, billId } = await billWith([]);
      expectProblem(await as(t, token).post(`/bills/${billId}/split/equal`).send({}), 422, "no_participants");
    });

    it("a malformed body on a bill without participants: 400 about the body, before the bill's state", async () => {
      const { token, billId } = await billWith([]);
      const malformed = await as(t, token)
        .post(`/bills/${billId}/split/shares`)
        .send({ shares: [{ participantId: "0190a6c4-8f3e-7000-8000-000000000000", weight: "abc" }] });
      expectProblem(malformed, 400, "validation_failed");
      const tooPrecise = await as(t, token)
        .post(`/bills/${billId}/split/custom-amount`)
        .send({ amounts: [{ participantId: "0190a6c4-8f3e-7000-8000-000000000000", amount: "1.234" }] });
      expectProblem(tooPrecise, 400, "validation_failed");
      expect(tooPrecise.body.issues).toEqual([expect.objectContaining({ path: "amounts.0.amount", code: "minor_units" })]);
    });

    it("after someone has paid, a new split applies: what they paid stays, beyond their share it is refund due", async () => {
      const { token, billId, people } = await billWith(["A", "B"]);
      await as(t, token).post(`/bills/${billId}/split/equal`).send({});
      expect((await as(t, token).put(`/bills/${billId}/participants/${people[0].id}/mark-as-paid`).send({ method: "cash" })).status).toBe(200);
      const res = await as(t, token)
        .post(`/bills/${billId}/split/custom-amount`)
        .send({
          amounts: [
            { participantId: people[0].id, amount: "10" },
            { participantId: people[1].id, amount: "90" },
          ],
        });
      expect(res.status).toBe(200);
      expect(await stored(billId)).toEqual([
        ["A", "10"],
        ["B", "90"],
      ]);
      const a = (await as(t, token).get(`/bills/${billId}/status`)).body.participants.find((p: { name: string }) => p.name === "A");
      expect(a).toMatchObject({ paidAmount: "50.00", outstandingAmount: "0.00", refundDue: "40.00", paymentStatus: "paid" });
    });

    it("unknown, missing and duplicate participants, negative amounts and extra decimals", async () => {
      const { token, billId, people } = await billWith(["A", "B"]);
      const [a, b] = people.map((p) => p.id);
      const stranger = "01a207c9-a789-71bc-bab2-18da81c8123d";
      const post = (amounts: { participantId: string; amount: string }[]) => as(t, token).post(`/bills/${billId}/split/custom-amount`).send({ amounts });
      expectProblem(
        await post([
          { participantId: a, amount: "50" },
          { participantId: b, amount: "40" },
          { participantId: stranger, amount: "10" },
        ]),
        422,
        "unknown_participant",
      );
      expectProblem(await post([{ participantId: a, amount: "100" }]), 422, "missing_participant");
      expectProblem(
        await post([
          { participantId: a, amount: "50" },
          { participantId: a, amount: "50" },
        ]),
        400,
      );
      expectProblem(
        await post([
          { participantId: a, amount: "-50" },
          { participantId: b, amount: "150" },
        ]),
        400,
      );
      const decimals = await post([
        { participantId: a, amount: "50.005" },
        { participantId: b, amount: "49.995" },
      ]);
      expectProblem(decimals, 400);
      expect(decimals.body.issues[0]).toEqual({
        path: "amounts.0.amount",
        message: "has more than 2 decimal places, the most USD allows",
        code: "minor_units",
      });
      expectProblem(await post([]), 422, "empty_split");
    });

    it("a closed bill: 409; someone else's: 404; unknown fields: 400", async () => {
      const { token, billId } = await billWith(["A"]);
      const other = await t.tokenFor(newUserId());
      expectProblem(await as(t, other).post(`/bills/${billId}/split/equal`).send({}), 404);
      expectProblem(await as(t, token).post(`/bills/${billId}/split/equal`).send({ participantIds: [] }), 400);
      await t.db.prisma.bill.update({ where: { id: billId }, data: { status: "cancelled" } });
      expectProblem(await as(t, token).post(`/bills/${billId}/split/equal`).send({}), 409, "bill_closed");
    });
  });
});

describe("amounts sent as JSON numbers", () => {
  it("are refused with a 400 that says to send decimal strings, naming the field, on the split routes and calculate", async () => {
    const { token, billId, people } = await billWith(["A", "B"]);
    const advice = 'must be a decimal string, not a number: send amounts as decimal strings, e.g. "120.50"';
    const cases: [string, object, string][] = [
      ["split/custom-amount", { amounts: people.map((p) => ({ participantId: p.id, amount: 50 })) }, "amounts.0.amount"],
      ["split/percentage", { percentages: people.map((p) => ({ participantId: p.id, percentage: 50 })) }, "percentages.0.percentage"],
      ["split/itemized", { items: [{ amount: "100.00", participantIds: [people[0].id] }], extras: { tip: 1.5 } }, "extras.tip"],
      ["calculate", { method: "custom_amount", amounts: people.map((p) => ({ participantId: p.id, amount: 50 })) }, "amounts.0.amount"],
    ];
    for (const [path, body, field] of cases) {
      const res = await as(t, token).post(`/bills/${billId}/${path}`).send(body);
      expectProblem(res, 400, "validation_failed");
      expect({ path, issue: res.body.issues[0] }).toEqual({ path, issue: expect.objectContaining({ path: field, message: `${field} ${advice}` }) });
      expect(res.body.detail).toContain(`${field} ${advice}`);
    }
    expect(await stored(billId)).toEqual([
      ["A", null],
      ["B", null],
    ]);
  });

  it('a missing amount reads "<field> is required"', async () => {
    const { token, billId, people } = await billWith(["A", "B"]);
    const res = await as(t, token)
      .post(`/bills/${billId}/split/custom-amount`)
      .send({ amounts: people.map((p) => ({ participantId: p.id })) });
    expectProblem(res, 400, "validation_failed");
    expect(res.body.issues[0]).toMatchObject({ path: "amounts.0.amount", message: "amounts.0.amount is required" });
  });
});

describe("amounts too large to store", () => {
  it("are refused with a 400 naming the field, on every split route that takes an amount or weight, and on calculate", async () => {
    const { token, billId, people } = await billWith(["A", "B"]);
    const huge = "1000000000000000";
    const cases: [string, object, string][] = [
      ["split/custom-amount", { amounts: people.map((p) => ({ participantId: p.id, amount: huge })) }, "amounts.0.amount"],
      ["split/itemized", { items: [{ amount: huge, participantIds: [people[0].id] }] }, "items.0.amount"],
      ["split/itemized", { items: [{ amount: "100.00", participantIds: [people[0].id] }], extras: { serviceCharge: huge } }, "extras.serviceCharge"],
      ["split/shares", { shares: people.map((p) => ({ participantId: p.id, weight: huge })) }, "shares.0.weight"],
      ["calculate", { method: "custom_amount", amounts: people.map((p) => ({ participantId: p.id, amount: huge })) }, "amounts.0.amount"],
    ];
    for (const [path, body, field] of cases) {
      const res = await as(t, token).post(`/bills/${billId}/${path}`).send(body);
      expectProblem(res, 400, "validation_failed");
      expect({ path, issue: res.body.issues[0] }).toEqual({
        path,
        issue: expect.objectContaining({ path: field, message: "is too large: at most 15 digits before the point" }),
      });
      expect(res.body.detail).toContain(`${field}: is too large`);
    }
    expect(await stored(billId)).toEqual([
      ["A", null],
      ["B", null],
    ]);
  });
});

describe("POST /bills/:billId/calculate", () => {
  it("takes the split route's spelling custom-amount as well as custom_amount, and answers custom_amount either way", async () => {
    const { token, billId, people } = await billWith(["A", "B"]);
    const amounts = [
      { participantId: people[0].id, amount: "60.00" },
      { participantId: people[1].id, amount: "40.00" },
    ];
    const url = await as(t, token).post(`/bills/${billId}/calculate`).send({ method: "custom-amount", amounts });
    const snake = await as(t, token).post(`/bills/${billId}/calculate`).send({ method: "custom_amount", amounts });
    expect(url.status).toBe(200);
    expect(url.body).toMatchObject({ method: "custom_amount", saved: false });
    expect(url.body).toEqual(snake.body);
    const applied = await as(t, token).post(`/bills/${billId}/split/custom-amount`).send({ amounts });
    expect(applied.body.method).toBe("custom_amount");
    expectProblem(await as(t, token).post(`/bills/${billId}/calculate`).send({ method: "custom-amounts", amounts }), 400, "validation_failed");
  });

  it("returns the plan the same input would apply, and saves nothing", async () => {
    const { token, billId, people } = await billWith(["A", "B", "C"]);
    const body = { shares: people.map((p, i) => ({ participantId: p.id, weight: String(i + 1) })) };
    const preview = await as(t, token)
      .post(`/bills/${billId}/calculate`)
      .send({ method: "shares", ...body });
    expect(preview.status).toBe(200);
    expect(preview.body.saved).toBe(false);
    expect(await stored(billId)).toEqual([
      ["A", null],
      ["B", null],
      ["C", null],
    ]);
    expect((await t.db.prisma.bill.findUniqueOrThrow({ where: { id: billId } })).splitMethod).toBeNull();
    const applied = await as(t, token).post(`/bills/${billId}/split/shares`).send(body);
    expect(applied.body.allocations).toEqual(preview.body.allocations);
    expect(preview.body.allocations.map((a: { amountToPay: string }) => a.amountToPay)).toEqual(["16.67", "33.33", "50.00"]);
  });

  it("refuses an unknown method and the same errors as applying", async () => {
    const { token, billId } = await billWith(["A"]);
    expectProblem(await as(t, token).post(`/bills/${billId}/calculate`).send({ method: "random" }), 400);
    expectProblem(await as(t, token).post(`/bills/${billId}/calculate`).send({ method: "percentage", percentages: [] }), 422);
  });
});
