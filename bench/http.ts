// `npm run bench`: the real service under load from autocannon at 50 connections, next to a minimal
// raw-`pg` endpoint that runs the same SQL (bench/baseline.ts), at 1 and at 2 processes. For each
// process count N, on a fresh PostgreSQL database, the service runs as its own server process with
// WEB_CONCURRENCY=N (built once into dist/ with `npm run build`, run as `node dist/server.js`) and
// the baseline in N processes too (a node:cluster, as the service's). Prints one line per scenario
// (req/s, p50, p99, errors, non-2xx, ratio to the baseline at the same N, peak RSS, and the CPU
// seconds of the serving processes, PostgreSQL, the load generator and the rest of the machine),
// the exactly-once check of each webhook run in the database, the RSS growth during a 10 MB upload
// (at the first N), the scaling from 1 to 2 processes, the CPU cost of one request, and the targets.
// The SQL statements per operation are counted at the driver of a service started in this process.
//
// Environment: BENCH_DATABASE_URL (the PostgreSQL server; databases chillbill_bench_http_<stamp>_* are
// created on it and dropped at the end), BENCH_PROCESSES (process counts, default "1,2"),
// BENCH_SERVICE_RUNNER (dist, the default, or tsx: `node --import tsx src/server.ts`, no build),
// BENCH_DURATION (seconds per scenario, default 10), BENCH_WARMUP (seconds, default 2),
// BENCH_CONNECTIONS (default 50), BENCH_FLOW_WORKERS (default 50), BENCH_WEBHOOK_PAYMENTS (payments
// seeded for each webhook run; default: 1,000 for the warm-up, then 2.5x what the warm-up rate needs
// for the measured run), BENCH_KEEP_DB=1, DATABASE_POOL_MAX (per process, for the service and the baseline).
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { Client, Pool } from "pg";
import { signPayload } from "../src/domain/signature";
import { PAYMENT_SIGNATURE_HEADER } from "../src/adapters/payments/payment-system";
import { startBaseline, type Baseline } from "./baseline";
import { cpuSecondsByProcess, highWaterMarksMb, machineBusySeconds, postgresCpu, cpuSecondsBetween, processesCpu, ProcessRssSampler } from "./processes";
import {
  API,
  ApiClient,
  buildService,
  captureSql,
  createDatabase,
  describeMachine,
  envNumber,
  inParallel,
  LoadGenerator,
  machineLine,
  stamp,
  startService,
  startServiceProcess,
  WEBHOOK_SECRET,
  type LoadFigures,
  type PaymentToPay,
  type Service,
  type ServiceProcess,
  type ServiceRunner,
  type WebhookFigures,
} from "./support";

const durationS = envNumber("BENCH_DURATION", 10);
const warmupS = envNumber("BENCH_WARMUP", 2);
const connections = envNumber("BENCH_CONNECTIONS", 50);
const flowWorkers = envNumber("BENCH_FLOW_WORKERS", connections);
const processCounts = (process.env.BENCH_PROCESSES || "1,2").split(",").map((n) => {
  const value = Number(n.trim());
  if (!Number.isInteger(value) || value < 1 || value > 64)
    throw new Error(`BENCH_PROCESSES must list whole numbers from 1 to 64 (got "${process.env.BENCH_PROCESSES}")`);
  return value;
});
const runner: ServiceRunner = (() => {
  const value = process.env.BENCH_SERVICE_RUNNER || "dist";
  if (value !== "dist" && value !== "tsx") throw new Error(`BENCH_SERVICE_RUNNER must be dist or tsx (got "${value}")`);
  return value;
})();
const PARTICIPANTS_PER_WEBHOOK_BILL = 20;
const UPLOAD_BYTES = 10 * 1024 * 1024 - 4 * 1024; // just under MAX_UPLOAD_BYTES (10 MB)
const GET_P99_TARGET_MS = 50;
const WEBHOOK_TARGET_PER_S = 1_000;

/** CPU seconds used during one measured run, by whom. */
interface CpuUse {
  wallS: number;
  /** The processes that answered: the service's primary and workers, or the baseline's. */
  server: number;
  /** `server` per process, primary first. */
  byProcess: number[];
  /** The local PostgreSQL server's processes (undefined when it is not on this machine). */
  postgres: number | undefined;
  /** The load generator: autocannon's child process and this one. */
  load: number;
  /** The rest of the machine's busy time: other processes, and interrupts charged to no process. */
  other: number | undefined;
  /** The serving processes' RSS, summed, at its highest (sampled every 20 ms). */
  peakRssMb: number;
}

