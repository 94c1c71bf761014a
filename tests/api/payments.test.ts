import { QUEUES } from "../../src/jobs/jobs";
import request from "supertest";
import { parseEmvFields } from "../../src/domain/emv-qr";
import { as, expectProblem } from "../support/http";
import { createBill } from "../support/builders";
import { paymentEvent, postWebhook, splitBill } from "../support/payments";
import { createTestApp, newUserId, TestClock, type TestApp } from "../support/test-app";

let t: TestApp;
const clock = new TestClock();
beforeAll(async () => {
  t = await createTestApp({ clock, env: { PAYMENT_REQUEST_TTL_HOURS: "48" } });
});
afterAll(() => t.close());

type Req = {
  id: string;
  participantId: string;
  participantName: string;
  paymentId: string;
  reference: string;
  amount: string;
  currency: string;
  channel: string;
  status: string;
  paymentLink: string;
  qrCode: string | null;
  qrCodeSvgUrl: string | null;
  retryCount: number;
};

async function requestAll(token: string, billId: string) {
  const res = await as(t, token).post(`/bills/${billId}/request-payments`);
  expect(res.status).toBe(200);
  return res.body as { billStatus: string; requests: Req[]; skipped: { name: string; reason: string }[] };
}

const participant = (id: string) => t.db.prisma.participant.findUniqueOrThrow({ where: { id } });
const billRow = (id: string) => t.db.prisma.bill.findUniqueOrThrow({ where: { id } });
const history = (billId: string) => t.db.prisma.statusHistory.findMany({ where: { billId }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });

