// `npm run postman:ci` (CI): runs the checked-in Postman collection's Flow folder with newman against
// the real service: started as its own process on a throwaway embedded database, with a token from
// `npm run token` and a signing secret made up for this run (so nothing checked in has to match).
// After the Flow, the same run sends the public folder's single requests (but for the few in
// SKIPPED_AFTER_FLOW), each checked only for not answering 400: what the collection sends as
// generated must be a request the service accepts (a 404 or 409 for the bill's state is fine).
// Prints newman's report and a last line "Postman flow passed: ..." (exit 0) or "... failed: ..." (1).
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { COLLECTION_FILE, ENVIRONMENT_FILE, FLOW_FOLDER, POSTMAN_DIR, type PostmanCollection, type PostmanItem } from "./postman-collection";

const ROOT = path.resolve(__dirname, "..");
const START_TIMEOUT_MS = 60_000;
const USER = "bank-user-alice";

/** The parts of newman's Node API used here (it ships no types). */
interface NewmanSummary {
  run: {
    stats: Record<"requests" | "assertions" | "testScripts" | "prerequestScripts", { total: number; failed: number }>;
    timings: { started: number; completed: number };
    failures: Array<{ error: { name: string; message: string; test?: string }; source?: { name?: string } }>;
  };
}
type NewmanRun = (options: Record<string, unknown>, callback: (err: Error | null, summary: NewmanSummary) => void) => unknown;

/** The service as `npm start` runs it (without the build), on its own data and upload folders. */
function startService(dir: string, env: Record<string, string>): { url: Promise<string>; stop(): Promise<void>; output(): string } {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "src/server.ts")], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: "development",
      LOG_LEVEL: "info",
      LOG_PRETTY: "false",
      HOST: "127.0.0.1",
      PORT: "0",
      PUBLIC_BASE_URL: "",
      INTERNAL_BASE_URL: "",
      DATABASE_URL: "",
      REDIS_URL: "",
      WEB_CONCURRENCY: "1",
      PGLITE_DATA_DIR: path.join(dir, "data"),
      UPLOAD_DIR: path.join(dir, "uploads"),
      AI_MODE: "mock",
      PAYMENT_MODE: "mock",
      // The mock never pays by itself: the Flow's webhook is the one that reports the payment.
      PAYMENT_MOCK_DELAY_MS: "0",
      SMTP_URL: "",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the service did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    child.stdout.on("data", () => {
      const match = /ChillBill listening on (http:\/\/[^ ]+?) \(/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the service exited with ${code} before listening`));
    });
  });
  return {
    url,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

async function waitUntilReady(base: string): Promise<void> {
  const end = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const res = await fetch(`${base}/ready`).catch(() => undefined);
    if (res?.ok) return;
    if (Date.now() > end) throw new Error(`${base}/ready did not answer 200 within ${START_TIMEOUT_MS / 1000} s (last: ${res?.status ?? "no answer"})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A token as a developer gets one: `npm run -s token -- <user>`, with the service's JWT_SECRET. */
function mintToken(env: Record<string, string>): string {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const result = spawnSync(npm, ["run", "-s", "token", "--", USER, "15m"], { cwd: ROOT, env: { ...process.env, ...env }, encoding: "utf8" });
  if (result.status !== 0) throw new Error(`npm run token failed (${result.status}): ${result.stderr}`);
  return result.stdout.trim();
}

/** Public requests not sent after the Flow, by `METHOD /path`, and why. */
const SKIPPED_AFTER_FLOW: Record<string, string> = {
  "DELETE /api/chillbill/bills/:billId": "cancels the Flow's bill: every later request would answer 409",
  "DELETE /api/chillbill/bills/:billId/participants/:participantId": "removes a person: what later requests answer would depend on it",
  "GET /api/chillbill/bills/:billId/events": "a Server-Sent Events stream: it never ends by itself",
  "POST /api/chillbill/bills/:billId/bill-image": "needs a photo picked by hand (a file field)",
  "POST /api/chillbill/bills/:billId/group-image": "needs a photo picked by hand (a file field)",
};

const leaves = (items: PostmanItem[]): PostmanItem[] => items.flatMap((i) => (i.item ? leaves(i.item) : [i]));

/**
 * The Flow, then the public folder's single requests in the collection's order (on the Flow's
 * bill, through its collection variables), each with one check: the answer is not 400.
 */
function flowThenSingleRequests(collection: PostmanCollection): PostmanCollection {
  const flow = collection.item.find((i) => i.name === FLOW_FOLDER);
  if (!flow) throw new Error(`the collection has no ${FLOW_FOLDER} folder`);
  const single = leaves(collection.item[0].item ?? [])
    .filter((i) => !(`${i.request!.method} /${i.request!.url.path.join("/")}` in SKIPPED_AFTER_FLOW))
    .map((i) => ({
      ...i,
      event: [
        ...(i.event ?? []),
        {
          listen: "test" as const,
          script: {
            type: "text/javascript" as const,
            exec: [`pm.test("not 400 (" + pm.response.code + ")", () => pm.expect(pm.response.code).to.not.eql(400));`],
          },
        },
      ],
    }));
  return { ...collection, item: [flow, { name: "After the Flow: the single requests", item: single }] };
}

function runFlow(baseUrl: string, token: string, paymentWebhookSecret: string): Promise<NewmanSummary> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const newman = require("newman") as { run: NewmanRun };
  const read = (name: string) => JSON.parse(readFileSync(path.join(POSTMAN_DIR, name), "utf8")) as unknown;
  return new Promise((resolve, reject) => {
    newman.run(
      {
        collection: flowThenSingleRequests(read(COLLECTION_FILE) as PostmanCollection),
        environment: read(ENVIRONMENT_FILE),
        envVar: [
          { key: "baseUrl", value: baseUrl },
          { key: "token", value: token },
          { key: "paymentWebhookSecret", value: paymentWebhookSecret },
        ],
        reporters: ["cli"],
        reporter: { cli: { noBanner: true } },
        timeoutRequest: 10_000,
      },
      (err, summary) => (err ? reject(err) : resolve(summary)),
    );
  });
}

async function main(): Promise<string> {
  const dir = mkdtempSync(path.join(tmpdir(), "chillbill-postman-ci-"));
  // Made up for this run: the service and the collection agree only through what is passed here.
  const secrets = { JWT_SECRET: randomBytes(32).toString("hex"), JWT_JWKS_URL: "", PAYMENT_WEBHOOK_SECRET: randomBytes(24).toString("hex") };
  const service = startService(dir, secrets);
  try {
    const base = await service.url;
    await waitUntilReady(base);
    const summary = await runFlow(base, mintToken(secrets), secrets.PAYMENT_WEBHOOK_SECRET);
    const { requests, assertions } = summary.run.stats;
    const seconds = ((summary.run.timings.completed - summary.run.timings.started) / 1000).toFixed(1);
    const line = `${requests.total} requests, ${assertions.total - assertions.failed} of ${assertions.total} assertions passed in ${seconds} s`;
    if (summary.run.failures.length > 0 || requests.failed > 0 || assertions.failed > 0) {
      const failures = summary.run.failures.map((f) => `${f.source?.name ?? "?"}: ${f.error.test ?? f.error.name}: ${f.error.message}`);
      throw new Error(`${line}; failures:\n  ${failures.length ? failures.join("\n  ") : "see above"}`);
    }
    return line;
  } catch (err) {
    console.error(`--- service output ---\n${service.output()}`);
    throw err;
  } finally {
    await service.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (line) => console.log(`Postman flow passed: ${line}`),
  (err) => {
    console.error(`Postman flow failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