interface Row {
  name: string;
  processes: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** What `rps` counts over the run (requests, events or flows), for the CPU cost of one. */
  count: number;
  ratio: number | undefined;
  cpu: CpuUse;
}

/** Runs `work` and reads the CPU each party used meanwhile, and the serving processes' peak RSS. */
async function measured<T>(load: LoadGenerator, serverPids: number[], work: () => Promise<T>): Promise<{ result: T; cpu: CpuUse }> {
  const rss = new ProcessRssSampler().begin(serverPids, 20);
  const machine0 = machineBusySeconds();
  const server0 = processesCpu(serverPids);
  const pg0 = postgresCpu();
  const load0 = processesCpu([load.pid]);
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await work();
  const wallS = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const load1 = processesCpu([load.pid]);
  const pg1 = postgresCpu();
  const server1 = processesCpu(serverPids);
  const machine1 = machineBusySeconds();
  const byProcessMap = cpuSecondsByProcess(server0, server1);
  const byProcess = serverPids.map((pid) => byProcessMap.get(String(pid)) ?? 0);
  const server = byProcess.reduce((a, b) => a + b, 0);
  const postgres = pg0 === undefined || pg1 === undefined ? undefined : cpuSecondsBetween(pg0, pg1);
  const loadS = cpuSecondsBetween(load0, load1) + (self.user + self.system) / 1e6;
  const other = machine0 === undefined || machine1 === undefined ? undefined : Math.max(0, machine1 - machine0 - server - (postgres ?? 0) - loadS);
  return { result, cpu: { wallS, server, byProcess, postgres, load: loadS, other, peakRssMb: rss.end().peakMb } };
}

const COLUMNS: [string, number][] = [
  ["scenario", 38],
  ["N", 2],
  ["req/s", 7],
  ["p50 ms", 7],
  ["p99 ms", 7],
  ["errors", 6],
  ["non-2xx", 7],
  ["vs base", 7],
  ["RSS MB", 7],
  ["server s", 8],
  ["PG s", 6],
  ["load s", 6],
  ["other s", 7],
];
const header = COLUMNS.map(([label, width], i) => (i === 0 ? label.padEnd(width) : label.padStart(width))).join(" ");
const legend =
  "CPU columns: CPU seconds during the measured run (one core busy for the whole run = its length in seconds). server: the processes that answered " +
  "(the service's primary and workers, or the baseline's); PG: PostgreSQL; load: autocannon's process and the bench's own; other: the rest of the machine " +
  "(other processes, and interrupt time charged to no process). RSS MB: the answering processes together, at their peak.";

const seconds = (s: number | undefined) => (s === undefined ? "-" : s.toFixed(1));

function line(row: Row): string {
  const cells = [
    row.name,
    String(row.processes),
    row.rps.toFixed(0),
    row.p50.toFixed(1),
    row.p99.toFixed(1),
    String(row.errors),
    String(row.non2xx),
    row.ratio === undefined ? "-" : `${row.ratio.toFixed(2)}x`,
    row.cpu.peakRssMb.toFixed(0),
    seconds(row.cpu.server),
    seconds(row.cpu.postgres),
    seconds(row.cpu.load),
    seconds(row.cpu.other),
  ];
  return cells.map((cell, i) => (i === 0 ? cell.padEnd(COLUMNS[i][1]) : cell.padStart(COLUMNS[i][1]))).join(" ");
}

function row(
  name: string,
  processes: number,
  f: Pick<LoadFigures, "rps" | "p50" | "p99" | "errors" | "non2xx">,
  count: number,
  ratio: number | undefined,
  cpu: CpuUse,
): Row {
  return { name, processes, rps: f.rps, p50: f.p50, p99: f.p99, errors: f.errors, non2xx: f.non2xx, count, ratio, cpu };
}

const verdict = (ok: boolean) => (ok ? "met" : "MISSED");

/** Bills with payment requests out, seeded through the API; their payments, interleaved across bills. */
class WebhookSeeder {
  bills = 0;
  payments = 0;
  seconds = 0;

  constructor(private readonly payer: ApiClient) {}

