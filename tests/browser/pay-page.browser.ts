// The pay page in Debian's Chromium on a phone-sized screen, in each of its states: a payer with no
// bank account opens the link, sees the amount and the QR code, presses "Pay now", and the API then
// shows them paid; after a partial payment, a re-split, a cancelled bill, a removal and a failed
// payment, each link says what was received, what is owed and where to pay it, and never "paid"
// for money that did not arrive. One screenshot per state: <tmpdir>/chillbill-pay-page-<state>.png.
import { tmpdir } from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { PAYMENT_SIGNATURE_HEADER } from "../../src/adapters/payments/payment-system";
import { signPayload } from "../../src/domain/signature";
import { signDevelopmentToken } from "../../src/http/auth";
import { launchChromium } from "../support/chromium";
import { startIsolatedServer } from "../support/server-process";

const secret = "browser-secret-that-is-long-enough-for-hs256";
const paymentSecret = "browser-payment-webhook-secret";
const PHONE = { width: 390, height: 844 };
/** Every way the page can say money arrived: none may appear where nothing was received. */
const CLAIMS_MONEY_RECEIVED = /Paid, thank you|paid in full|Partly paid|has been paid|you paid|Received/;

let server: Awaited<ReturnType<typeof startIsolatedServer>>;
let browser: Browser;
let headers: Record<string, string>;

beforeAll(async () => {
  server = await startIsolatedServer("browser", {
    JWT_SECRET: secret,
    PAYMENT_WEBHOOK_SECRET: paymentSecret,
    PAYMENT_MOCK_DELAY_MS: "0",
  });
  headers = { authorization: `Bearer ${await signDevelopmentToken(secret, "browser-creator")}`, "content-type": "application/json" };
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.dispose();
});

type PaymentRequestOut = { participantId: string; paymentId: string; reference: string; amount: string; currency: string; paymentLink: string };