/** Runs `fn` while the payment system refuses every new payment (it is down), then brings it back. */
async function whilePaymentSystemDown(fn: () => Promise<void>): Promise<void> {
  const payments = t.app.locals.adapters.payments as unknown as { createPayment: (i: unknown) => Promise<unknown> };
  const original = payments.createPayment.bind(payments);
  payments.createPayment = async () => {
    throw new Error("payment system down");
  };
  try {
    await fn();
  } finally {
    payments.createPayment = original;
  }
}
describe("POST /bills/:billId/request-payments", () => {
  it("asks everyone who owes: in the app for bank customers, by link and EMV QR for others; the bill becomes active", async () => {
    const { token, billId, byName } = await splitBill(t, ["me", "Alice", "Bob"], { totalAmount: "90000", currency: "VND" });
    const result = await requestAll(token, billId);
    expect(result.billStatus).toBe("active");
    expect(result.skipped).toEqual([{ participantId: byName.me, name: "me", reason: "the creator's own share" }]);
    const [alice, bob] = result.requests;
    expect(alice).toMatchObject({
      participantName: "Alice",
      channel: "in_app",
      status: "sent",
      amount: "30000",
      currency: "VND",
      qrCode: null,
      qrCodeSvgUrl: null,
      retryCount: 0,
    });
    expect(bob).toMatchObject({ participantName: "Bob", channel: "payment_link", status: "sent", amount: "30000", paymentId: expect.stringMatching(/^pay_/) });
    expect(bob.paymentLink).toMatch(/\/pay\/[A-Za-z0-9_-]{32}$/);
    const qr = parseEmvFields(bob.qrCode!);
    expect(qr.get("54")).toBe("30000");
    expect(qr.get("53")).toBe("704");
    expect(parseEmvFields(qr.get("62")!).get("05")).toBe(bob.reference);
    expect((await participant(byName.Bob)).paymentStatus).toBe("requested");
    const rows = await history(billId);
    expect(rows.filter((h) => h.entityType === "bill").map((h) => [h.previousStatus, h.newStatus])).toEqual([
      [null, "created"],
      ["created", "active"],
    ]);
  });

  it("is safe to call twice: nobody is asked twice for the same amount", async () => {
    const { token, billId } = await splitBill(t, ["A", "B"]);
    await requestAll(token, billId);
    const again = await requestAll(token, billId);
    expect(again.requests).toEqual([]);
    expect(again.skipped.map((s) => s.reason)).toEqual(["already asked for this amount", "already asked for this amount"]);
    expect(await t.db.prisma.paymentRequest.count({ where: { billId } })).toBe(2);
  });

  it.each(["CLF", "UYW"])(
    "asks for %s shares to the fourth decimal: 10.0000 split among 3 sums exactly, nobody asked for a rounded amount",
    async (currency) => {
      const { token, billId } = await splitBill(t, ["A", "B", "C"], { totalAmount: "10.0000", currency });
      const result = await requestAll(token, billId);
      expect(result.requests.map((r) => r.amount).sort()).toEqual(["3.3333", "3.3333", "3.3334"]);
      const stored = await t.db.prisma.paymentRequest.findMany({ where: { billId } });
      expect(stored.map((r) => r.amount.toFixed(4)).sort()).toEqual(["3.3333", "3.3333", "3.3334"]);
      const shares = await t.db.prisma.participant.findMany({ where: { billId } });
      expect(shares.reduce((sum, p) => sum + Number(p.amountToPay!.times(10_000)), 0)).toBe(100_000);
      const qr = parseEmvFields(result.requests[0].qrCode!);
      expect(qr.get("53")).toBe(currency === "CLF" ? "990" : "927");
      expect(qr.get("54")).toBe(result.requests[0].amount);
      // Paying each request applies it exactly, and the bill completes.
      for (const r of result.requests) expect((await postWebhook(t, paymentEvent(r))).body.outcome).toBe("applied");
      expect((await billRow(billId)).status).toBe("completed");
    },
  );

  it("needs a split that covers the whole total (409)", async () => {
    const userId = newUserId();
    const token = await t.tokenFor(userId);
    const bill = (await as(t, token).post("/bills").send({ totalAmount: "10.00", currency: "USD" })).body;
    await as(t, token).post(`/bills/${bill.id}/participants`).send({ name: "A" });
    expectProblem(await as(t, token).post(`/bills/${bill.id}/request-payments`), 409, "split_required");
    await as(t, token).post(`/bills/${bill.id}/split/equal`).send({});
    await as(t, token).post(`/bills/${bill.id}/participants`).send({ name: "B" });
    await t.db.prisma.bill.update({ where: { id: bill.id }, data: { needsResplit: true } });
    expectProblem(await as(t, token).post(`/bills/${bill.id}/request-payments`), 409, "split_required");
    expect(await t.db.prisma.paymentRequest.count({ where: { billId: bill.id } })).toBe(0);
    expect((await billRow(bill.id)).status).toBe("created");
  });

  it("answers 404 to another user and creates nothing", async () => {
    const { billId } = await splitBill(t, ["A"]);
    const other = await t.tokenFor(newUserId());
    expectProblem(await as(t, other).post(`/bills/${billId}/request-payments`), 404);
    expect(await t.db.prisma.paymentRequest.count({ where: { billId } })).toBe(0);
  });
});

describe("POST .../participants/:participantId/request-payment", () => {
  it("asks again after expiry, counting retry_count", async () => {
    const { token, billId, byName } = await splitBill(t, ["A", "B"]);
    await requestAll(token, billId);
    clock.advance(49 * 3_600_000);
    // Scoped to this bill: the database may be shared with other test files (PostgreSQL run).
    expect(await t.app.locals.services.payments.expireOverdue({ billId })).toBe(2);
    const statuses = await t.db.prisma.paymentRequest.findMany({ where: { billId }, select: { status: true } });
    expect(statuses.map((r) => r.status)).toEqual(["expired", "expired"]);
    expect((await participant(byName.A)).paymentStatus).toBe("pending");
    const res = await as(t, token).post(`/bills/${billId}/participants/${byName.A}/request-payment`);
    expect(res.status).toBe(200);
    expect(res.body.requests).toEqual([expect.objectContaining({ participantId: byName.A, retryCount: 1, status: "sent" })]);
    const same = await as(t, token).post(`/bills/${billId}/participants/${byName.A}/request-payment`);
    expect(same.body.requests).toEqual([]);
    expect(same.body.skipped[0].reason).toBe("already asked for this amount");
  });

  it("refuses the creator (409) and an unknown participant (404)", async () => {
    const { token, billId, byName } = await splitBill(t, ["me", "A"]);
    expectProblem(await as(t, token).post(`/bills/${billId}/participants/${byName.me}/request-payment`), 409, "nothing_owed");
    expectProblem(await as(t, token).post(`/bills/${billId}/participants/01a207c9-a789-71bc-bab2-18da81c8123d/request-payment`), 404);
  });

  it("answers 404 for a participant who is not on the bill before asking whether the bill is split", async () => {
    const token = await t.tokenFor(newUserId());
    const bill = await createBill(t, token);
    const res = await as(t, token).post(`/bills/${bill.id}/participants/01a207c9-a789-71bc-bab2-18da81c8123d/request-payment`);
    expectProblem(res, 404, "participant_not_found");
  });
});

