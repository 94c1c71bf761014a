// `npm run demo`: the whole story in the terminal against a running service (DEMO_URL), or against
// one it starts on a throwaway embedded database: create a bill, upload the two sample photos, wait
// for the AI, see the people, split, ask them to pay, pay through the mock payment system's pay page,
// and show the status, the history and the report. Each request and a short form of its answer are
// printed; the last line is "Demo passed: ..." (exit 0) or "Demo failed: ..." (exit 1), for CI.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { ConfigError, loadConfig, readEnvironment, type Config } from "../src/config";
import { toDecimal } from "../src/domain/money";
import { signDevelopmentToken } from "../src/http/auth";
import { startServer, type RunningServer } from "../src/server";

const USER = process.env.DEMO_USER ?? "demo-user";
const WAIT_MS = 30_000;
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

/** A failure the demo explains itself: its message is the whole story, no stack needed. */
class DemoError extends Error {}

let base = "";
let auth = "";

function brief(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

/** fetch, with "the service is not there" said plainly instead of "fetch failed". */
async function send(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(`${base}${url}`, init);
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new DemoError(`cannot reach ${base} (${cause?.code ?? cause?.message ?? String(err)}): is the service running?`);
  }
}

/** One API call, printed unless quiet (polling); an error answer becomes a DemoError with its status and problem detail. */
async function call(method: string, url: string, options: { body?: unknown; form?: FormData; quiet?: boolean } = {}): Promise<any> {
  const { body, form, quiet } = options;
  const res = await send(`/api/chillbill${url}`, {
    method,
    headers: { authorization: auth, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: form ?? (body !== undefined ? JSON.stringify(body) : undefined),
  });
  const answer = res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text();
  if (!quiet) console.log(`${bold(`${method} ${url}`)} -> ${res.status}\n  ${dim(brief(answer))}`);
  if (!res.ok) {
    const p: { title?: string; detail?: string; code?: string; requestId?: string } = typeof answer === "object" && answer !== null ? answer : {};
    const detail = [p.title, p.detail].filter(Boolean).join(": ") || String(answer).slice(0, 200) || res.statusText;
    const ids = [p.code && `code ${p.code}`, p.requestId && `request ${p.requestId}`].filter(Boolean).join(", ");
    const hint = res.status === 401 ? "; the token must be signed with the service's JWT_SECRET (and JWT_ISSUER/JWT_AUDIENCE if it checks them)" : "";
    throw new DemoError(`${method} ${url} -> ${res.status} ${detail}${ids ? ` (${ids})` : ""}${hint}`);
  }
  return answer;
}

/** Polls until check says done; on timeout, says what it last saw and what the service may lack. */
async function waitFor<T>(what: string, check: () => Promise<{ done?: T; state: string }>, hint: string): Promise<T> {
  const end = Date.now() + WAIT_MS;
  let state = "";
  process.stdout.write(dim(`  waiting for ${what}`));
  try {
    while (Date.now() < end) {
      const result = await check();
      if (result.done !== undefined) return result.done;
      state = result.state;
      process.stdout.write(dim("."));
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    process.stdout.write("\n");
  }
  throw new DemoError(`timed out after ${WAIT_MS / 1000} s waiting for ${what} (last seen: ${state}); ${hint}`);
}

/**
 * Presses "Pay now" on a request's pay page, as the payer would: the mock payment system then
 * sends the signed payment.succeeded webhook, exactly as when it pays by itself after a delay.
 */
async function payThroughPayPage(request: { participantName: string; status: string; paymentLink: string | null }): Promise<void> {
  const token = request.paymentLink ? /\/pay\/([A-Za-z0-9_-]+)$/.exec(new URL(request.paymentLink).pathname)?.[1] : undefined;
  if (!token)
    throw new DemoError(`${request.participantName}'s payment request has no pay page (status ${request.status}): the payment system did not take it`);
  const url = `/pay/${token}/pay`;
  const res = await send(url, { method: "POST", redirect: "manual" });
  const location = res.headers.get("location") ?? "";
  console.log(`${bold(`POST ${url}`)} -> ${res.status}${location ? ` ${location}` : ""}`);
  if (res.status !== 303) {
    throw new DemoError(`POST ${url} -> ${res.status}: no "Pay now" button; the service needs the mock payment system (PAYMENT_MODE=mock)`);
  }
  console.log(
    dim(
      `  ${request.participantName}: ${location.includes("submitted=1") ? "payment submitted" : "nothing left to pay (the mock had already paid by itself)"}`,
    ),
  );
}

/** The embedded service: mock AI and payments, nothing outside this process, everything in a temp folder. */
async function startEmbedded(dir: string): Promise<{ server: RunningServer; config: Config }> {
  const config = loadConfig({
    ...process.env,
    PORT: "0",
    HOST: "127.0.0.1",
    PUBLIC_BASE_URL: "",
    INTERNAL_BASE_URL: "",
    LOG_LEVEL: "warn",
    DATABASE_URL: "",
    PGLITE_DATA_DIR: path.join(dir, "data"),
    UPLOAD_DIR: path.join(dir, "uploads"),
    JWT_JWKS_URL: "",
    AI_MODE: "mock",
    AI_MOCK_DELAY_MS: "800",
    AI_MOCK_FIXTURES: "",
    AI_MOCK_FAIL: "false",
    PAYMENT_MODE: "mock",
    // Only the pay page pays, so the story is the same on every run.
    PAYMENT_MOCK_DELAY_MS: "0",
    SMTP_URL: "",
  });
  return { server: await startServer(config, pino({ level: "warn" })), config };
}

async function story(): Promise<string> {
  console.log(bold("\n1. A bill, created empty: the AI will read the receipt"));
  const bill = await call("POST", "/bills", { body: {} });
  const samples = path.resolve(__dirname, "../samples");
  for (const [kind, file] of [
    ["bill", "receipt.png"],
    ["group", "group.png"],
  ]) {
    const form = new FormData();
    form.set("image", new Blob([readFileSync(path.join(samples, file))], { type: "image/png" }), file);
    await call("POST", `/bills/${bill.id}/${kind}-image`, { form });
  }

  console.log(bold("\n2. The AI service answers by signed callbacks"));
  await waitFor(
    "the AI results",
    async () => {
      const s = await call("GET", `/bills/${bill.id}/processing-status`, { quiet: true });
      for (const image of [s.billImage, s.groupImage]) {
        if (image.state === "failed") throw new DemoError(`AI processing of the ${image.kind} image failed: ${image.error}`);
      }
      const done = s.billImage.state === "completed" && s.groupImage.state === "completed";
      return { done: done ? s : undefined, state: `receipt ${s.billImage.state}, group photo ${s.groupImage.state}` };
    },
    "the service needs the mock AI (AI_MODE=mock) to answer with the sample data",
  );
  await call("GET", `/bills/${bill.id}`);

  console.log(bold("\n3. The creator joins, and the bill is split equally"));
  await call("POST", `/bills/${bill.id}/participants`, { body: { name: "Me", userId: USER } });
  await call("POST", `/bills/${bill.id}/split/equal`, { body: {} });

  console.log(bold("\n4. Everyone is asked to pay: Alice in her banking app, Bob by link and QR code"));
  const requested = await call("POST", `/bills/${bill.id}/request-payments`);
  for (const r of requested.requests)
    console.log(`  ${r.participantName}: ${r.amount} ${r.currency} via ${r.channel}${r.paymentLink ? ` ${r.paymentLink}` : ""}`);

  console.log(bold('\n5. Each of them presses "Pay now" (the mock\'s pay page stands in for the banking app too);'));
  console.log(bold("   the mock payment system reports each payment by signed webhook"));
  for (const r of requested.requests) await payThroughPayPage(r);
  await waitFor(
    "everyone to pay",
    async () => {
      const s = await call("GET", `/bills/${bill.id}/status`, { quiet: true });
      return { done: s.status === "completed" ? s : undefined, state: `bill ${s.status}, ${s.totals.paidCount} of ${s.participants.length} paid` };
    },
    "the service needs the mock payment system (PAYMENT_MODE=mock), whose webhooks reach it",
  );

  console.log(bold("\n6. Status, history and the report"));
  const status = await call("GET", `/bills/${bill.id}/status`);
  const history = await call("GET", `/bills/${bill.id}/status-history`);
  for (const h of history.items)
    console.log(
      `  ${h.at}  ${h.entity.padEnd(15)} ${(h.participantName ?? "").padEnd(6)} ${String(h.previousStatus ?? "-").padEnd(9)} -> ${h.newStatus.padEnd(9)} by ${h.changedBy}: ${h.reason ?? ""}`,
    );
  await call("GET", "/reports/summary");

  const { paidAmount, paidCount } = status.totals;
  const summary = `bill ${bill.id} ${status.status}, paid ${paidAmount} of ${status.totalAmount} ${status.currency} (${paidCount} of ${status.participants.length} participants)`;
  if (status.status !== "completed" || status.totalAmount === null || !toDecimal(paidAmount).equals(toDecimal(status.totalAmount))) {
    throw new DemoError(`expected a completed bill paid in full: ${summary}`);
  }
  return summary;
}

async function main(): Promise<string> {
  const demoUrl = process.env.DEMO_URL?.replace(/\/$/, "");
  let server: RunningServer | undefined;
  let dir: string | undefined;
  try {
    let config: Config;
    if (demoUrl) {
      // The running service's settings, read as `npm run token` reads them (environment, then .env).
      config = loadConfig(readEnvironment());
      base = demoUrl;
    } else {
      dir = mkdtempSync(path.join(tmpdir(), "chillbill-demo-"));
      ({ server, config } = await startEmbedded(dir));
      base = `http://127.0.0.1:${server.port}`;
      console.log(dim(`Started ChillBill on ${base} (embedded database in ${dir})`));
    }
    const { secret, issuer, audience } = config.auth;
    if (!secret)
      throw new DemoError("no JWT_SECRET: the demo signs HS256 tokens with the service's JWT_SECRET (a service on JWT_JWKS_URL only takes the bank's tokens)");
    auth = `Bearer ${await signDevelopmentToken(secret, USER, { issuer, audience })}`;
    return await story();
  } finally {
    await server?.stop("demo finished").catch((err) => console.error(`stopping the embedded service failed: ${err}`));
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (summary) => console.log(`\nDemo passed: ${summary}`),
  (err) => {
    // Ours and configuration errors say everything in one line; anything else shows its stack first.
    if (!(err instanceof DemoError || err instanceof ConfigError)) console.error(err);
    console.error(`\nDemo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
