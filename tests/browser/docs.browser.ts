// A developer opens /docs, finds both documents in the selector, and switches to the internal one
// to read the payment webhook: the page and the documents load under the docs page's CSP.
import type { Browser } from "playwright-core";
import { launchChromium } from "../support/chromium";
import { startIsolatedServer } from "../support/server-process";

let server: Awaited<ReturnType<typeof startIsolatedServer>>;
let browser: Browser;

beforeAll(async () => {
  server = await startIsolatedServer("docs-browser", {});
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await server?.dispose();
});

it("offers the public and the internal document, and the internal one shows the payment webhook", async () => {
  const page = await browser.newPage();
  const refused: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") refused.push(m.text());
  });
  await page.goto(`${server.url}/docs/`);
  await page.locator(".info .title", { hasText: "ChillBill API" }).waitFor();
  const selector = page.locator(".download-url-wrapper select");
  expect(await selector.locator("option").allTextContents()).toEqual(["ChillBill API", "ChillBill internal callbacks (AI service, payment system)"]);
  await page.locator(".opblock-summary-path", { hasText: "/api/chillbill/bills" }).first().waitFor();

  await selector.selectOption({ label: "ChillBill internal callbacks (AI service, payment system)" });
  await page.locator(".info .title", { hasText: "ChillBill internal callbacks" }).waitFor();
  await page.locator(".opblock-summary-path", { hasText: "/api/chillbill/webhook/payment-callback" }).waitFor();
  expect(await page.locator(".opblock-summary-path", { hasText: "/api/chillbill/internal/bills/{billId}/bill-result" }).count()).toBe(1);
  expect(await page.locator(".opblock-summary-path", { hasText: "/api/chillbill/bills/{billId}/split/equal" }).count()).toBe(0);
  expect(refused).toEqual([]);
});
