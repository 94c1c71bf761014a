// A payer with no bank account opens the payment link on a phone-sized screen, sees the amount and
// the QR code, presses "Pay now", and the API then shows them paid.
import { tmpdir } from "node:os";
import path from "node:path";
import type { Browser } from "playwright-core";
import { signDevelopmentToken } from "../../src/http/auth";
import { launchChromium } from "../support/chromium";
import { startIsolatedServer } from "../support/server-process";

const secret = "browser-secret-that-is-long-enough-for-hs256";

let server: Awaited<ReturnType<typeof startIsolatedServer>>;
let browser: Browser;
let headers: Record<string, string>;

beforeAll(async () => {
  server = await startIsolatedServer("browser", {
    JWT_SECRET: secret,
    PAYMENT_MOCK_DELAY_MS: "0",
  });
  headers = { authorization: `Bearer ${await signDevelopmentToken(secret, "browser-creator")}`, "content-type": "application/json" };
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.dispose();
});

async function call(method: string, url: string, body?: unknown) {
  const res = await fetch(`${server.url}/api/chillbill${url}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return (await res.json()) as Record<string, unknown>;
}

it("opens the payment link, sees the amount and the QR, pays, and the API shows the participant paid", async () => {
  const bill = await call("POST", "/bills", { totalAmount: "45.00", currency: "USD", merchantName: "Pho & Co" });
  const id = bill.id as string;
  const bob = await call("POST", `/bills/${id}/participants`, { name: "Bob" });
  await call("POST", `/bills/${id}/participants`, { name: "Carl" });
  await call("POST", `/bills/${id}/split/equal`, {});
  const { requests } = (await call("POST", `/bills/${id}/request-payments`)) as { requests: { participantId: string; paymentLink: string }[] };
  const link = requests.find((r) => r.participantId === bob.id)!.paymentLink;

  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await page.goto(link);
  await page.getByRole("heading", { name: "Pho & Co" }).waitFor();
  expect(await page.getByLabel("Amount to pay").textContent()).toBe("22.50 USD");
  expect(await page.locator("figure.qr svg").count()).toBe(1);
  const box = await page.locator("figure.qr svg").boundingBox();
  expect(box!.width).toBeGreaterThan(150);
  expect(box!.width).toBeLessThanOrEqual(390);
  await page.screenshot({ path: path.join(tmpdir(), "chillbill-pay-page.png") });

  await page.getByRole("button", { name: "Pay now" }).click();
  await page.getByText(/Paid, thank you|Payment submitted/).first().waitFor();

  let status = "";
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && status !== "paid") {
    const participants = (await call("GET", `/bills/${id}/participants`)).items as { id: string; paymentStatus: string }[];
    status = participants.find((p) => p.id === bob.id)!.paymentStatus;
    if (status !== "paid") await new Promise((r) => setTimeout(r, 100));
  }
  expect(status).toBe("paid");
  await page.reload();
  await page.getByText("Paid, thank you").waitFor();
});