  async seed(count: number): Promise<PaymentToPay[]> {
    const seedStart = performance.now();
    const bills = Math.ceil(count / PARTICIPANTS_PER_WEBHOOK_BILL);
    const perBill: PaymentToPay[][] = [];
    await inParallel(bills, 8, async (b) => {
      const created = await this.payer.post("/bills", { totalAmount: "400.00", currency: "USD", merchantName: `Webhook bill ${this.bills + b + 1}` });
      for (let i = 0; i < PARTICIPANTS_PER_WEBHOOK_BILL; i += 1) await this.payer.post(`/bills/${created.id}/participants`, { name: `Payer ${i + 1}` });
      await this.payer.post(`/bills/${created.id}/split/equal`);
      const requested = await this.payer.post(`/bills/${created.id}/request-payments`);
      perBill[b] = requested.requests.map((r: { paymentId: string | null; reference: string; amount: string; currency: string }) => {
        if (!r.paymentId) throw new Error("a payment request was not handed to the payment system");
        return { paymentId: r.paymentId, reference: r.reference, amount: r.amount, currency: r.currency };
      });
    });
    this.bills += bills;
    this.payments += perBill.reduce((n, list) => n + list.length, 0);
    this.seconds += (performance.now() - seedStart) / 1000;
    // Interleaved across bills, so concurrent events hit different bills (events of one bill serialise on its row lock).
    const payments: PaymentToPay[] = [];
    for (let i = 0; i < PARTICIPANTS_PER_WEBHOOK_BILL; i += 1) for (const list of perBill) if (list[i]) payments.push(list[i]);
    return payments;
  }
}

/** Everything measured at one process count. */
interface Round {
  processes: number;
  basePrepared: Row;
  baseUnprepared: Row;
  get: Row;
  webhook: Row;
  flowRequests: Row;
  flows: Row;
  /** CPU seconds per service process (primary first) during the GET and webhook runs. */
  getByProcess: number[];
  webhookByProcess: number[];
  exactlyOnce: boolean;
  notes: string[];
  uploadGrowthMb?: number;
}

/**
 * One round at `processes` processes on a fresh database: the service and the baseline each in that
 * many processes; seeding, (the upload), both baselines, GET, webhooks, the write flow, and the
 * exactly-once check of the webhook run. Prints each scenario's line as it finishes.
 */
