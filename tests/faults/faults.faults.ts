// Faults against the real server process and a real PostgreSQL server (TEST_DATABASE_URL):
// SIGKILL in the middle of a flow, a database outage through a proxy the test can cut, and
// SIGTERM during a request. Run by `npm run test:faults` (CI runs it).
import { request as httpRequest } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "pg";
import { v7 as uuidv7 } from "uuid";
import { PAYMENT_SIGNATURE_HEADER } from "../../src/adapters/payments/payment-system";
import { signDevelopmentToken } from "../../src/http/auth";
import { signPayload } from "../../src/domain/signature";
import { pngBytes } from "../support/images";
import { startServer, type ServerProcess } from "../support/server-process";
import { TcpProxy } from "../support/tcp-proxy";
import { withDatabase } from "../support/test-database-url";

const serverUrl = process.env.TEST_DATABASE_URL;
const JWT = "faults-secret-that-is-long-enough-for-hs256";
const WEBHOOK = "faults-payment-webhook-secret";
const USER = "faults-user";

let admin: Client;
let dir: string;
const databases: string[] = [];
const servers: ServerProcess[] = [];

beforeAll(async () => {
  if (!serverUrl) throw new Error("The fault suite needs a PostgreSQL server: set TEST_DATABASE_URL");
  admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  dir = mkdtempSync(path.join(tmpdir(), "chillbill-faults-"));
});