async function call(method: string, url: string, body?: unknown) {
  const res = await fetch(`${server.url}/api/chillbill${url}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status >= 400) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? {} : ((await res.json()) as Record<string, unknown>);
}

/** A bill split equally among `names`, everyone asked to pay; `link(name)` and `request(name)` find theirs. */
async function billWithRequests(names: string[], bill: Record<string, unknown> = {}) {
  const { id } = (await call("POST", "/bills", { totalAmount: "100.00", currency: "USD", merchantName: "Pho & Co", ...bill })) as { id: string };
  const people: Record<string, string> = {};
  for (const name of names) people[name] = ((await call("POST", `/bills/${id}/participants`, { name })) as { id: string }).id;
  await call("POST", `/bills/${id}/split/equal`, {});
  const { requests } = (await call("POST", `/bills/${id}/request-payments`)) as { requests: PaymentRequestOut[] };
  const request = (name: string) => requests.find((r) => r.participantId === people[name])!;
  return { id, people, request, link: (name: string) => request(name).paymentLink };
}

/** The payment system's signed webhook, as it sends it, for `amount` of a request. */
async function payThroughWebhook(r: PaymentRequestOut, amount = r.amount, type = "payment.succeeded") {
  const raw = JSON.stringify({
    id: `evt_browser_${Math.random().toString(36).slice(2)}`,
    type,
    created: Math.floor(Date.now() / 1000),
    data: { paymentId: r.paymentId, reference: r.reference, amount, currency: r.currency },
  });
  const res = await fetch(`${server.url}/api/chillbill/webhook/payment-callback`, {
    method: "POST",
    headers: { "content-type": "application/json", [PAYMENT_SIGNATURE_HEADER]: signPayload(paymentSecret, raw, Math.floor(Date.now() / 1000)) },
    body: raw,
  });
  expect(((await res.json()) as { outcome: string }).outcome).toBe("applied");
}

/** Opens a link on a phone-sized screen and checks what every state shares: the status, the main landmark, no sideways scrolling. */
async function openPage(link: string, status: number): Promise<Page> {
  const page = await browser.newPage({ viewport: PHONE });
  const response = await page.goto(link);
  expect(response!.status()).toBe(status);
  await page.getByRole("main").waitFor();
  // (Browser-side code as a string: the tests compile without the DOM's types.)
  expect(await page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(PHONE.width);
  return page;
}

async function screenshot(page: Page, state: string) {
  await page.screenshot({ path: path.join(tmpdir(), `chillbill-pay-page-${state}.png`), fullPage: true });
}

const mainText = async (page: Page) => (await page.getByRole("main").textContent()) ?? "";

it("opens the payment link, sees the amount and the QR, pays, and the API shows the participant paid", async () => {
  const bill = await billWithRequests(["Bob", "Carl"], { totalAmount: "45.00" });

  const page = await openPage(bill.link("Bob"), 200);
  await page.getByRole("heading", { name: "Pho & Co" }).waitFor();
  expect(await page.getByLabel("Amount to pay").textContent()).toBe("22.50 USD");
  expect(await page.locator("figure.qr svg").count()).toBe(1);
  const box = await page.locator("figure.qr svg").boundingBox();
  expect(box!.width).toBeGreaterThan(150);
  expect(box!.width).toBeLessThanOrEqual(PHONE.width);
  expect(await mainText(page)).not.toMatch(CLAIMS_MONEY_RECEIVED);
  await screenshot(page, "payable");

  await page.getByRole("button", { name: "Pay now" }).click();
  await page
    .getByText(/Paid, thank you|Payment submitted/)
    .first()
    .waitFor();

  let status = "";
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && status !== "paid") {
    const participants = (await call("GET", `/bills/${bill.id}/participants`)).items as { id: string; paymentStatus: string }[];
    status = participants.find((p) => p.id === bill.people.Bob)!.paymentStatus;
    if (status !== "paid") await new Promise((r) => setTimeout(r, 100));
  }
  expect(status).toBe("paid");
  await page.reload();
  await page.getByRole("heading", { name: "Paid, thank you" }).waitFor();
  expect(await mainText(page)).toContain("Received22.50 USD");
  await screenshot(page, "paid-in-full");
});

it("partly paid: 20.00 of 50.00 received, 30.00 owed; the rest is asked by a new link, paid there, and both links then say paid in full", async () => {
  const bill = await billWithRequests(["Bob", "Carl"]);
  await payThroughWebhook(bill.request("Bob"), "20.00");

  // The link that took 20.00: no open request for the rest yet.
  let page = await openPage(bill.link("Bob"), 200);
  await page.getByRole("heading", { name: "Partly paid" }).waitFor();
  let text = await mainText(page);
  expect(text).toContain("Received20.00 USD");
  expect(text).toContain("Still owed30.00 USD");
  expect(text).toContain("Ask the person who shared the bill for a link to pay the rest.");
  expect(text).not.toContain("50.00");
  expect(await page.getByRole("button", { name: "Pay now" }).count()).toBe(0);
  await screenshot(page, "partly-paid-ask");

  // Asked again: the old link points to the new request, which is payable for the 30.00.
  await call("POST", `/bills/${bill.id}/participants/${bill.people.Bob}/request-payment`);
  await page.reload();
  const rest = page.getByRole("link", { name: "Pay the rest: 30.00 USD" });
  await rest.waitFor();
  const restBox = await rest.boundingBox();
  expect(restBox!.width).toBeLessThanOrEqual(PHONE.width);
  await rest.focus();
  expect(await page.evaluate<string>("getComputedStyle(document.activeElement).outlineStyle")).toBe("solid");
  await screenshot(page, "partly-paid-link");

  await rest.click();
  await page.getByRole("heading", { name: "Pho & Co" }).waitFor();
  expect(new URL(page.url()).pathname).toMatch(/^\/pay\/[A-Za-z0-9_-]{32}$/);
  expect(new URL(page.url()).pathname).not.toBe(new URL(bill.link("Bob")).pathname);
  expect(await page.getByLabel("Amount to pay").textContent()).toBe("30.00 USD");
  text = await mainText(page);
  expect(text).toContain("Partly paid: 20.00 USD received.");
  expect(text).toContain("Still owed30.00 USD");
  expect(await page.locator("figure.qr svg").count()).toBe(1);
  await screenshot(page, "partly-paid-here");

  await page.getByRole("button", { name: "Pay now" }).click();
  await page
    .getByRole("status")
    .or(page.getByRole("heading", { name: "Paid, thank you" }))
    .first()
    .waitFor();
  // The page refreshes itself every 2 s after "Pay now" until the payment is confirmed.
  await page.getByRole("heading", { name: "Paid, thank you" }).waitFor({ timeout: 30_000 });
  expect(await mainText(page)).toContain("Received50.00 USD");

  page = await openPage(bill.link("Bob"), 200);
  await page.getByRole("heading", { name: "Paid, thank you" }).waitFor();
  expect(await mainText(page)).toContain("Received50.00 USD");
});

it("superseded: the old link says the amount changed and links to the current request; once that is paid it never claims the old amount", async () => {
  const bill = await billWithRequests(["P1", "P2"]);
  await call("POST", `/bills/${bill.id}/split/custom-amount`, {
    amounts: [
      { participantId: bill.people.P1, amount: "60.00" },
      { participantId: bill.people.P2, amount: "40.00" },
    ],
  });

  let page = await openPage(bill.link("P1"), 410);
  await page.getByRole("heading", { name: "This link can no longer be paid" }).waitFor();
  expect(await mainText(page)).toContain("This link is no longer valid: the amount owed changed.");
  expect(await mainText(page)).not.toMatch(CLAIMS_MONEY_RECEIVED);
  const current = page.getByRole("link", { name: "Pay with the current link: 60.00 USD" });
  await screenshot(page, "superseded");
  await current.click();
  await page.getByRole("heading", { name: "Pho & Co" }).waitFor();
  expect(await page.getByLabel("Amount to pay").textContent()).toBe("60.00 USD");
  await page.getByRole("button", { name: "Pay now" }).click();
  await page.getByRole("heading", { name: "Paid, thank you" }).waitFor({ timeout: 30_000 });

  page = await openPage(bill.link("P1"), 410);
  const text = await mainText(page);
  expect(text).toContain("the amount owed changed");
  expect(text).toContain("Nothing more is owed.");
  expect(text).toContain("Received60.00 USD");
  expect(text).not.toContain("50.00");
  expect(await page.getByRole("link").count()).toBe(0);
  await screenshot(page, "superseded-then-paid");
});

it("cancelled: a cancelled bill owes nothing and says what is owed back; a removed participant likewise", async () => {
  const bill = await billWithRequests(["Alice", "Bob"]);
  await payThroughWebhook(bill.request("Alice"));
  await call("DELETE", `/bills/${bill.id}`, { reason: "wrong table" });

  let page = await openPage(bill.link("Alice"), 410);
  await page.getByRole("heading", { name: "This link can no longer be paid" }).waitFor();
  let text = await mainText(page);
  expect(text).toContain("This bill was cancelled; nothing is owed.");
  expect(text).toContain("The 50.00 USD you paid is owed back to you.");
  expect(text).not.toContain("Paid, thank you");
  await screenshot(page, "cancelled-refund-due");

  page = await openPage(bill.link("Bob"), 410);
  text = await mainText(page);
  expect(text).toContain("This bill was cancelled; nothing is owed.");
  expect(text).not.toMatch(CLAIMS_MONEY_RECEIVED);

  const other = await billWithRequests(["Dee", "Eve"]);
  await payThroughWebhook(other.request("Dee"), "20.00");
  await call("DELETE", `/bills/${other.id}/participants/${other.people.Dee}`);
  page = await openPage(other.link("Dee"), 410);
  text = await mainText(page);
  expect(text).toContain("Dee is no longer on this bill; nothing is owed.");
  expect(text).toContain("The 20.00 USD you paid is owed back to you.");
  await screenshot(page, "cancelled-removed");
});

it("failed and unknown links: 410 with what is still owed, and 404", async () => {
  const bill = await billWithRequests(["A", "B"]);
  await payThroughWebhook(bill.request("A"), undefined, "payment.failed");
  let page = await openPage(bill.link("A"), 410);
  const text = await mainText(page);
  expect(text).toContain("This payment did not go through.");
  expect(text).toContain("50.00 USD is still owed. Ask for a new link to try again.");
  expect(text).not.toMatch(CLAIMS_MONEY_RECEIVED);
  await screenshot(page, "failed");

  page = await openPage(`${server.url}/pay/${"x".repeat(32)}`, 404);
  await page.getByRole("heading", { name: "This payment link is not valid" }).waitFor();
  await screenshot(page, "not-found");
});
