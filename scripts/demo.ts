// `npm run demo`: the whole story in the terminal against a running service (DEMO_URL), or against
// one it starts on the embedded database: create a bill, upload the two sample photos, wait for
// the AI, see the people, split, ask them to pay, let the mock payment system pay, and show the
// status, the history and the report. Each request and a short form of its answer are printed.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { loadConfig } from "../src/config";
import { signDevelopmentToken } from "../src/http/auth";
import { startServer, type RunningServer } from "../src/server";

const USER = process.env.DEMO_USER ?? "demo-user";
const SECRET = process.env.JWT_SECRET ?? "chillbill-development-secret-not-for-production-use";
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

let base = process.env.DEMO_URL?.replace(/\/$/, "");
let auth = "";

function brief(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

async function call(method: string, url: string, body?: unknown, form?: FormData): Promise<any> {
  const res = await fetch(`${base}/api/chillbill${url}`, {
    method,
    headers: { authorization: auth, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: form ?? (body !== undefined ? JSON.stringify(body) : undefined),
  });
  const answer = res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text();
  console.log(`${bold(`${method} ${url}`)} -> ${res.status}\n  ${dim(brief(answer))}`);
  if (!res.ok) throw new Error(`${method} ${url} failed with ${res.status}`);
  return answer;
}

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  process.stdout.write(dim(`  waiting for ${what}`));
  while (Date.now() < end) {
    const value = await check();
    if (value !== undefined) {
      process.stdout.write("\n");
      return value;
    }
    process.stdout.write(dim("."));
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main() {
  let server: RunningServer | undefined;
  let dir: string | undefined;
  if (!base) {
    dir = mkdtempSync(path.join(tmpdir(), "chillbill-demo-"));
    const config = loadConfig({
      ...process.env,
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "warn",
      PGLITE_DATA_DIR: path.join(dir, "data"),
      UPLOAD_DIR: path.join(dir, "uploads"),
      JWT_SECRET: SECRET,
      AI_MOCK_DELAY_MS: "800",
      PAYMENT_MOCK_DELAY_MS: "1500",
      DATABASE_URL: "",
    });
    server = await startServer(config, pino({ level: "warn" }));
    base = `http://127.0.0.1:${server.port}`;
    console.log(dim(`Started ChillBill on ${base} (embedded database in ${dir})`));
  }
  auth = `Bearer ${await signDevelopmentToken(SECRET, USER)}`;
  try {
    console.log(bold("\n1. A bill, created empty: the AI will read the receipt"));
    const bill = await call("POST", "/bills", {});
    const samples = path.resolve(__dirname, "../samples");
    for (const [kind, file] of [["bill", "receipt.png"], ["group", "group.png"]]) {
      const form = new FormData();
      form.set("image", new Blob([readFileSync(path.join(samples, file))], { type: "image/png" }), file);
      await call("POST", `/bills/${bill.id}/${kind}-image`, undefined, form);
    }

    console.log(bold("\n2. The AI service answers by signed callbacks"));
    await waitFor("the AI results", async () => {
      const s = await fetch(`${base}/api/chillbill/bills/${bill.id}/processing-status`, { headers: { authorization: auth } }).then((r) => r.json() as Promise<any>);
      return s.billImage.state === "completed" && s.groupImage.state === "completed" ? s : undefined;
    });
    await call("GET", `/bills/${bill.id}`);

    console.log(bold("\n3. The creator joins, and the bill is split equally"));
    await call("POST", `/bills/${bill.id}/participants`, { name: "Me", userId: USER });
    await call("POST", `/bills/${bill.id}/split/equal`, {});

    console.log(bold("\n4. Everyone is asked to pay: Alice in her banking app, Bob by link and QR code"));
    const requested = await call("POST", `/bills/${bill.id}/request-payments`);
    for (const r of requested.requests) console.log(`  ${r.participantName}: ${r.amount} ${r.currency} via ${r.channel}${r.paymentLink ? ` ${r.paymentLink}` : ""}`);

    console.log(bold("\n5. The mock payment system collects and reports by signed webhooks"));
    await waitFor("everyone to pay", async () => {
      const s = await fetch(`${base}/api/chillbill/bills/${bill.id}/status`, { headers: { authorization: auth } }).then((r) => r.json() as Promise<any>);
      return s.status === "completed" ? s : undefined;
    });

    console.log(bold("\n6. Status, history and the report"));
    await call("GET", `/bills/${bill.id}/status`);
    const history = await call("GET", `/bills/${bill.id}/status-history`);
    for (const h of history.items) console.log(`  ${h.at}  ${h.entity.padEnd(15)} ${(h.participantName ?? "").padEnd(6)} ${String(h.previousStatus ?? "-").padEnd(9)} -> ${h.newStatus.padEnd(9)} by ${h.changedBy}: ${h.reason ?? ""}`);
    await call("GET", "/reports/summary");
    console.log(bold("\nDone."));
  } finally {
    await server?.stop("demo finished");
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