afterAll(async () => {
  for (const s of servers) await s.stop("SIGKILL").catch(() => undefined);
  for (const name of databases) await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin?.end();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function freshDatabase(): Promise<string> {
  const name = `chillbill_test_faults_${Date.now().toString(36)}_${databases.length}`;
  await admin.query(`CREATE DATABASE "${name}"`);
  databases.push(name);
  return withDatabase(serverUrl!, name);
}

async function boot(env: Record<string, string>): Promise<ServerProcess> {
  const server = await startServer({
    JWT_SECRET: JWT,
    PAYMENT_WEBHOOK_SECRET: WEBHOOK,
    PAYMENT_MOCK_DELAY_MS: "0",
    UPLOAD_DIR: path.join(dir, "uploads"),
    ...env,
  });
  servers.push(server);
  return server;
}

function client(server: ServerProcess) {
  let token = "";
  return async (method: string, url: string, body?: unknown) => {
    token ||= await signDevelopmentToken(JWT, USER);
    const res = await fetch(`${server.url}/api/chillbill${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
}

async function webhook(server: ServerProcess, event: object): Promise<{ status: number; body?: any }> {
  const raw = JSON.stringify(event);
  try {
    const res = await fetch(`${server.url}/api/chillbill/webhook/payment-callback`, {
      method: "POST",
      headers: { "content-type": "application/json", [PAYMENT_SIGNATURE_HEADER]: signPayload(WEBHOOK, raw, Math.floor(Date.now() / 1000)) },
      body: raw,
      signal: AbortSignal.timeout(20_000),
    });
    return { status: res.status, body: await res.json() };
  } catch {
    return { status: 0 };
  }
}

async function billAwaitingPayment(call: ReturnType<typeof client>) {
  const bill = (await call("POST", "/bills", { totalAmount: "90.00", currency: "USD", merchantName: "Faults" })).body;
  await call("POST", `/bills/${bill.id}/participants`, { name: "A" });
  await call("POST", `/bills/${bill.id}/participants`, { name: "B" });
  await call("POST", `/bills/${bill.id}/split/equal`, {});
  const requested = await call("POST", `/bills/${bill.id}/request-payments`);
  expect(requested.status).toBe(200);
  return { billId: bill.id as string, requests: requested.body.requests as { participantId: string; paymentId: string; reference: string; amount: string; currency: string }[] };
}

const succeeded = (r: { paymentId: string; reference: string; amount: string; currency: string }) => ({
  id: `evt_${uuidv7()}`,
  type: "payment.succeeded",
  created: Math.floor(Date.now() / 1000),
  data: { paymentId: r.paymentId, reference: r.reference, amount: r.amount, currency: r.currency },
});

async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("SIGKILL in the middle of a flow", () => {
  it("an AI job pending when the server dies completes after a restart, applied once", async () => {
    const url = await freshDatabase();
    const first = await boot({ DATABASE_URL: url, AI_MOCK_DELAY_MS: "600000", AI_JOB_TIMEOUT_MS: "2000" });
    const call = client(first);
    const bill = (await call("POST", "/bills", {})).body;
    const form = new FormData();
    form.set("image", new Blob([pngBytes(4096)], { type: "image/png" }), "r.png");
    const token = await signDevelopmentToken(JWT, USER);
    const upload = await fetch(`${first.url}/api/chillbill/bills/${bill.id}/bill-image`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: form });
    expect(upload.status).toBe(202);
    expect(await first.stop("SIGKILL")).toBeNull();

    const second = await boot({ DATABASE_URL: url, AI_MOCK_DELAY_MS: "100", AI_JOB_TIMEOUT_MS: "2000" });
    const again = client(second);
    const status = await until("the AI job to complete", async () => {
      const s = (await again("GET", `/bills/${bill.id}/processing-status`)).body;
      return s.billImage.state === "completed" ? s : undefined;
    });
    expect(status.billImage.attempts).toBe(2);
    expect((await again("GET", `/bills/${bill.id}`)).body).toMatchObject({ totalAmount: "100.00", merchantName: "Test Restaurant" });
    await second.stop();
  });

  it("a payment webhook that could not be delivered while the server was down is applied once after the restart", async () => {
    const url = await freshDatabase();
    const first = await boot({ DATABASE_URL: url });
    const { billId, requests } = await billAwaitingPayment(client(first));
    const event = succeeded(requests[0]);
    expect(await first.stop("SIGKILL")).toBeNull();
    expect((await webhook(first, event)).status).toBe(0); // nobody listening: the payment system retries

    const second = await boot({ DATABASE_URL: url });
    expect((await webhook(second, event)).body).toMatchObject({ outcome: "applied" });
    expect((await webhook(second, event)).body).toMatchObject({ outcome: "duplicate" });
    const history = (await client(second)("GET", `/bills/${billId}/status-history`)).body.items as { entity: string; participantId: string; newStatus: string }[];
    expect(history.filter((h) => h.entity === "participant" && h.participantId === requests[0].participantId && h.newStatus === "paid")).toHaveLength(1);
    await second.stop();
  });
});

describe("database outage", () => {
  it("answers 503 quickly, reports not ready, refuses webhooks, and recovers without a restart", async () => {
    const url = new URL(await freshDatabase());
    const proxy = new TcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    const port = await proxy.start();
    const proxied = new URL(url.toString());
    proxied.port = String(port);
    proxied.hostname = "127.0.0.1";
    const server = await boot({ DATABASE_URL: proxied.toString(), DATABASE_POOL_MAX: "4" });
    try {
      const call = client(server);
      const { billId, requests } = await billAwaitingPayment(call);
      const event = succeeded(requests[0]);

      proxy.cut();
      const started = Date.now();
      const down = await call("GET", "/bills");
      expect(down.status).toBe(503);
      expect(down.body).toMatchObject({ code: "database_unavailable", status: 503 });
      expect(Date.now() - started).toBeLessThan(6_000);
      expect((await fetch(`${server.url}/ready`)).status).toBe(503);
      const refused = await webhook(server, event);
      expect(refused.status).toBeGreaterThanOrEqual(500);

      proxy.restore();
      await until("ready again", async () => ((await fetch(`${server.url}/ready`)).status === 200 ? true : undefined));
      expect((await webhook(server, event)).body).toMatchObject({ outcome: "applied" });
      expect((await webhook(server, event)).body).toMatchObject({ outcome: "duplicate" });
      const status = (await call("GET", `/bills/${billId}/status`)).body;
      expect(status.totals).toMatchObject({ paidCount: 1, unpaidCount: 1 });
      expect(server.child.exitCode).toBeNull();
    } finally {
      await server.stop();
      await proxy.close();
    }
  });
});

describe("graceful shutdown", () => {
  it("SIGTERM during an upload lets it finish, then exits cleanly", async () => {
    const server = await boot({ DATABASE_URL: await freshDatabase() });
    const call = client(server);
    const bill = (await call("POST", "/bills", {})).body;
    const token = await signDevelopmentToken(JWT, USER);
    const boundary = "----chillbill-faults";
    const file = pngBytes(512 * 1024);
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="slow.png"\r\nContent-Type: image/png\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const { port } = new URL(server.url);
    const answer = new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: "127.0.0.1",
          port,
          method: "POST",
          path: `/api/chillbill/bills/${bill.id}/bill-image`,
          headers: { authorization: `Bearer ${token}`, "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": head.length + file.length + tail.length },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.write(head);
      req.write(file.subarray(0, 1024));
      setTimeout(() => {
        server.child.kill("SIGTERM");
        setTimeout(() => {
          req.write(file.subarray(1024));
          req.end(tail);
        }, 500);
      }, 300);
    });
    expect(await answer).toBe(202);
    expect(await server.stop()).toBe(0);
    expect(server.logs().map((l) => l.msg)).toContain("Shutdown complete");
  });
});
