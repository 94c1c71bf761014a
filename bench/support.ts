// Shared pieces of the HTTP and scale benchmarks (`npm run bench`, `npm run bench:scale`): a throwaway
// database on the PostgreSQL server, the real service (in-process, or as its own server process with
// WEB_CONCURRENCY workers), a small API client, and the load generator. The load generator runs in
// a child process (this file, forked), so autocannon and fetch do not share the service's event loop
// and their memory is not counted in the service's RSS. Readings of other processes (CPU, RSS) are in
// processes.ts.
import { fork, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { cpus, tmpdir, totalmem } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import autocannon from "autocannon";
import pg, { Client } from "pg";
import pino from "pino";
import { loadConfig, type Config } from "../src/config";
import { signDevelopmentToken } from "../src/http/auth";
import { signPayload } from "../src/domain/signature";
import { PAYMENT_SIGNATURE_HEADER } from "../src/adapters/payments/payment-system";
import { PROJECT_ROOT } from "../src/paths";
import { SHUTDOWN_MARGIN_MS } from "../src/cluster";
import { startServer, type RunningServer } from "../src/server";
import { childPids, freePort, processesCpu } from "./processes";

export const API = "/api/chillbill";
export const JWT_SECRET = "chillbill-benchmark-jwt-secret-0123456789abcdef";
export const WEBHOOK_SECRET = "chillbill-benchmark-webhook-secret";
const DB_PREFIX = "chillbill_bench_";

// ---------------------------------------------------------------------------------------------
// Settings from the environment

export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number (got "${raw}")`);
  return value;
}

/** The PostgreSQL server to use: BENCH_DATABASE_URL, or the local server. A fresh database is created on it. */
export const serverUrl = process.env.BENCH_DATABASE_URL || "postgresql://postgres@127.0.0.1:5432/postgres";

// ---------------------------------------------------------------------------------------------
// The machine

export interface Machine {
  cpu: string;
  cpuCount: number;
  ramGb: number;
  node: string;
  postgres: string;
  /** How busy the CPUs were during one second before the run (other work on the machine lowers every figure). */
  busyPercent: number;
}

export async function cpuBusyPercent(ms: number): Promise<number> {
  const total = () =>
    cpus().reduce((t, c) => ({ idle: t.idle + c.times.idle, all: t.all + Object.values(c.times).reduce((a, b) => a + b, 0) }), { idle: 0, all: 0 });
  const before = total();
  await new Promise((r) => setTimeout(r, ms));
  const after = total();
  return (1 - (after.idle - before.idle) / Math.max(1, after.all - before.all)) * 100;
}

export async function describeMachine(): Promise<Machine> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>("SHOW server_version");
    return {
      cpu: cpus()[0]?.model ?? "cpu",
      cpuCount: cpus().length,
      ramGb: totalmem() / 1024 ** 3,
      node: process.version,
      postgres: rows[0].server_version,
      busyPercent: await cpuBusyPercent(1_000),
    };
  } finally {
    await client.end();
  }
}

export function machineLine(title: string, m: Machine): string {
  const busy = m.busyPercent > 20 ? " (something else is running: figures will be low)" : "";
  return (
    `${title}: node ${m.node}, ${m.cpu} x${m.cpuCount}, ${m.ramGb.toFixed(1)} GB RAM, PostgreSQL ${m.postgres}; ` +
    `CPU ${m.busyPercent.toFixed(0)}% busy before the run${busy}`
  );
}

// ---------------------------------------------------------------------------------------------
// Throwaway databases

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export function databaseUrl(name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Creates `chillbill_bench_<suffix>` on the server; drop() removes it (closing any leftover sessions). */
export async function createDatabase(suffix: string): Promise<BenchDatabase> {
  const name = `${DB_PREFIX}${suffix}`.toLowerCase();
  if (!/^chillbill_bench_[a-z0-9_]+$/.test(name)) throw new Error(`Refusing database name ${name}`);
  await adminQuery(`CREATE DATABASE ${name}`);
  return {
    name,
    url: databaseUrl(name),
    drop: async () => {
      if (process.env.BENCH_KEEP_DB === "1") {
        console.log(`(kept database ${name}: BENCH_KEEP_DB=1)`);
        return;
      }
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

async function adminQuery(sql: string): Promise<void> {
  const client = new Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export function stamp(): string {
  return (
    new Date()
      .toISOString()
      .replace(/[-:T.Z]/g, "")
      .slice(0, 14) + `_${process.pid}`
  );
}

// ---------------------------------------------------------------------------------------------
// The real service: in-process, or as its own server process

/**
 * The settings every benchmark runs the service with: the mock AI and payment system answering at
 * once, no reminders, no log output, and no rate limit.
 */
export function serviceEnvironment(databaseUrlForService: string, uploadDir: string, extraEnv: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrlForService,
    PORT: "0",
    HOST: "127.0.0.1",
    LOG_LEVEL: "silent",
    NODE_ENV: "test",
    JWT_SECRET,
    PAYMENT_WEBHOOK_SECRET: WEBHOOK_SECRET,
    PAYMENT_MOCK_DELAY_MS: "0",
    AI_MOCK_DELAY_MS: "0",
    REMINDER_CRON: "off",
    // The benchmark is one client hammering the API: the per-client rate limit would answer 429.
    RATE_LIMIT_PER_MINUTE: "0",
    UPLOAD_DIR: uploadDir,
    ...extraEnv,
  };
}

const developmentToken = (userId: string) => signDevelopmentToken(JWT_SECRET, userId, { expiresIn: "6h" });

export interface Service {
  running: RunningServer;
  config: Config;
  /** http://127.0.0.1:<port> */
  origin: string;
  uploadDir: string;
  token(userId: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startService(databaseUrlForService: string, extraEnv: Record<string, string> = {}): Promise<Service> {
  const uploadDir = mkdtempSync(path.join(tmpdir(), "chillbill-bench-uploads-"));
  const config = loadConfig({ ...process.env, ...serviceEnvironment(databaseUrlForService, uploadDir, extraEnv) });
  const running = await startServer(config, pino({ level: "silent" }));
  return {
    running,
    config,
    origin: `http://127.0.0.1:${running.port}`,
    uploadDir,
    token: developmentToken,
    stop: async () => {
      await running.stop("benchmark done");
      rmSync(uploadDir, { recursive: true, force: true });
    },
  };
}

