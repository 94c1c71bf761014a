// The pay page through real flows (issue 19, item 7): it reads the ledger's balances and reason
// codes, so it never says "paid" for money that was not received. Partial payments, a re-split that
// supersedes a link, a cancelled bill with refunds due, removed participants, failed and expired
// links. The decision itself is unit-tested in tests/unit/pay-page-state.test.ts.
import request from "supertest";
import { as } from "../support/http";
import { billWithRequests, paymentEvent, postWebhook, type RequestOut } from "../support/payments";
import { createTestApp, TestClock, type TestApp } from "../support/test-app";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ clock: new TestClock() });
});
afterAll(() => t.close());

const path = (url: string) => new URL(url).pathname;
const open = (r: { paymentLink: string }) => request(t.app).get(path(r.paymentLink));

/** The participant's open request (pending or sent), as the pay page links to it. */
async function openRequestOf(participantId: string) {
  return t.db.prisma.paymentRequest.findFirstOrThrow({ where: { participantId, status: { in: ["pending", "sent"] } } });
}

async function balancesOf(participantId: string) {
  const p = await t.db.prisma.participant.findUniqueOrThrow({ where: { id: participantId } });
  return { paid: p.paidAmount.toFixed(2), outstanding: p.outstandingAmount.toFixed(2), refundDue: p.refundDue.toFixed(2) };
}

/** Every way the page can say money arrived: none may appear where nothing was received. */
const CLAIMS_MONEY_RECEIVED = /Paid, thank you|paid in full|Partly paid|has been paid|you paid|Received/;

function expectPageHeaders(page: request.Response) {
  expect(page.headers["content-type"]).toMatch(/text\/html/);
  expect(page.headers["content-security-policy"]).toContain("default-src 'none'");
  expect(page.headers["cache-control"]).toBe("no-store");
}

describe("a partial payment (20.00 of a 50.00 request)", () => {
  it("says what was received and what is still owed, never 'paid' for the 50.00; the rest is payable through the next request", async () => {
    const { token, billId, byName, requestOf } = await billWithRequests(t, ["Bob", "Carl"]);
    const bob = requestOf("Bob");
    expect(bob.amount).toBe("50.00");
    expect((await postWebhook(t, paymentEvent(bob, "payment.succeeded", { amount: "20.00" }))).body.outcome).toBe("applied");
    expect(await balancesOf(byName.Bob)).toEqual({ paid: "20.00", outstanding: "30.00", refundDue: "0.00" });

    // The request that took 20.00: partly paid, no open request yet, so ask for a link.
    let page = await open(bob);
    expect(page.status).toBe(200);
    expectPageHeaders(page);
    expect(page.text).toContain("<h1>Partly paid</h1>");
    expect(page.text).toMatch(/<dt>Received<\/dt><dd>20\.00 USD<\/dd>\s*<dt>Still owed<\/dt><dd>30\.00 USD<\/dd>/);
    expect(page.text).toContain("Ask the person who shared the bill for a link to pay the rest.");
    expect(page.text).not.toContain("Paid, thank you");
    expect(page.text).not.toContain("50.00");
    expect(page.text).not.toContain("Pay now");
    // Its QR and its "Pay now" are closed: nothing more is collected through it.
    expect((await request(t.app).get(new URL(bob.qrCodeSvgUrl!).pathname)).status).toBe(410);
    const pay = await request(t.app).post(`${path(bob.paymentLink)}/pay`);
    expect(pay.status).toBe(303);
    expect(pay.headers.location).not.toContain("submitted=1");

    // The creator asks again: a request for the remaining 30.00, which the old page points to.
    const again = await as(t, token).post(`/bills/${billId}/participants/${byName.Bob}/request-payment`);
    expect(again.status).toBe(200);
    const rest = (await openRequestOf(byName.Bob)) as unknown as { payToken: string; status: string; amount: { toFixed(n: number): string } };
    expect([rest.status, rest.amount.toFixed(2)]).toEqual(["sent", "30.00"]);
    page = await open(bob);
    expect(page.status).toBe(200);
    expect(page.text).toContain("<h1>Partly paid</h1>");
    expect(page.text).toContain(`href="/pay/${rest.payToken}"`);
    expect(page.text).toContain("Pay the rest: 30.00 USD");

    // The new request's own page: payable here (QR, Pay now) for what it asks, with what arrived.
    const restPage = await request(t.app).get(`/pay/${rest.payToken}`);
    expect(restPage.status).toBe(200);
    expect(restPage.text).toContain('<p class="amount" aria-label="Amount to pay">30.00 USD</p>');
    expect(restPage.text).toContain("Partly paid: 20.00 USD received.");
    expect(restPage.text).toMatch(/<dt>Received<\/dt><dd>20\.00 USD<\/dd><dt>Still owed<\/dt><dd>30\.00 USD<\/dd>/);
    expect(restPage.text).toContain("<svg");
    expect(restPage.text).toContain("Pay now");

    // The rest arrives: both links now say paid in full, with the 50.00 received.
    const restRequest = again.body.requests[0] as RequestOut;
    expect((await postWebhook(t, paymentEvent(restRequest))).body.outcome).toBe("applied");
    for (const link of [path(bob.paymentLink), `/pay/${rest.payToken}`]) {
      page = await request(t.app).get(link);
      expect(page.status).toBe(200);
      expect(page.text).toContain("Paid, thank you");
      expect(page.text).toContain("<dt>Received</dt><dd>50.00 USD</dd>");
      expect(page.text).not.toContain("Owed back");
    }
  });
});

