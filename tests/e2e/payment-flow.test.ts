// The real server with the mock payment system and its real timers: split, request payments, let
// the mock pay everyone through its signed webhooks, and see the bill completed with its history.
import { signDevelopmentToken } from "../../src/http/auth";
import { startIsolatedServer } from "../support/server-process";

const secret = "e2e-secret-that-is-long-enough-for-hs256";
jest.setTimeout(120_000);

let server: Awaited<ReturnType<typeof startIsolatedServer>>;
let headers: Record<string, string>;

beforeAll(async () => {
  server = await startIsolatedServer("e2e-pay", {
    JWT_SECRET: secret,
    PAYMENT_MOCK_DELAY_MS: "300",
  });
  headers = { authorization: `Bearer ${await signDevelopmentToken(secret, "e2e-payer")}`, "content-type": "application/json" };
});

afterAll(async () => {
  await server?.dispose();
});

async function call(method: string, url: string, body?: unknown) {
  const res = await fetch(`${server.url}/api/chillbill${url}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function readEvents(billId: string, until: RegExp, signal: AbortSignal): Promise<string> {
  const res = await fetch(`${server.url}/api/chillbill/bills/${billId}/events`, { headers, signal });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  let text = "";
  while (!until.test(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString("utf8");
  }
  return text;
}

it("splits, asks everyone to pay, and the mock's webhooks complete the bill", async () => {
  const bill = await call("POST", "/bills", { totalAmount: "100.00", currency: "USD", merchantName: "Test Restaurant" });
  const id = bill.body.id as string;
  await call("POST", `/bills/${id}/participants`, { name: "Me", userId: "e2e-payer" });
  await call("POST", `/bills/${id}/participants`, { name: "Alice", phone: "+84901234567" });
  await call("POST", `/bills/${id}/participants`, { name: "Bob" });
  expect((await call("POST", `/bills/${id}/split/equal`, {})).status).toBe(200);
  // Someone watches the bill's event stream while it is paid.
  const abort = new AbortController();
  const stream = readEvents(id, /event: bill\.status\ndata: [^\n]*"completed"/, abort.signal);
  await new Promise((r) => setTimeout(r, 100));
  const requested = await call("POST", `/bills/${id}/request-payments`);
  expect(requested.status).toBe(200);
  expect((requested.body.requests as unknown[]).length).toBe(2);

  let status = "";
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && status !== "completed") {
    await new Promise((r) => setTimeout(r, 150));
    status = (await call("GET", `/bills/${id}`)).body.status as string;
  }
  expect(status).toBe("completed");
  const details = await call("GET", `/bills/${id}`);
  // Received: the two others' shares (who gets the extra cent depends on the bill id); the creator pays nothing.
  expect(details.body.totals).toEqual({
    participantCount: 3,
    assignedAmount: "100.00",
    paidAmount: "100.00",
    unpaidAmount: "0.00",
    receivedAmount: expect.stringMatching(/^66\.6[67]$/),
    refundDueAmount: "0.00",
  });

  const events = await stream;
  abort.abort();
  expect(events).toMatch(/^retry: 3000\n\nevent: snapshot\n/);
  const order = [...events.matchAll(/event: ([a-z.]+)\ndata: (.*)\n/g)].map((m) =>
    m[1] === "bill.status" ? `bill.status:${JSON.parse(m[2]).data.status}` : m[1],
  );
  expect(order).toEqual(["snapshot", "bill.status:active", "payment.received", "payment.received", "bill.status:completed"]);

  const history = (await call("GET", `/bills/${id}/status-history`)).body.items as { entity: string; newStatus: string; changedBy: string }[];
  expect(history.filter((h) => h.entity === "bill").map((h) => `${h.newStatus}/${h.changedBy}`)).toEqual([
    "created/e2e-payer",
    "active/e2e-payer",
    "completed/webhook",
  ]);
});