/** How the service process is run: the build in dist/ (what production runs), or the sources through tsx. */
export type ServiceRunner = "dist" | "tsx";

/** `npm run build` (tsc into dist/, which git ignores); returns the seconds it took. */
export async function buildService(): Promise<number> {
  const t0 = performance.now();
  const child = spawn("npm", ["run", "build", "--silent"], { cwd: PROJECT_ROOT, stdio: ["ignore", "inherit", "inherit"] });
  const code = await new Promise<number | null>((resolve, reject) => child.once("error", reject).once("exit", resolve));
  if (code !== 0) throw new Error(`npm run build failed (exit code ${code})`);
  return (performance.now() - t0) / 1000;
}

export interface ServiceProcess {
  /** WEB_CONCURRENCY */
  processes: number;
  /** The process started: the cluster's primary, or the one server process when WEB_CONCURRENCY=1. */
  pid: number;
  config: Config;
  origin: string;
  uploadDir: string;
  token(userId: string): Promise<string>;
  /** The processes that make up the service now: the primary, then its workers. */
  pids(): number[];
  stop(): Promise<void>;
}

/**
 * Starts the service as its own server process, `node dist/server.js` (or the sources through tsx),
 * with WEB_CONCURRENCY=`processes`, on a port picked here: with PORT=0 every worker of a cluster
 * listens on the same random port, but nobody outside learns which. Resolves once every worker
 * answers.
 */
export async function startServiceProcess(
  databaseUrlForService: string,
  processes: number,
  runner: ServiceRunner,
  extraEnv: Record<string, string> = {},
): Promise<ServiceProcess> {
  const uploadDir = mkdtempSync(path.join(tmpdir(), "chillbill-bench-uploads-"));
  const port = await freePort();
  const env = {
    ...process.env,
    ...serviceEnvironment(databaseUrlForService, uploadDir, { PORT: String(port), WEB_CONCURRENCY: String(processes), ...extraEnv }),
  };
  const config = loadConfig(env); // a bad setting fails here, with the service's own message
  const args = runner === "dist" ? [path.join(PROJECT_ROOT, "dist/server.js")] : ["--import", "tsx", path.join(PROJECT_ROOT, "src/server.ts")];
  // Not this process's execArgv: the service runs as it would in production, without tsx's loader (unless asked).
  const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const origin = `http://127.0.0.1:${port}`;
  const pid = child.pid!;
  const pids = () => (processes > 1 ? [pid, ...childPids(pid)] : [pid]);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM"); // the primary passes it on to every worker
      const killTimer = setTimeout(
        () => {
          for (const p of pids().reverse()) process.kill(p, "SIGKILL");
        },
        config.shutdownTimeoutMs + SHUTDOWN_MARGIN_MS + 2_000,
      );
      await exited;
      clearTimeout(killTimer);
    }
    rmSync(uploadDir, { recursive: true, force: true });
  };
  try {
    await waitUntilServing(origin, processes, pids, exited, () => stderr);
  } catch (err) {
    await stop();
    throw err;
  }
  return { processes, pid, config, origin, uploadDir, token: developmentToken, pids, stop };
}