describe("POST /webhook/payment-callback", () => {
  it("a success marks the participant paid; the last one completes the bill, with history", async () => {
    const { token, billId, byName } = await splitBill(t, ["me", "A", "B"]);
    const { requests } = await requestAll(token, billId);
    const first = await postWebhook(t, paymentEvent(requests[0]));
    expect(first.status).toBe(200);
    expect(first.body.outcome).toBe("applied");
    expect(await participant(byName.A)).toMatchObject({ paymentStatus: "paid", paymentMethod: "payment_system" });
    expect((await billRow(billId)).status).toBe("active");
    await postWebhook(t, paymentEvent(requests[1]));
    expect(await billRow(billId)).toMatchObject({ status: "completed", completedAt: expect.any(Date) });
    const details = await as(t, token).get(`/bills/${billId}`);
    expect(details.body.totals).toMatchObject({ paidAmount: "100.00", unpaidAmount: "0.00" });
    const rows = await history(billId);
    expect(rows.filter((h) => h.entityType === "bill").map((h) => `${h.newStatus} by ${h.changedBy === "webhook" ? "webhook" : "user"}`)).toEqual([
      "created by user",
      "active by user",
      "completed by webhook",
    ]);
    expect(rows.filter((h) => h.participantId === byName.B).map((h) => [h.entityType, h.previousStatus, h.newStatus, h.changedBy === "webhook"])).toEqual([
      ["participant", null, "pending", false],
      ["payment_request", null, "pending", false],
      ["participant", "pending", "requested", false],
      ["payment_request", "pending", "sent", false],
      ["payment_request", "sent", "paid", true],
      ["participant", "requested", "paid", true],
    ]);
  });

  it("processes each event id once: a duplicate answers 200 and changes nothing", async () => {
    const { token, billId } = await splitBill(t, ["A", "B"]);
    const { requests } = await requestAll(token, billId);
    const event = paymentEvent(requests[0]);
    expect((await postWebhook(t, event)).body.outcome).toBe("applied");
    const dup = await postWebhook(t, event);
    expect(dup.status).toBe(200);
    expect(dup.body.outcome).toBe("duplicate");
    const second = await postWebhook(t, paymentEvent(requests[0]));
    expect(second.body.outcome).toBe("ignored");
    expect(await t.db.prisma.statusHistory.count({ where: { participantId: requests[0].participantId, newStatus: "paid" } })).toBe(2);
    expect(await t.db.prisma.payment.count({ where: { participantId: requests[0].participantId } })).toBe(1);
  });

  it("accepts out-of-order delivery: a failure after the success changes nothing", async () => {
    const { token, billId } = await splitBill(t, ["A", "B"]);
    const { requests } = await requestAll(token, billId);
    await postWebhook(t, paymentEvent(requests[0]));
    const late = await postWebhook(t, paymentEvent(requests[0], "payment.failed", { reason: "card declined" }));
    expect(late.body.outcome).toBe("ignored");
    expect((await participant(requests[0].participantId)).paymentStatus).toBe("paid");
    expect((await t.db.prisma.paymentRequest.findUniqueOrThrow({ where: { id: requests[0].id } })).status).toBe("paid");
  });

  it("a success that arrives after a failure still counts, and closes the newer request", async () => {
    const { token, billId } = await splitBill(t, ["A", "B"]);
    const { requests } = await requestAll(token, billId);
    await postWebhook(t, paymentEvent(requests[0], "payment.failed", { reason: "timeout" }));
    const again = await as(t, token).post(`/bills/${billId}/participants/${requests[0].participantId}/request-payment`);
    const late = await postWebhook(t, paymentEvent(requests[0]));
    expect(late.body.outcome).toBe("applied");
    expect((await participant(requests[0].participantId)).paymentStatus).toBe("paid");
    expect((await t.db.prisma.paymentRequest.findUniqueOrThrow({ where: { id: again.body.requests[0].id } })).status).toBe("cancelled");
  });

  it("completes a bill where someone's share is zero", async () => {
    const { token, billId, byName } = await splitBill(t, ["A", "B"]);
    await as(t, token)
      .post(`/bills/${billId}/split/custom-amount`)
      .send({
        amounts: [
          { participantId: byName.A, amount: "100.00" },
          { participantId: byName.B, amount: "0" },
        ],
      });
    const { requests, skipped } = await requestAll(token, billId);
    expect(skipped).toEqual([{ participantId: byName.B, name: "B", reason: "owes nothing" }]);
    await postWebhook(t, paymentEvent(requests[0]));
    expect((await billRow(billId)).status).toBe("completed");
  });

  it("a failure re-opens the participant so they can be asked again", async () => {
    const { token, billId } = await splitBill(t, ["A", "B"]);
    const { requests } = await requestAll(token, billId);
    await postWebhook(t, paymentEvent(requests[0], "payment.failed", { reason: "insufficient funds" }));
    expect((await participant(requests[0].participantId)).paymentStatus).toBe("pending");
    const again = await as(t, token).post(`/bills/${billId}/participants/${requests[0].participantId}/request-payment`);
    expect(again.body.requests[0]).toMatchObject({ retryCount: 1 });
  });

  it("counts a partial payment toward the share and asks the remainder next; refuses another currency", async () => {
    const { token, billId } = await splitBill(t, ["A", "B"]);
    const { requests } = await requestAll(token, billId);
    expect((await postWebhook(t, paymentEvent(requests[0], "payment.succeeded", { currency: "EUR" }))).body.outcome).toBe("mismatch");
    expect((await participant(requests[0].participantId)).paymentStatus).toBe("requested");
    expect((await postWebhook(t, paymentEvent(requests[0], "payment.succeeded", { amount: "49.99" }))).body.outcome).toBe("applied");
    expect(await participant(requests[0].participantId)).toMatchObject({ paymentStatus: "pending" });
    expect((await participant(requests[0].participantId)).outstandingAmount.toString()).toBe("0.01");
    const events = await t.db.prisma.paymentEvent.findMany({ where: { paymentRequestId: requests[0].id }, orderBy: { receivedAt: "asc" } });
    expect(events.map((e) => [e.outcome, e.detail])).toEqual([
      ["mismatch", "expected an amount in USD, got 50.00 EUR"],
      ["applied", "49.99 USD received for a request of 50.00 USD"],
    ]);
    const again = await as(t, token).post(`/bills/${billId}/participants/${requests[0].participantId}/request-payment`);
    expect(again.body.requests[0]).toMatchObject({ amount: "0.01" });
  });

  it('reads the amount as a decimal: "050.00" for a 50.00 request is applied as 50.00', async () => {
    const { token, billId } = await splitBill(t, ["A", "B"]);
    const { requests } = await requestAll(token, billId);
    const res = await postWebhook(t, paymentEvent(requests[0], "payment.succeeded", { amount: "050.00" }));
    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe("applied");
    expect(await participant(requests[0].participantId)).toMatchObject({ paymentStatus: "paid" });
    expect((await participant(requests[0].participantId)).paidAmount.toFixed(2)).toBe("50.00");
    const [payment] = await t.db.prisma.payment.findMany({ where: { paymentRequestId: requests[0].id } });
    expect(payment.amount.toFixed(2)).toBe("50.00");
    const [event] = await t.db.prisma.paymentEvent.findMany({ where: { paymentRequestId: requests[0].id } });
    expect(event).toMatchObject({ outcome: "applied", detail: null });
  });

  it.each([
    ["16 digits before the point", "1000000000000000"],
    ["16 digits after leading zeros", "01000000000000000.00"],
    ["far beyond any column", "9".repeat(40)],
  ])("refuses an amount too large to store (%s) with 400 naming data.amount, never 500, and applies nothing", async (_label, amount) => {
    const { token, billId } = await splitBill(t, ["A", "B"]);
    const { requests } = await requestAll(token, billId);
    const event = paymentEvent(requests[0], "payment.succeeded", { amount });
    const res = await postWebhook(t, event);
    expectProblem(res, 400, "validation_failed");
    expect(res.body.issues).toEqual([{ path: "data.amount", message: "is too large: at most 15 digits before the point", code: "invalid_format" }]);
    expect(res.body.detail).toBe("data.amount: is too large: at most 15 digits before the point");
    expect(await t.db.prisma.paymentEvent.count({ where: { id: event.id } })).toBe(0);
    expect((await participant(requests[0].participantId)).paymentStatus).toBe("requested");
  });

  it("records the largest amount a column holds as a mismatch when it has more decimals than the currency, never 500", async () => {
    const { token, billId } = await splitBill(t, ["A", "B"]);
    const { requests } = await requestAll(token, billId);
    const res = await postWebhook(t, paymentEvent(requests[0], "payment.succeeded", { amount: "999999999999999.9999" }));
    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe("mismatch");
    const [event] = await t.db.prisma.paymentEvent.findMany({ where: { paymentRequestId: requests[0].id } });
    expect(event.amount?.toFixed(4)).toBe("999999999999999.9999");
  });

  it("records an event for an unknown payment without failing", async () => {
    const res = await postWebhook(t, paymentEvent({ paymentId: "pay_nope", reference: "CBNOPE", amount: "1.00", currency: "USD" }));
    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe("unknown_payment");
  });

  it.each([
    ["missing", { header: null }, "signature_missing"],
    ["made with another secret", { secret: "not-the-payment-secret" }, "signature_mismatch"],
    ["older than 300 s", { at: new Date(clock.now().getTime() - 301_000) }, "signature_stale"],
  ])("refuses a signature that is %s with 401 and applies nothing", async (_label, options, code) => {
    const { token, billId } = await splitBill(t, ["A"]);
    const { requests } = await requestAll(token, billId);
    expectProblem(await postWebhook(t, paymentEvent(requests[0]), options), 401, code);
    expect((await participant(requests[0].participantId)).paymentStatus).toBe("requested");
  });

  it("refuses a user's token in place of a signature, and an invalid body with 400", async () => {
    const user = await t.tokenFor(newUserId());
    const res = await request(t.app).post("/api/chillbill/webhook/payment-callback").set("Authorization", `Bearer ${user}`).send({});
    expectProblem(res, 401, "signature_missing");
    const bad = await postWebhook(t, { id: "evt_1", type: "payment.refunded", created: 1, data: {} });
    expectProblem(bad, 400);
  });
});