async function runRound(processes: number, load: LoadGenerator, withUpload: boolean): Promise<Round> {
  const db = await createDatabase(`http_${stamp()}_n${processes}`);
  let service: ServiceProcess | undefined;
  let baseline: Baseline | undefined;
  try {
    const started = performance.now();
    service = await startServiceProcess(db.url, processes, runner);
    const startS = (performance.now() - started) / 1000;
    const poolMax = "url" in service.config.database ? service.config.database.poolMax : 0;
    baseline = await startBaseline(db.url, poolMax, processes);
    const servicePids = service.pids();
    const baselinePids = baseline.pids();
    const notes: string[] = [];
    const shape = (pids: number[]) =>
      processes === 1 ? `1 process (pid ${pids[0]})` : `a primary (pid ${pids[0]}) and ${pids.length - 1} workers (pids ${pids.slice(1).join(", ")})`;
    console.log("");
    console.log(
      `--- ${processes} process${processes === 1 ? "" : "es"}: database ${db.name}; the service (WEB_CONCURRENCY=${processes}) runs as ${shape(servicePids)}, ` +
        `up and answering in ${startS.toFixed(1)} s (migrations included); the baseline as ${shape(baselinePids)}; ` +
        `${poolMax} pool connections per serving process, for both`,
    );
    const origin = service.origin;

    // --- seed: one bill with 10 participants, split equally
    const reader = new ApiClient(origin, await service.token("bench-reader"));
    const bill = await reader.post("/bills", { totalAmount: "100.00", currency: "USD", merchantName: "Benchmark Bistro", note: "GET benchmark" });
    for (let i = 0; i < 10; i += 1) await reader.post(`/bills/${bill.id}/participants`, { name: `Reader guest ${i + 1}`, email: `guest${i + 1}@example.com` });
    await reader.post(`/bills/${bill.id}/split/equal`);
    const check = await reader.get(`/bills/${bill.id}`);
    if (check.participants.length !== 10) throw new Error("seeding the GET bill failed");

    // --- the 10 MB upload first, while the service is quiet (RSS growth is then the upload's own)
    let uploadGrowthMb: number | undefined;
    if (withUpload) {
      const uploader = new ApiClient(origin, await service.token("bench-uploader"));
      const uploadBill = await uploader.post("/bills", { totalAmount: "10.00", currency: "USD" });
      const warmUpload = await load.run({ kind: "upload", origin, token: uploader.token, billId: uploadBill.id, bytes: 64 * 1024 });
      if (warmUpload.status !== 202) throw new Error(`warm-up upload answered ${warmUpload.status}: ${warmUpload.body}`);
      const uploads: { ms: number; startMb: number; peakMb: number; growthMb: number }[] = [];
      for (let i = 0; i < 3; i += 1) {
        await new Promise((r) => setTimeout(r, 500));
        const sampler = new ProcessRssSampler().begin(servicePids, 5);
        const upload = await load.run({ kind: "upload", origin, token: uploader.token, billId: uploadBill.id, bytes: UPLOAD_BYTES });
        await new Promise((r) => setTimeout(r, 50));
        if (upload.status !== 202) throw new Error(`upload answered ${upload.status}: ${upload.body}`);
        uploads.push({ ms: upload.ms, ...sampler.end() });
      }
      uploadGrowthMb = Math.max(...uploads.map((u) => u.growthMb));
      notes.push(
        `upload: ${(UPLOAD_BYTES / 1024 / 1024).toFixed(2)} MB PNG, 3 times (after a 64 KB warm-up), the service's RSS sampled every 5 ms: ` +
          uploads.map((u) => `${u.ms.toFixed(0)} ms, ${u.startMb.toFixed(0)} -> ${u.peakMb.toFixed(0)} MB (+${u.growthMb.toFixed(1)})`).join("; ") +
          `; largest growth ${uploadGrowthMb.toFixed(1)} MB`,
      );
    }

    // --- GET one bill: baseline (prepared, then unprepared), then the service
    console.log(header);
    const baselineUrl = baseline.url(bill.id, "bench-reader");
    const appUrl = `${origin}${API}/bills/${bill.id}`;
    await load.run({ kind: "get", url: baselineUrl, connections, durationS: warmupS });
    const base = await measured(load, baselinePids, () => load.run({ kind: "get", url: baselineUrl, connections, durationS }));
    const basePrepared = row("baseline: raw pg, same SQL, prepared", processes, base.result, base.result.requests, 1, base.cpu);
    console.log(line(basePrepared));
    const unpreparedUrl = baseline.url(bill.id, "bench-reader", false);
    await load.run({ kind: "get", url: unpreparedUrl, connections, durationS: warmupS });
    const unprepared = await measured(load, baselinePids, () => load.run({ kind: "get", url: unpreparedUrl, connections, durationS }));
    const baseUnprepared = row(
      "baseline: same SQL, unprepared",
      processes,
      unprepared.result,
      unprepared.result.requests,
      unprepared.result.rps / base.result.rps,
      unprepared.cpu,
    );
    console.log(line(baseUnprepared));
    await load.run({ kind: "get", url: appUrl, token: reader.token, connections, durationS: warmupS });
    const get = await measured(load, servicePids, () => load.run({ kind: "get", url: appUrl, token: reader.token, connections, durationS }));
    const getRow = row("GET /bills/{id}, 10 participants", processes, get.result, get.result.requests, get.result.rps / base.result.rps, get.cpu);
    console.log(line(getRow));

    // --- webhook ingestion: bills with payment requests, seeded through the API. A first batch serves
    // the warm-up, whose rate decides how many more the measured run needs (BENCH_WEBHOOK_PAYMENTS fixes it).
    const seeder = new WebhookSeeder(new ApiClient(origin, await service.token("bench-webhook")));
    const fixedPayments = process.env.BENCH_WEBHOOK_PAYMENTS ? envNumber("BENCH_WEBHOOK_PAYMENTS", 0) : undefined;
    const firstBatch = await seeder.seed(fixedPayments ?? 1_000);
    const webhookUrl = `${origin}${API}/webhook/payment-callback`;
    const warm = await load.run({
      kind: "webhook",
      url: webhookUrl,
      secret: WEBHOOK_SECRET,
      payments: firstBatch,
      eventPrefix: "evt_bench_warm_",
      connections,
      durationS: warmupS,
    });
    let rest = firstBatch.slice(warm.prepared.length);
    const warmRate = warm.prepared.length / warm.durationS;
    // The warm-up runs cold (JIT, plan caches), so the measured run is faster: seed well above its rate.
    const needed = Math.ceil(warmRate * durationS * 2.5) + 20 * connections;
    if (fixedPayments === undefined && rest.length < needed) rest = [...rest, ...(await seeder.seed(needed - rest.length))];
    const hook = await measured(load, servicePids, () =>
      load.run({ kind: "webhook", url: webhookUrl, secret: WEBHOOK_SECRET, payments: rest, eventPrefix: "evt_bench_run_", connections, durationS }),
    );
    const events = hook.result;
    const webhookRow = row(
      "webhook payment.succeeded (events/s)",
      processes,
      { ...events, rps: events.appliedAnswers / events.durationS },
      events.appliedAnswers,
      undefined,
      hook.cpu,
    );
    console.log(line(webhookRow));

    // --- the write flow
    const writer = new ApiClient(origin, await service.token("bench-writer"));
    await load.run({ kind: "flows", origin, token: writer.token, workers: flowWorkers, durationS: warmupS, participants: 5 });
    const flows = await measured(load, servicePids, () =>
      load.run({ kind: "flows", origin, token: writer.token, workers: flowWorkers, durationS, participants: 5 }),
    );
    const f = flows.result;
    const flowRequests = row(
      "write flow: its requests",
      processes,
      { rps: f.requests / f.durationS, p50: f.requestP50, p99: f.requestP99, errors: f.failedFlows, non2xx: 0 },
      f.requests,
      undefined,
      flows.cpu,
    );
    const flowRow = row(
      "write flow: whole flows (flows/s)",
      processes,
      { rps: f.flowsPerS, p50: f.flowP50, p99: f.flowP99, errors: f.failedFlows, non2xx: 0 },
      f.flows,
      undefined,
      flows.cpu,
    );
    console.log(line(flowRequests));
    console.log(line(flowRow));

    // --- webhook: exactly once, checked in the database after the run
    await new Promise((r) => setTimeout(r, 1_000)); // requests still in flight when autocannon stopped
    const once = await checkExactlyOnce(db.url, webhookUrl, warm, events, firstBatch);
    const highWater = highWaterMarksMb(servicePids);
    const peakMb = Math.max(getRow.cpu.peakRssMb, webhookRow.cpu.peakRssMb, flowRow.cpu.peakRssMb);

    notes.push(`webhook check (database): ${once.summary}`);
    notes.push(
      `write flow: ${flowWorkers} workers, each repeating: create a bill, add 5 participants, split equally, request payments (8 requests); ` +
        `${f.flows} flows, ${f.requests} requests, ${f.failedFlows} failed${f.firstError ? ` (first: ${f.firstError})` : ""}`,
    );
    notes.push(
      `webhook seeding: ${seeder.payments} payment requests on ${seeder.bills} bills through the API in ${seeder.seconds.toFixed(1)} s` +
        (events.exhausted ? " (RAN OUT of payments before the time was up: raise BENCH_WEBHOOK_PAYMENTS)" : ""),
    );
    notes.push(
      `service RSS under load: ${peakMb.toFixed(0)} MB at the peak, all its processes together (sampled every 20 ms); ` +
        `OS high-water mark per process for the whole run: ${highWater.map((m) => `${m.toFixed(0)} MB`).join(", ")}`,
    );
    for (const note of notes) console.log(note);
    return {
      processes,
      basePrepared,
      baseUnprepared,
      get: getRow,
      webhook: webhookRow,
      flowRequests,
      flows: flowRow,
      getByProcess: get.cpu.byProcess,
      webhookByProcess: hook.cpu.byProcess,
      exactlyOnce: once.ok,
      notes,
      uploadGrowthMb,
    };
  } finally {
    await baseline?.stop().catch((err) => console.error("stopping the baseline failed:", err));
    await service?.stop().catch((err) => console.error("stopping the service failed:", err));
    await db.drop();
  }
}