/**
 * Waits until /health answers and, in a cluster, until every worker answers: the primary hands new
 * connections only to the workers that listen already, so a load run that opened its connections
 * before the last worker listened would leave that worker idle. Each round sends requests on new
 * connections and checks that every worker used CPU for them.
 */
async function waitUntilServing(origin: string, processes: number, pids: () => number[], exited: Promise<void>, stderr: () => string): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = performance.now() + 120_000;
  const fail = (why: string) => new Error(`the service process ${why}${stderr() ? `:\n${stderr()}` : ""}`);
  while (!(await healthOnNewConnection(origin))) {
    if (gone) throw fail("exited during start-up");
    if (performance.now() > deadline) throw fail("did not answer /health within 120 s");
    await new Promise((r) => setTimeout(r, 100));
  }
  if (processes === 1) return;
  for (;;) {
    const workers = pids().slice(1);
    if (workers.length === processes) {
      const before = processesCpu(workers);
      await inParallel(300 * processes, 10, async () => void (await healthOnNewConnection(origin)));
      const after = processesCpu(workers);
      if (workers.every((w) => (after.get(String(w)) ?? 0) - (before.get(String(w)) ?? 0) >= 2)) return;
    }
    if (gone) throw fail("exited during start-up");
    if (performance.now() > deadline) throw fail(`did not have ${processes} workers answering within 120 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** GET /health on a connection of its own (no keep-alive pool): true when it answered 200 within 2 s. */
function healthOnNewConnection(origin: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(`${origin}/health`, { agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      res.once("end", () => resolve(res.statusCode === 200));
    });
    req.once("timeout", () => req.destroy());
    req.once("error", () => resolve(false));
  });
}

// ---------------------------------------------------------------------------------------------
// A small client for seeding through the real API

export class ApiClient {
  constructor(
    readonly origin: string,
    readonly token: string,
  ) {}

  async call<T = any>(method: string, route: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.origin}${API}${route}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${route} answered ${res.status}: ${text.slice(0, 300)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  get<T = any>(route: string): Promise<T> {
    return this.call<T>("GET", route);
  }

  post<T = any>(route: string, body: unknown = {}): Promise<T> {
    return this.call<T>("POST", route, body);
  }
}

/** Runs `work(i)` for i in [0, count) with at most `concurrency` at a time. */
export async function inParallel(count: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const i = next++;
      await work(i);
    }
  });
  await Promise.all(lanes);
}

// ---------------------------------------------------------------------------------------------
// The SQL behind a request

export interface CapturedQuery {
  text: string;
  values: unknown[];
}

/** The SQL the service sends to PostgreSQL while `work` runs (node-postgres is the driver under Prisma's adapter). */
export async function captureSql<T>(work: () => Promise<T>): Promise<{ result: T; queries: CapturedQuery[] }> {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  const queries: CapturedQuery[] = [];
  proto.query = function (this: unknown, config: unknown, values?: unknown, ...rest: unknown[]) {
    if (typeof config === "string") queries.push({ text: config, values: Array.isArray(values) ? values : [] });
    else if (config && typeof (config as { text?: unknown }).text === "string") {
      const c = config as { text: string; values?: unknown[] };
      queries.push({ text: c.text, values: c.values ?? (Array.isArray(values) ? values : []) });
    }
    return original.call(this, config, values, ...rest);
  };
  try {
    return { result: await work(), queries };
  } finally {
    proto.query = original;
  }
}

// ---------------------------------------------------------------------------------------------
// Figures

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

export function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

// ---------------------------------------------------------------------------------------------
// The load generator (child process)

export interface LoadFigures {
  requests: number;
  durationS: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  timeouts: number;
  non2xx: number;
}

export interface PaymentToPay {
  paymentId: string;
  reference: string;
  amount: string;
  currency: string;
}

export type LoadJob =
  | { kind: "get"; url: string; token?: string; connections: number; durationS: number }
  | { kind: "webhook"; url: string; secret: string; payments: PaymentToPay[]; eventPrefix: string; connections: number; durationS: number }
  | { kind: "flows"; origin: string; token: string; workers: number; durationS: number; participants: number }
  | { kind: "upload"; origin: string; token: string; billId: string; bytes: number };

export interface WebhookFigures extends LoadFigures {
  /** Event ids built into a request (including those prepared but never sent when the run stopped). */
  prepared: string[];
  /** Event ids answered 2xx, with outcome "applied" in the answer. */
  appliedAnswers: number;
  /** Answers 2xx whose outcome was not "applied" (duplicate, unknown_payment ...). */
  otherAnswers: Record<string, number>;
  exhausted: boolean;
}

export interface FlowFigures {
  flows: number;
  failedFlows: number;
  durationS: number;
  flowsPerS: number;
  flowP50: number;
  flowP99: number;
  requests: number;
  requestP50: number;
  requestP99: number;
  firstError?: string;
}

export interface UploadFigures {
  status: number;
  ms: number;
  body: string;
}

/** The main process's handle on the forked load generator. */
export class LoadGenerator {
  private constructor(private readonly child: ChildProcess) {}
  private nextId = 0;

  /** The child process's id, to read its CPU use from /proc. */
  get pid(): number {
    return this.child.pid!;
  }

  static start(): LoadGenerator {
    // Forked with the same execArgv, so tsx loads this TypeScript file in the child too.
    const child = fork(__filename, [], { stdio: ["ignore", "inherit", "inherit", "ipc"], env: { ...process.env, CHILLBILL_BENCH_CHILD: "1" } });
    return new LoadGenerator(child);
  }

  run(job: Extract<LoadJob, { kind: "get" }>): Promise<LoadFigures>;
  run(job: Extract<LoadJob, { kind: "webhook" }>): Promise<WebhookFigures>;
  run(job: Extract<LoadJob, { kind: "flows" }>): Promise<FlowFigures>;
  run(job: Extract<LoadJob, { kind: "upload" }>): Promise<UploadFigures>;
  run(job: LoadJob): Promise<unknown> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const onMessage = (msg: { id: number; result?: unknown; error?: string }) => {
        if (msg.id !== id) return;
        this.child.off("message", onMessage);
        this.child.off("exit", onExit);
        if (msg.error) reject(new Error(`load generator: ${msg.error}`));
        else resolve(msg.result);
      };
      const onExit = (code: number | null) => reject(new Error(`load generator exited (${code})`));
      this.child.on("message", onMessage);
      this.child.once("exit", onExit);
      this.child.send({ id, job });
    });
  }

  close(): void {
    if (this.child.connected) this.child.disconnect();
  }
}

function figures(result: autocannon.Result): LoadFigures {
  return {
    requests: result.requests.total,
    durationS: result.duration,
    rps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
  };
}

async function runGet(job: Extract<LoadJob, { kind: "get" }>): Promise<LoadFigures> {
  const result = await autocannon({
    url: job.url,
    connections: job.connections,
    duration: job.durationS,
    headers: job.token ? { authorization: `Bearer ${job.token}` } : {},
  });
  return figures(result);
}

/**
 * Each request carries a new signed payment.succeeded event for the next payment in the list (one
 * event per payment, so every one of them must be applied). When the list runs out the run stops.
 */
async function runWebhook(job: Extract<LoadJob, { kind: "webhook" }>): Promise<WebhookFigures> {
  const url = new URL(job.url);
  const prepared: string[] = [];
  const otherAnswers: Record<string, number> = {};
  let appliedAnswers = 0;
  let next = 0;
  let exhausted = false;
  let instance: autocannon.Instance | undefined;
  const run = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: url.origin,
        connections: job.connections,
        duration: job.durationS,
        requests: [
          {
            method: "POST",
            path: url.pathname,
            setupRequest: (request, context) => {
              const ctx = context as { eventId?: string };
              const payment = job.payments[next];
              if (!payment) {
                // Out of payments: something harmless while the run is stopped.
                if (!exhausted) {
                  exhausted = true;
                  setImmediate(() => instance?.stop());
                }
                ctx.eventId = undefined;
                return { ...request, method: "GET", path: "/health", body: undefined, headers: {} };
              }
              next += 1;
              const event = {
                id: `${job.eventPrefix}${next}`,
                type: "payment.succeeded",
                created: Math.floor(Date.now() / 1000),
                data: { paymentId: payment.paymentId, reference: payment.reference, amount: payment.amount, currency: payment.currency },
              };
              const body = JSON.stringify(event);
              ctx.eventId = event.id;
              prepared.push(event.id);
              return {
                ...request,
                body,
                headers: {
                  "content-type": "application/json",
                  [PAYMENT_SIGNATURE_HEADER]: signPayload(job.secret, body, Math.floor(Date.now() / 1000)),
                },
              };
            },
            onResponse: (status, body, context) => {
              const ctx = context as { eventId?: string };
              if (!ctx.eventId || status < 200 || status >= 300) return;
              let outcome = "unparseable";
              try {
                outcome = String(JSON.parse(body).outcome);
              } catch {
                // counted as unparseable
              }
              if (outcome === "applied") appliedAnswers += 1;
              else otherAnswers[outcome] = (otherAnswers[outcome] ?? 0) + 1;
            },
          },
        ],
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
  const result = await run;
  return { ...figures(result), prepared, appliedAnswers, otherAnswers, exhausted };
}

/** N workers, each repeating the write flow until the time is up: bill, participants, equal split, payment requests. */
async function runFlows(job: Extract<LoadJob, { kind: "flows" }>): Promise<FlowFigures> {
  const flowMs: number[] = [];
  const requestMs: number[] = [];
  let failedFlows = 0;
  let firstError: string | undefined;
  const headers = { authorization: `Bearer ${job.token}`, "content-type": "application/json" };
  const call = async (route: string, body: unknown) => {
    const t0 = performance.now();
    const res = await fetch(`${job.origin}${API}${route}`, { method: "POST", headers, body: JSON.stringify(body) });
    const text = await res.text();
    requestMs.push(performance.now() - t0);
    if (!res.ok) throw new Error(`POST ${route} answered ${res.status}: ${text.slice(0, 200)}`);
    return JSON.parse(text);
  };
  const started = performance.now();
  const deadline = started + job.durationS * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: job.workers }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          const bill = await call("/bills", { totalAmount: "250.00", currency: "USD", merchantName: `Flow ${++n}` });
          for (let i = 0; i < job.participants; i += 1) await call(`/bills/${bill.id}/participants`, { name: `Guest ${i + 1}` });
          await call(`/bills/${bill.id}/split/equal`, {});
          const requested = await call(`/bills/${bill.id}/request-payments`, {});
          if (requested.requests.length !== job.participants)
            throw new Error(`expected ${job.participants} payment requests, got ${requested.requests.length}`);
          flowMs.push(performance.now() - t0);
        } catch (err) {
          failedFlows += 1;
          firstError ??= err instanceof Error ? err.message : String(err);
        }
      }
    }),
  );
  const durationS = (performance.now() - started) / 1000;
  flowMs.sort((a, b) => a - b);
  requestMs.sort((a, b) => a - b);
  return {
    flows: flowMs.length,
    failedFlows,
    durationS,
    flowsPerS: flowMs.length / durationS,
    flowP50: percentile(flowMs, 50),
    flowP99: percentile(flowMs, 99),
    requests: requestMs.length,
    requestP50: percentile(requestMs, 50),
    requestP99: percentile(requestMs, 99),
    firstError,
  };
}

/** One multipart upload of `bytes` bytes that start with the PNG signature and end with its IEND chunk. */
async function runUpload(job: Extract<LoadJob, { kind: "upload" }>): Promise<UploadFigures> {
  const image = Buffer.alloc(job.bytes, 0x5a);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(image, 0);
  Buffer.from([0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]).copy(image, job.bytes - 12);
  const form = new FormData();
  form.append("image", new Blob([image], { type: "image/png" }), "receipt.png");
  const t0 = performance.now();
  const res = await fetch(`${job.origin}${API}/bills/${job.billId}/bill-image`, {
    method: "POST",
    headers: { authorization: `Bearer ${job.token}` },
    body: form,
  });
  const body = await res.text();
  return { status: res.status, ms: performance.now() - t0, body: body.slice(0, 300) };
}

function childMain(): void {
  process.on("message", async (msg: { id: number; job: LoadJob }) => {
    try {
      const { job } = msg;
      const result =
        job.kind === "get"
          ? await runGet(job)
          : job.kind === "webhook"
            ? await runWebhook(job)
            : job.kind === "flows"
              ? await runFlows(job)
              : await runUpload(job);
      process.send?.({ id: msg.id, result });
    } catch (err) {
      process.send?.({ id: msg.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
  });
  process.on("disconnect", () => process.exit(0));
}

if (require.main === module && process.env.CHILLBILL_BENCH_CHILD === "1") childMain();