describe("PUT .../participants/:participantId/mark-as-paid", () => {
  it("records an offline payment and closes the open request, so a later webhook cannot count it again", async () => {
    const { token, billId, byName } = await splitBill(t, ["A", "B"]);
    const { requests } = await requestAll(token, billId);
    const res = await as(t, token).put(`/bills/${billId}/participants/${byName.A}/mark-as-paid`).send({ method: "cash", note: "paid at the table" });
    expect(res.status).toBe(200);
    expect(res.body.participants.find((p: { id: string }) => p.id === byName.A)).toMatchObject({ paymentStatus: "paid" });
    expect(await participant(byName.A)).toMatchObject({ paymentMethod: "cash", paymentNote: "paid at the table" });
    expect((await t.db.prisma.paymentRequest.findUniqueOrThrow({ where: { id: requests[0].id } })).status).toBe("cancelled");
    // The payment system collected it anyway: the money counts once, as refund due, never as a second share.
    const late = await postWebhook(t, paymentEvent(requests[0]));
    expect(late.body.outcome).toBe("applied");
    expect(await participant(byName.A)).toMatchObject({ paymentStatus: "paid" });
    const a = await participant(byName.A);
    expect([a.paidAmount.toString(), a.outstandingAmount.toString(), a.refundDue.toString()]).toEqual(["100", "0", "50"]);
    expect(await t.db.prisma.statusHistory.count({ where: { participantId: byName.A, entityType: "participant", newStatus: "paid" } })).toBe(1);
  });

  it("completes the bill when the last person is marked paid, even before any request was sent", async () => {
    const { token, billId, byName } = await splitBill(t, ["me", "A"]);
    await as(t, token).put(`/bills/${billId}/participants/${byName.A}/mark-as-paid`).send({});
    expect((await billRow(billId)).status).toBe("completed");
    expect((await history(billId)).filter((h) => h.entityType === "bill").map((h) => h.newStatus)).toEqual(["created", "active", "completed"]);
  });

  it("refuses someone already paid (409), another user's bill (404), unknown fields (400)", async () => {
    const { token, billId, byName } = await splitBill(t, ["A", "B"]);
    await as(t, token).put(`/bills/${billId}/participants/${byName.A}/mark-as-paid`).send({});
    expectProblem(await as(t, token).put(`/bills/${billId}/participants/${byName.A}/mark-as-paid`).send({}), 409, "already_paid");
    expectProblem(
      await as(t, await t.tokenFor(newUserId()))
        .put(`/bills/${billId}/participants/${byName.B}/mark-as-paid`)
        .send({}),
      404,
    );
    expectProblem(await as(t, token).put(`/bills/${billId}/participants/${byName.B}/mark-as-paid`).send({ paidAmount: "1" }), 400);
    expect((await participant(byName.B)).paymentStatus).toBe("pending");
  });
});