/**
 * After a webhook run: every event answered "applied" is in the database once, nothing was applied
 * twice, the paid states match, and 100 events delivered again are answered "duplicate" and change nothing.
 */
async function checkExactlyOnce(
  databaseUrl: string,
  webhookUrl: string,
  warm: WebhookFigures,
  events: WebhookFigures,
  firstBatch: PaymentToPay[],
): Promise<{ ok: boolean; summary: string }> {
  const allEvents = [...warm.prepared, ...events.prepared];
  const answered = warm.appliedAnswers + events.appliedAnswers;
  const before = await webhookState(databaseUrl, allEvents);
  const replays = warm.prepared.slice(0, 100).map((id, i) => ({ id, payment: firstBatch[i] }));
  const replayOutcomes: Record<string, number> = {};
  for (const { id, payment } of replays) {
    const created = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ id, type: "payment.succeeded", created, data: payment });
    const res = await fetch(webhookUrl, {
      method: "POST",
      headers: { "content-type": "application/json", [PAYMENT_SIGNATURE_HEADER]: signPayload(WEBHOOK_SECRET, body, created) },
      body,
    });
    const outcome = res.ok ? String(((await res.json()) as { outcome: string }).outcome) : `http ${res.status}`;
    replayOutcomes[outcome] = (replayOutcomes[outcome] ?? 0) + 1;
  }
  const after = await webhookState(databaseUrl, allEvents);
  const inFlight = before.applied - answered;
  const unchanged = JSON.stringify(after) === JSON.stringify(before);
  const ok =
    before.applied >= answered &&
    inFlight <= 2 * connections &&
    before.otherOutcomes === 0 &&
    before.requestsWithTwoEvents === 0 &&
    before.paidParticipants === before.applied &&
    before.paidRequests === before.applied &&
    before.paidHistoryRows === before.applied &&
    Object.keys(events.otherAnswers).length === 0 &&
    Object.keys(warm.otherAnswers).length === 0 &&
    replayOutcomes.duplicate === replays.length &&
    unchanged;
  return {
    ok,
    summary:
      `${allEvents.length} events built (${warm.prepared.length} warm-up + ${events.prepared.length} measured), ` +
      `${answered} answered 2xx "applied"; payment_events applied: ${before.applied} (${inFlight} were in flight when autocannon stopped: applied, answer not read), ` +
      `other outcomes: ${before.otherOutcomes}, requests with two applied events: ${before.requestsWithTwoEvents}; participants paid: ${before.paidParticipants}, ` +
      `payment requests paid: ${before.paidRequests}, participant->paid history rows: ${before.paidHistoryRows}; ` +
      `${replays.length} events delivered again: ${JSON.stringify(replayOutcomes)}, state unchanged: ${unchanged ? "yes" : "NO"} ` +
      `=> every event applied exactly once: ${ok ? "yes" : "NO"}`,
  };
}

