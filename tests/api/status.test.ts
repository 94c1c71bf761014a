import { csvCell } from "../../src/modules/status/status.service";
import { createBill, insertParticipant } from "../support/builders";
import { as, expectProblem } from "../support/http";
import { billWithRequests, paymentEvent, postWebhook, splitBill } from "../support/payments";
import { createTestApp, newUserId, type TestApp } from "../support/test-app";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

async function paidOne() {
  const bill = await billWithRequests(t, ["me", "A", "B"], { totalAmount: "100.00" });
  await postWebhook(t, paymentEvent(bill.requestOf("A")));
  return bill;
}

describe("GET /bills/:billId/status", () => {
  it("reports the status, the images, each participant and exact totals", async () => {
    const { token, billId, byName } = await paidOne();
    const res = await as(t, token).get(`/bills/${billId}/status`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      billId,
      status: "active",
      currency: "USD",
      totalAmount: "100.00",
      splitMethod: "equal",
      images: { billImage: "none", groupImage: "none", aiProcessed: false },
      totals: { paidCount: 2, unpaidCount: 1 },
    });
    // The extra cent of 100.00 / 3 goes to one person (by the seeded tie-break): compute, don't guess.
    const cents = (v: string) => Math.round(Number(v) * 100);
    const amountOf = (id: string) => res.body.participants.find((p: { id: string }) => p.id === id).amountToPay as string;
    expect(cents(res.body.totals.paidAmount)).toBe(cents(amountOf(byName.me)) + cents(amountOf(byName.A)));
    expect(res.body.totals.unpaidAmount).toBe(amountOf(byName.B));
    expect(cents(res.body.totals.paidAmount) + cents(res.body.totals.unpaidAmount)).toBe(10000);
    const byId = Object.fromEntries(res.body.participants.map((p: { id: string }) => [p.id, p]));
    expect(byId[byName.me]).toMatchObject({ isCreator: true, paymentStatus: "paid" });
    expect(byId[byName.A]).toMatchObject({ paymentStatus: "paid", paidAt: expect.any(String) });
    expect(byId[byName.B]).toMatchObject({ paymentStatus: "requested", paidAt: null });
    const sum = res.body.participants.reduce((s: number, p: { amountToPay: string }) => s + Math.round(Number(p.amountToPay) * 100), 0);
    expect(sum).toBe(10000);
  });

  it("is 404 for someone else", async () => {
    const { billId } = await paidOne();
    expectProblem(await as(t, await t.tokenFor(newUserId())).get(`/bills/${billId}/status`), 404);
  });
});

describe("GET /bills/:billId/status-history", () => {
  it("lists every transition oldest first, with who and why", async () => {
    const { token, billId, userId } = await paidOne();
    const res = await as(t, token).get(`/bills/${billId}/status-history`);
    const items = res.body.items as {
      entity: string;
      participantName: string | null;
      previousStatus: string | null;
      newStatus: string;
      changedBy: string;
      at: string;
    }[];
    expect(items[0]).toMatchObject({ entity: "bill", previousStatus: null, newStatus: "created", changedBy: userId });
    expect(items.map((i) => i.at)).toEqual([...items.map((i) => i.at)].sort());
    expect(items.filter((i) => i.entity === "bill").map((i) => i.newStatus)).toEqual(["created", "active"]);
    const by = (changedBy: string) => (["webhook", "payment_system"].includes(changedBy) ? changedBy : "user");
    expect(items.filter((i) => i.participantName === "A").map((i) => [i.entity, i.newStatus, by(i.changedBy)])).toEqual([
      ["participant", "pending", "user"],
      ["payment_request", "pending", "user"],
      ["participant", "requested", "user"],
      // The payment system took the request: the hand-over's outcome, through the ledger.
      ["payment_request", "sent", "payment_system"],
      ["payment_request", "paid", "webhook"],
      ["participant", "paid", "webhook"],
    ]);
  });

  it("is readable by a bank-customer participant, 404 for others", async () => {
    const creator = newUserId();
    const token = await t.tokenFor(creator);
    const bill = await createBill(t, token);
    const bob = newUserId();
    await insertParticipant(t, bill.id, { name: "Bob", userId: bob });
    expect((await as(t, await t.tokenFor(bob)).get(`/bills/${bill.id}/status-history`)).status).toBe(200);
    expectProblem(await as(t, await t.tokenFor(newUserId())).get(`/bills/${bill.id}/status-history`), 404);
  });
});

describe("GET /reports/summary", () => {
  it("sums what is owed to the caller, collected and outstanding, by currency, without cancelled bills", async () => {
    const userId = newUserId();
    const token = await t.tokenFor(userId);
    const make = async (total: string, currency: string, names: string[]) => {
      const b = await createBill(t, token, { totalAmount: total, currency });
      for (const name of names)
        await as(t, token)
          .post(`/bills/${b.id}/participants`)
          .send(name === "me" ? { name, userId } : { name });
      await as(t, token).post(`/bills/${b.id}/split/equal`).send({});
      return b.id;
    };
    const usd = await make("90.00", "USD", ["me", "A", "B"]);
    await make("100000", "VND", ["A", "B"]);
    const cancelled = await make("50.00", "USD", ["A"]);
    await as(t, token).delete(`/bills/${cancelled}`);
    const a = (await as(t, token).get(`/bills/${usd}/participants`)).body.items.find((p: { name: string }) => p.name === "A");
    await as(t, token).put(`/bills/${usd}/participants/${a.id}/mark-as-paid`).send({});

    const res = await as(t, token).get("/reports/summary");
    expect(res.status).toBe(200);
    expect(res.body.currencies).toEqual([
      {
        currency: "USD",
        billCount: 1,
        totalAmount: "90.00",
        owedToYou: "60.00",
        collected: "30.00",
        outstanding: "30.00",
        received: "30.00",
        refundDue: "0.00",
      },
      { currency: "VND", billCount: 1, totalAmount: "100000", owedToYou: "100000", collected: "0", outstanding: "100000", received: "0", refundDue: "0" },
    ]);
    const future = await as(t, token).get("/reports/summary?from=2999-01-01");
    expect(future.body.currencies).toEqual([]);
    expectProblem(await as(t, token).get("/reports/summary?from=2026-02-01&to=2026-01-01"), 400);
    expectProblem(await as(t, token).get("/reports/summary?from=yesterday"), 400);
  });
});

describe("GET /bills/:billId/export.csv", () => {
  it("exports participants, amounts, status and paid at, safe to open in a spreadsheet", async () => {
    const { token, billId } = await splitBill(t, ['=HYPERLINK("x")', "Bob, Jr."], { totalAmount: "10.00" });
    const res = await as(t, token).get(`/bills/${billId}/export.csv`);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/csv/);
    expect(res.headers["content-disposition"]).toContain(`bill-${billId}.csv`);
    const lines = res.text.trim().split("\r\n");
    expect(lines[0]).toBe(
      "participant,phone,email,bank_customer,amount_to_pay,currency,payment_status,paid_at,payment_method,paid_amount,outstanding,refund_due,removed_at",
    );
    expect(lines[1]).toBe(`"'=HYPERLINK(""x"")",,,no,5.00,USD,pending,,,0.00,5.00,0.00,`);
    expect(lines[2]).toBe(`"Bob, Jr.",,,no,5.00,USD,pending,,,0.00,5.00,0.00,`);
  });

  it("quotes cells per RFC 4180 and defuses formulas", () => {
    expect(csvCell("plain")).toBe("plain");
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell("+1 234")).toBe("'+1 234");
    expect(csvCell("@SUM(A1)")).toBe("'@SUM(A1)");
  });
});