describe("the pay page", () => {
  it("shows merchant, name, amount and QR, escaping what it prints", async () => {
    const { token, billId } = await splitBill(t, ["<script>alert(1)</script>", "B"], { merchantName: "Bún & <Chả>" });
    const { requests } = await requestAll(token, billId);
    const link = new URL(requests[0].paymentLink);
    const page = await request(t.app).get(link.pathname);
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toMatch(/text\/html/);
    expect(page.text).toContain("50.00 USD");
    expect(page.text).toContain("Bún &#38; &#60;Chả&#62;");
    expect(page.text).not.toContain("<script>alert(1)</script>");
    expect(page.text).toContain("&#60;script&#62;");
    expect(page.text).toContain("<svg");
    expect(page.text).toContain("Pay now");
    expect(page.headers["content-security-policy"]).toContain("default-src 'none'");
  });

  it("serves the QR as PNG and SVG", async () => {
    const { token, billId } = await splitBill(t, ["A"]);
    const { requests } = await requestAll(token, billId);
    const png = await request(t.app).get(new URL(requests[0].qrCodeSvgUrl!.replace(/svg$/, "png")).pathname);
    expect(png.headers["content-type"]).toBe("image/png");
    expect(png.body.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const svg = await request(t.app).get(new URL(requests[0].qrCodeSvgUrl!).pathname);
    expect(svg.headers["content-type"]).toMatch(/image\/svg\+xml/);
  });

  it("stores the QR image's URL in qr_code_url when the request is handed over (payment links only); qr_code keeps the EMV payload", async () => {
    const { token, billId, byName } = await splitBill(t, ["me", "Alice", "Bob"], { totalAmount: "90.00", currency: "USD" });
    const { requests } = await requestAll(token, billId);
    const bob = requests.find((r) => r.participantName === "Bob")! as Req & { qrCodePngUrl: string };
    const rows = await t.db.sql.query<{ participant_id: string; qr_code: string | null; qr_code_url: string | null; pay_token: string }>(
      "SELECT participant_id, qr_code, qr_code_url, pay_token FROM payment_requests WHERE bill_id = $1::uuid",
      [billId],
    );
    const stored = rows.find((r) => r.participant_id === byName.Bob)!;
    expect(stored.qr_code_url).toBe(`/pay/${stored.pay_token}/qr.png`);
    expect(stored.qr_code).toBe(bob.qrCode);
    expect(parseEmvFields(stored.qr_code!).get("54")).toBe("30.00");
    // The API's URL is the stored one under the public base URL, and it serves the image.
    expect(new URL(bob.qrCodePngUrl).pathname).toBe(stored.qr_code_url);
    expect((await request(t.app).get(stored.qr_code_url!)).headers["content-type"]).toBe("image/png");
    // In-app requests (bank customers) have no QR.
    expect(rows.find((r) => r.participant_id === byName.Alice)).toMatchObject({ qr_code: null, qr_code_url: null });
  });

  it("writes qr_code_url only once the payment system has the request (by the hand-over job when it was down)", async () => {
    const { token, billId } = await splitBill(t, ["A"]);
    await whilePaymentSystemDown(async () => {
      expect((await as(t, token).post(`/bills/${billId}/request-payments`)).body.requests[0]).toMatchObject({ status: "pending", qrCodePngUrl: null });
    });
    const row = () => t.db.prisma.paymentRequest.findFirstOrThrow({ where: { billId } });
    expect(await row()).toMatchObject({ status: "pending", qrCodeUrl: null });
    await t.runJobs([QUEUES.paymentHandOver], { ignoreStartAfter: true });
    const sent = await row();
    expect(sent).toMatchObject({ status: "sent", qrCodeUrl: `/pay/${sent.payToken}/qr.png` });
  });

  it("says a link is not ready while the payment system has not taken the request, and shows no QR then", async () => {
    const { token, billId } = await splitBill(t, ["A"]);
    await whilePaymentSystemDown(async () => {
      const res = await as(t, token).post(`/bills/${billId}/request-payments`);
      expect(res.body.requests[0]).toMatchObject({ status: "pending", qrCodeSvgUrl: null, paymentLink: null });
    });
    const row = await t.db.prisma.paymentRequest.findFirstOrThrow({ where: { billId } });
    const page = await request(t.app).get(`/pay/${row.payToken}`);
    expect(page.status).toBe(503);
    expect(page.text).toContain("not ready yet");
  });

  it("stops serving the QR once the request is closed", async () => {
    const { token, billId } = await splitBill(t, ["A", "B"]);
    const { requests } = await requestAll(token, billId);
    const qr = new URL(requests[0].qrCodeSvgUrl!).pathname;
    expect((await request(t.app).get(qr)).status).toBe(200);
    await postWebhook(t, paymentEvent(requests[0]));
    expect((await request(t.app).get(qr)).status).toBe(410);
  });

  it("says clearly when a link is paid, expired or unknown", async () => {
    const { token, billId } = await splitBill(t, ["A", "B"]);
    const { requests } = await requestAll(token, billId);
    await postWebhook(t, paymentEvent(requests[0]));
    expect((await request(t.app).get(new URL(requests[0].paymentLink).pathname)).text).toContain("Paid, thank you");
    await t.db.prisma.paymentRequest.update({ where: { id: requests[1].id }, data: { status: "expired" } });
    const expired = await request(t.app).get(new URL(requests[1].paymentLink).pathname);
    expect(expired.status).toBe(410);
    expect(expired.text).toContain("expired");
    const unknown = await request(t.app).get(`/pay/${"x".repeat(32)}`);
    expect(unknown.status).toBe(404);
    expect(unknown.text).toContain("not valid");
  });
});

describe("requests that never reached the payment system", () => {
  it("stay pending and are handed over (and notified) by their keyed job, once", async () => {
    const { token, billId } = await splitBill(t, ["A"]);
    await t.db.prisma.participant.updateMany({ where: { billId }, data: { email: "a@example.com" } });
    await whilePaymentSystemDown(async () => {
      const res = await as(t, token).post(`/bills/${billId}/request-payments`);
      expect(res.body.requests[0]).toMatchObject({ status: "pending", paymentLink: null });
    });
    expect(await t.db.prisma.notification.count({ where: { billId } })).toBe(0);
    const request = await t.db.prisma.paymentRequest.findFirstOrThrow({ where: { billId } });
    // The job was enqueued with the request, keyed by its id, to start after the retry delay.
    const jobState = async () =>
      (
        await t.db.sql.query<{ state: string }>(`SELECT state FROM ${t.config.jobs.schema}.job WHERE name = $1 AND id = $2::uuid`, [
          QUEUES.paymentHandOver,
          request.id,
        ])
      ).map((j) => j.state);
    expect(await jobState()).toEqual(["created"]);
    await t.runJobs([QUEUES.paymentHandOver]);
    expect(await jobState()).toEqual(["created"]); // not due yet
    expect(await t.runJobs([QUEUES.paymentHandOver], { ignoreStartAfter: true })).toMatchObject({ failed: 0 });
    expect(await jobState()).toEqual(["completed"]);
    expect(await t.db.prisma.paymentRequest.findFirstOrThrow({ where: { billId } })).toMatchObject({
      status: "sent",
      paymentLink: expect.stringContaining("/pay/"),
    });
    expect(await t.db.prisma.notification.count({ where: { billId, type: "payment_request" } })).toBe(1);
    expect(await t.runJobs([QUEUES.paymentHandOver], { ignoreStartAfter: true })).toEqual({ ran: 0, failed: 0 });
  });
});

describe("notifications", () => {
  it("asks in the app, by SMS and by email, tells the creator of payments, and everyone when the bill is settled", async () => {
    const userId = newUserId();
    const token = await t.tokenFor(userId);
    const bill = (await as(t, token).post("/bills").send({ totalAmount: "60.00", currency: "USD", merchantName: "Bun Cha" })).body;
    const alice = (await as(t, token).post(`/bills/${bill.id}/participants`).send({ name: "Alice", phone: "+84901234567" })).body;
    const bob = (await as(t, token).post(`/bills/${bill.id}/participants`).send({ name: "Bob", phone: "+84911111111", email: "bob@example.com" })).body;
    await as(t, token).post(`/bills/${bill.id}/split/equal`).send({});
    const { requests } = await requestAll(token, bill.id);
    await t.runJobs([QUEUES.notification]);

    const asked = await t.db.prisma.notification.findMany({
      where: { billId: bill.id, type: "payment_request" },
      orderBy: [{ createdAt: "asc" }, { id: "asc" }],
    });
    expect(asked.map((n) => [n.participantId === alice.id ? "Alice" : "Bob", n.channel, n.status])).toEqual([
      ["Alice", "in_app", "sent"],
      ["Bob", "sms", "sent"],
      ["Bob", "email", "sent"],
    ]);
    const bobsRequest = requests.find((r) => r.participantId === bob.id)!;
    expect(asked[1].message).toBe(`Bun Cha: your share is 30.00 USD. Pay here: ${bobsRequest.paymentLink}`);
    expect(asked[0].message).toBe("Bun Cha: your share is 30.00 USD. Open your banking app to pay.");

    for (const r of requests) await postWebhook(t, paymentEvent(r));
    await t.runJobs([QUEUES.notification]);
    const received = await t.db.prisma.notification.findMany({ where: { billId: bill.id, type: "payment_received" } });
    expect(received.every((n) => n.status === "sent")).toBe(true);
    expect(received.map((n) => [n.recipientUserId, n.channel])).toEqual([
      [userId, "in_app"],
      [userId, "in_app"],
    ]);
    const completed = await t.db.prisma.notification.findMany({ where: { billId: bill.id, type: "bill_completed" } });
    expect(completed.map((n) => n.channel).sort()).toEqual(["email", "in_app", "in_app", "sms"]);
  });

  it("records a failed channel without failing the request or the other channels", async () => {
    const channels = t.app.locals.adapters.channels as unknown as Record<string, { failWith?: Error }>;
    const { token, billId } = await splitBill(t, ["A"]);
    await t.db.prisma.participant.updateMany({ where: { billId }, data: { phone: "+84922222222", email: "a@example.com" } });
    channels.sms.failWith = new Error("SMS gateway down");
    try {
      const res = await as(t, token).post(`/bills/${billId}/request-payments`);
      expect(res.status).toBe(200);
      await t.runJobs([QUEUES.notification]);
    } finally {
      channels.sms.failWith = undefined;
    }
    const rows = await t.db.prisma.notification.findMany({ where: { billId }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] });
    expect(rows.map((n) => [n.channel, n.status, n.error])).toEqual([
      ["sms", "failed", "SMS gateway down"],
      ["email", "sent", null],
    ]);
  });
});