/**
 * Where the time goes, counted in a service started in this process (the driver is patched here):
 * SQL statements per operation, and the cost of one small query through Prisma and through raw pg.
 */
async function inProcessDiagnostics() {
  const db = await createDatabase(`http_${stamp()}_sql`);
  let service: Service | undefined;
  try {
    service = await startService(db.url);
    const reader = new ApiClient(service.origin, await service.token("bench-reader"));
    const bill = await reader.post("/bills", { totalAmount: "100.00", currency: "USD", merchantName: "Benchmark Bistro" });
    for (let i = 0; i < 10; i += 1) await reader.post(`/bills/${bill.id}/participants`, { name: `Reader guest ${i + 1}` });
    await reader.post(`/bills/${bill.id}/split/equal`);
    const seeder = new WebhookSeeder(new ApiClient(service.origin, await service.token("bench-webhook")));
    const statements = await statementsPerOperation(service, reader, bill.id, seeder, `${service.origin}${API}/webhook/payment-callback`);
    const perQuery = await perQueryCost(service, db.url, bill.id);
    return { statements, perQuery };
  } finally {
    await service?.stop().catch((err) => console.error("stopping the in-process service failed:", err));
    await db.drop();
  }
}

const loadLine = () => {
  const [one, five, fifteen] = loadavg();
  return `load average ${one.toFixed(2)}, ${five.toFixed(2)}, ${fifteen.toFixed(2)}`;
};