describe("a re-split that supersedes a link", () => {
  it("the old link says the amount changed and points to the new one; once that is paid it says what was received, never the old amount", async () => {
    const { token, billId, byName, requestOf } = await billWithRequests(t, ["P1", "P2"]);
    const old = requestOf("P1");
    expect(old.amount).toBe("50.00");
    const split = await as(t, token)
      .post(`/bills/${billId}/split/custom-amount`)
      .send({
        amounts: [
          { participantId: byName.P1, amount: "60.00" },
          { participantId: byName.P2, amount: "40.00" },
        ],
      });
    expect(split.status).toBe(200);
    const stored = await t.db.prisma.paymentRequest.findUniqueOrThrow({ where: { id: old.id } });
    expect([stored.status, stored.statusReasonCode]).toEqual(["cancelled", "superseded"]);
    const current = await openRequestOf(byName.P1);
    expect(current.amount.toFixed(2)).toBe("60.00");

    let page = await open(old);
    expect(page.status).toBe(410);
    expectPageHeaders(page);
    expect(page.text).toContain("This link is no longer valid: the amount owed changed.");
    expect(page.text).toContain("60.00 USD is owed now, through a newer link.");
    expect(page.text).toContain(`href="/pay/${current.payToken}"`);
    expect(page.text).not.toMatch(CLAIMS_MONEY_RECEIVED);

    // P1 pays the new request: the old link stays superseded (410) and does not claim the 50.00.
    expect(
      (await postWebhook(t, paymentEvent({ paymentId: current.paymentId, reference: current.reference, amount: "60.00", currency: "USD" }))).body.outcome,
    ).toBe("applied");
    expect(await balancesOf(byName.P1)).toEqual({ paid: "60.00", outstanding: "0.00", refundDue: "0.00" });
    page = await open(old);
    expect(page.status).toBe(410);
    expect(page.text).toContain("the amount owed changed");
    expect(page.text).toContain("Nothing more is owed.");
    expect(page.text).toContain("<dt>Received</dt><dd>60.00 USD</dd>");
    expect(page.text).not.toContain("50.00");
    expect(page.text).not.toContain("Paid, thank you");
    expect(page.text).not.toContain("href=");
    // The new link is the one that was paid.
    page = await request(t.app).get(`/pay/${current.payToken}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain("Paid, thank you");
    expect(page.text).toContain("<dt>Received</dt><dd>60.00 USD</dd>");
  });
});

describe("a cancelled bill", () => {
  it("answers 410 on every link: nothing is owed, and what each person paid is owed back to them", async () => {
    const { token, billId, requestOf } = await billWithRequests(t, ["Alice", "Bob", "Carl"], { totalAmount: "90.00" });
    expect((await postWebhook(t, paymentEvent(requestOf("Alice")))).body.outcome).toBe("applied");
    expect((await postWebhook(t, paymentEvent(requestOf("Bob"), "payment.succeeded", { amount: "10.00" }))).body.outcome).toBe("applied");
    expect((await open(requestOf("Alice"))).text).toContain("Paid, thank you");
    expect((await as(t, token).delete(`/bills/${billId}`).send({ reason: "wrong table" })).status).toBe(200);

    const alice = await open(requestOf("Alice"));
    expect(alice.status).toBe(410);
    expect(alice.text).toContain("This bill was cancelled; nothing is owed.");
    expect(alice.text).toContain("The 30.00 USD you paid is owed back to you.");
    expect(alice.text).toContain("<dt>Owed back to you</dt><dd>30.00 USD</dd>");
    expect(alice.text).not.toContain("Paid, thank you");

    const bob = await open(requestOf("Bob"));
    expect(bob.status).toBe(410);
    expect(bob.text).toContain("The 10.00 USD you paid is owed back to you.");
    expect(bob.text).not.toContain("30.00");

    const carl = await open(requestOf("Carl"));
    expect(carl.status).toBe(410);
    expect(carl.text).toContain("This bill was cancelled; nothing is owed.");
    expect(carl.text).not.toContain("owed back");
    expect(carl.text).not.toMatch(CLAIMS_MONEY_RECEIVED);
    expect((await request(t.app).get(new URL(requestOf("Carl").qrCodeSvgUrl!).pathname)).status).toBe(410);
  });
});

describe("a removed participant", () => {
  it("answers 410: they are no longer on the bill, owe nothing, and what they paid is owed back (names escaped)", async () => {
    const { token, billId, byName, requestOf } = await billWithRequests(t, ["P1", "<b>Dee</b>", "Eve"], { totalAmount: "90.00" });
    const dee = requestOf("<b>Dee</b>");
    expect((await postWebhook(t, paymentEvent(dee, "payment.succeeded", { amount: "20.00" }))).body.outcome).toBe("applied");
    for (const name of ["<b>Dee</b>", "Eve"]) expect((await as(t, token).delete(`/bills/${billId}/participants/${byName[name]}`)).status).toBe(204);

    const page = await open(dee);
    expect(page.status).toBe(410);
    expectPageHeaders(page);
    expect(page.text).toContain("&#60;b&#62;Dee&#60;&#47;b&#62; is no longer on this bill; nothing is owed.");
    expect(page.text).not.toContain("<b>Dee</b>");
    expect(page.text).toContain("The 20.00 USD you paid is owed back to you.");
    expect(page.text).not.toContain("Partly paid");

    const eve = await open(requestOf("Eve"));
    expect(eve.status).toBe(410);
    expect(eve.text).toContain("Eve is no longer on this bill; nothing is owed.");
    expect(eve.text).not.toContain("owed back");
    expect(eve.text).not.toMatch(CLAIMS_MONEY_RECEIVED);
    // Removing Dee re-split the bill (Eve's first link superseded); removing Eve closed the next one.
    // Her first link says she was removed, not that the amount changed: she owes nothing any more.
    const eves = await t.db.prisma.paymentRequest.findMany({ where: { participantId: byName.Eve } });
    expect(eves.map((r) => r.statusReasonCode).sort()).toEqual(["participant_removed", "superseded"]);
    expect(eve.text).not.toContain("amount owed changed");
  });
});

describe("failed and expired links", () => {
  it("answer 410 as before, and say what is still owed and where to pay it", async () => {
    const { token, billId, byName, requestOf } = await billWithRequests(t, ["A", "B"]);
    expect((await postWebhook(t, paymentEvent(requestOf("A"), "payment.failed"))).body.outcome).toBe("applied");
    let page = await open(requestOf("A"));
    expect(page.status).toBe(410);
    expect(page.text).toContain("This payment did not go through.");
    expect(page.text).toContain("50.00 USD is still owed. Ask for a new link to try again.");

    const again = await as(t, token).post(`/bills/${billId}/participants/${byName.A}/request-payment`);
    expect(again.status).toBe(200);
    const current = await openRequestOf(byName.A);
    page = await open(requestOf("A"));
    expect(page.status).toBe(410);
    expect(page.text).toContain(`href="/pay/${current.payToken}"`);

    expect((await postWebhook(t, paymentEvent(requestOf("B"), "payment.expired"))).body.outcome).toBe("applied");
    page = await open(requestOf("B"));
    expect(page.status).toBe(410);
    expect(page.text).toContain("This payment request has expired.");
    expect(page.text).toContain("50.00 USD is still owed. Ask for a new link.");
    expect(page.text).not.toMatch(CLAIMS_MONEY_RECEIVED);
  });
});

describe("mark-as-paid", () => {
  it("the link it closed (paid elsewhere) is 410: nothing owed through it, with what was received", async () => {
    const { token, billId, byName, requestOf } = await billWithRequests(t, ["A", "B"]);
    expect((await as(t, token).put(`/bills/${billId}/participants/${byName.A}/mark-as-paid`).send({})).status).toBe(200);
    const stored = await t.db.prisma.paymentRequest.findUniqueOrThrow({ where: { id: requestOf("A").id } });
    expect([stored.status, stored.statusReasonCode]).toEqual(["cancelled", "paid_elsewhere"]);
    const page = await open(requestOf("A"));
    expect(page.status).toBe(410);
    expect(page.text).toContain("This share was settled another way; nothing is owed through this link.");
    expect(page.text).toContain("<dt>Received</dt><dd>50.00 USD</dd>");
  });
});