async function main(): Promise<void> {
  const machine = await describeMachine();
  console.log(`${machineLine("HTTP benchmark", machine)}; ${loadLine()} at the start`);
  if (runner === "dist") {
    const buildS = await buildService();
    console.log(`built the service once with \`npm run build\` (tsc into dist/) in ${buildS.toFixed(1)} s; it runs as \`node dist/server.js\``);
  } else {
    console.log("the service runs from its sources: `node --import tsx src/server.ts` (BENCH_SERVICE_RUNNER=tsx)");
  }
  console.log(
    `autocannon ${connections} connections, ${durationS} s per scenario after ${warmupS} s warm-up, in a child process of the bench; rate limit off; ` +
      `process counts: ${processCounts.join(", ")} (the same process mode at each: the service as its own server process, the baseline too)`,
  );
  console.log(legend);
  const load = LoadGenerator.start();
  const rounds: Round[] = [];
  try {
    for (const [i, processes] of processCounts.entries()) rounds.push(await runRound(processes, load, i === 0));
  } finally {
    load.close();
  }
  const { statements, perQuery } = await inProcessDiagnostics();
  const endLoad = loadLine();

  // --- summary
  console.log("");
  console.log(
    `SQL statements per operation (BEGIN/COMMIT included; counted at the driver of a service started in this process): GET bill ${statements.get}, ` +
      `one webhook event ${statements.webhook}, one write flow ${statements.flow} (create ${statements.create}, add participant ${statements.add}, ` +
      `split ${statements.split}, request 5 payments ${statements.request})`,
  );
  console.log(
    `one query, sequential, same row: Prisma findUnique ${perQuery.prisma.wallUs.toFixed(0)} us wall / ${perQuery.prisma.cpuUs.toFixed(0)} us CPU in this process; ` +
      `raw pg ${perQuery.pg.wallUs.toFixed(0)} us wall / ${perQuery.pg.cpuUs.toFixed(0)} us CPU`,
  );

  const first = rounds[0];
  console.log("");
  console.log(`scaling with the number of processes (each figure against ${first.processes} process${first.processes === 1 ? "" : "es"}):`);
  const scaled = (name: string, pick: (r: Round) => Row, unit: string) =>
    console.log(
      `  ${name.padEnd(36)} ` +
        rounds.map((r) => `N=${r.processes}: ${pick(r).rps.toFixed(0).padStart(6)} ${unit} (${(pick(r).rps / pick(first).rps).toFixed(2)}x)`).join("   "),
    );
  scaled("baseline: raw pg, prepared", (r) => r.basePrepared, "req/s");
  scaled("baseline: unprepared", (r) => r.baseUnprepared, "req/s");
  scaled("GET /bills/{id}", (r) => r.get, "req/s");
  scaled("webhook payment.succeeded", (r) => r.webhook, "events/s");
  scaled("write flow", (r) => r.flows, "flows/s");

  console.log("");
  console.log(
    "CPU per request, in ms (server: the processes that answered; PG: PostgreSQL; load: the load generator), and what one core of server CPU serves:",
  );
  const cost = (name: string, pick: (r: Round) => Row, unit: string) => {
    for (const r of rounds) {
      const x = pick(r);
      const per = (s: number | undefined) => (s === undefined ? "-" : ((s * 1000) / x.count).toFixed(3));
      console.log(
        `  ${name.padEnd(36)} N=${r.processes}: server ${per(x.cpu.server)}, PG ${per(x.cpu.postgres)}, load ${per(x.cpu.load)}` +
          ` => one core of server CPU serves ${(x.count / x.cpu.server).toFixed(0)} ${unit}`,
      );
    }
  };
  cost("baseline: raw pg, prepared", (r) => r.basePrepared, "req/s");
  cost("GET /bills/{id}", (r) => r.get, "req/s");
  cost("webhook payment.succeeded", (r) => r.webhook, "events/s");
  cost("write flow: its requests", (r) => r.flowRequests, "req/s");
  for (const r of rounds.filter((x) => x.processes > 1)) {
    const split = (s: number[]) =>
      `primary ${s[0].toFixed(1)} s, workers ${s
        .slice(1)
        .map((x) => `${x.toFixed(1)} s`)
        .join(" + ")}`;
    console.log(`  service CPU by process at N=${r.processes}: GET ${split(r.getByProcess)}; webhook ${split(r.webhookByProcess)}`);
  }

  console.log("");
  console.log(`targets (${endLoad} at the end; figures on a machine with other work running are low):`);
  for (const r of rounds) {
    const n = `N=${r.processes}`;
    const ratioToUnprepared = r.get.rps / r.baseUnprepared.rps;
    console.log(
      `  ${n} GET bill: p99 ${r.get.p99.toFixed(1)} ms (<= ${GET_P99_TARGET_MS} ms) ${verdict(r.get.p99 <= GET_P99_TARGET_MS)}; ` +
        `${r.get.ratio!.toFixed(2)}x the prepared baseline at ${n} (>= 0.5x) ${verdict(r.get.ratio! >= 0.5)} (${ratioToUnprepared.toFixed(2)}x the unprepared one)`,
    );
    console.log(
      `  ${n} webhook: ${r.webhook.rps.toFixed(0)} events/s (>= ${WEBHOOK_TARGET_PER_S}) ${verdict(r.webhook.rps >= WEBHOOK_TARGET_PER_S)}; exactly once ${verdict(r.exactlyOnce)}`,
    );
    if (r.uploadGrowthMb !== undefined) console.log(`  ${n} upload: RSS growth ${r.uploadGrowthMb.toFixed(1)} MB (< 30 MB) ${verdict(r.uploadGrowthMb < 30)}`);
  }
}

/** How many SQL statements the service sends for each operation (captured at the driver). */
async function statementsPerOperation(service: Service, reader: ApiClient, billId: string, seeder: WebhookSeeder, webhookUrl: string) {
  const count = async (work: () => Promise<unknown>) => {
    const { queries } = await captureSql(async () => {
      await work();
      await new Promise((r) => setTimeout(r, 100)); // anything the service does right after answering
    });
    return queries.length;
  };
  const get = await count(() => reader.get(`/bills/${billId}`));
  const [payment] = await seeder.seed(PARTICIPANTS_PER_WEBHOOK_BILL);
  const webhook = await count(async () => {
    const created = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ id: `evt_bench_count_${created}`, type: "payment.succeeded", created, data: payment });
    const res = await fetch(webhookUrl, {
      method: "POST",
      headers: { "content-type": "application/json", [PAYMENT_SIGNATURE_HEADER]: signPayload(WEBHOOK_SECRET, body, created) },
      body,
    });
    if (!res.ok) throw new Error(`webhook answered ${res.status}`);
  });
  const writer = new ApiClient(service.origin, await service.token("bench-counter"));
  let created: { id: string } | undefined;
  const create = await count(async () => {
    created = await writer.post("/bills", { totalAmount: "250.00", currency: "USD" });
  });
  const id = created!.id;
  const adds: number[] = [];
  for (let i = 0; i < 5; i += 1) adds.push(await count(() => writer.post(`/bills/${id}/participants`, { name: `Guest ${i + 1}` })));
  const split = await count(() => writer.post(`/bills/${id}/split/equal`));
  const request = await count(() => writer.post(`/bills/${id}/request-payments`));
  const add = adds.reduce((a, b) => a + b, 0);
  return { get, webhook, create, add: `${Math.min(...adds)}-${Math.max(...adds)}`, split, request, flow: create + add + split + request };
}

/** The cost of one small query through Prisma and through raw pg, one at a time (2,000 each, after 500 to warm up). */
async function perQueryCost(service: Service, databaseUrl: string, billId: string) {
  const prisma = service.running.db.prisma;
  const pool = new Pool({ connectionString: databaseUrl, max: 1 });
  const measure = async (work: () => Promise<unknown>) => {
    for (let i = 0; i < 500; i += 1) await work();
    const n = 2_000;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < n; i += 1) await work();
    const cpu = process.cpuUsage(cpu0);
    return { wallUs: ((performance.now() - t0) * 1000) / n, cpuUs: (cpu.user + cpu.system) / n };
  };
  try {
    return {
      prisma: await measure(() => prisma.bill.findUnique({ where: { id: billId } })),
      pg: await measure(() => pool.query("SELECT * FROM bills WHERE id = $1", [billId])),
    };
  } finally {
    await pool.end();
  }
}

interface WebhookState {
  applied: number;
  otherOutcomes: number;
  requestsWithTwoEvents: number;
  paidParticipants: number;
  paidRequests: number;
  paidHistoryRows: number;
}

async function webhookState(url: string, eventIds: string[]): Promise<WebhookState> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const one = async (sql: string, values: unknown[] = []) => Number((await client.query<{ n: string }>(sql, values)).rows[0].n);
    const bills = "SELECT id FROM bills WHERE creator_id = 'bench-webhook'";
    return {
      applied: await one("SELECT count(*) AS n FROM payment_events WHERE id = ANY($1) AND outcome = 'applied'", [eventIds]),
      otherOutcomes: await one("SELECT count(*) AS n FROM payment_events WHERE id = ANY($1) AND outcome <> 'applied'", [eventIds]),
      requestsWithTwoEvents: await one(
        "SELECT count(*) AS n FROM (SELECT payment_request_id FROM payment_events WHERE outcome = 'applied' GROUP BY payment_request_id HAVING count(*) > 1) d",
      ),
      paidParticipants: await one(`SELECT count(*) AS n FROM participants WHERE payment_status = 'paid' AND bill_id IN (${bills})`),
      paidRequests: await one(`SELECT count(*) AS n FROM payment_requests WHERE status = 'paid' AND bill_id IN (${bills})`),
      paidHistoryRows: await one(
        `SELECT count(*) AS n FROM status_history WHERE entity_type = 'participant' AND new_status = 'paid' AND bill_id IN (${bills})`,
      ),
    };
  } finally {
    await client.end();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
