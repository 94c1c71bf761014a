// `npm run bench`: the real service (started in-process on a fresh PostgreSQL database) under load
// from autocannon at 50 connections, next to a minimal raw-`pg` endpoint that runs the same SQL.
// Prints one line per scenario (req/s, p50, p99, errors, non-2xx, ratio to the baseline, peak RSS),
// the exactly-once check of the webhook run in the database, and the RSS growth during a 10 MB upload.
//
// Environment: BENCH_DATABASE_URL (the PostgreSQL server; a database chillbill_bench_http_<stamp> is
// created on it and dropped at the end), BENCH_DURATION (seconds per scenario, default 10),
// BENCH_WARMUP (seconds, default 2), BENCH_CONNECTIONS (default 50), BENCH_FLOW_WORKERS (default 50),
// BENCH_WEBHOOK_PAYMENTS (payments seeded for the webhook runs; default: 1,000 for the warm-up, then
// 2.5x what the warm-up rate needs for the measured run), BENCH_KEEP_DB=1, DATABASE_POOL_MAX.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { Client, Pool } from "pg";
import { signPayload } from "../src/domain/signature";
import { PAYMENT_SIGNATURE_HEADER } from "../src/adapters/payments/payment-system";
import { VISIBLE_BILL_SQL } from "../src/modules/bills/bills.repository";
import {
  API,
  ApiClient,
  captureSql,
  createDatabase,
  describeMachine,
  envNumber,
  inParallel,
  LoadGenerator,
  machineLine,
  RssSampler,
  stamp,
  startService,
  WEBHOOK_SECRET,
  type BenchDatabase,
  type LoadFigures,
  type PaymentToPay,
  type Service,
} from "./support";
import { cpuSecondsBetween, postgresCpu } from "./processes";

const durationS = envNumber("BENCH_DURATION", 10);
const warmupS = envNumber("BENCH_WARMUP", 2);
const connections = envNumber("BENCH_CONNECTIONS", 50);
const flowWorkers = envNumber("BENCH_FLOW_WORKERS", connections);
const PARTICIPANTS_PER_WEBHOOK_BILL = 20;
const UPLOAD_BYTES = 10 * 1024 * 1024 - 4 * 1024; // just under MAX_UPLOAD_BYTES (10 MB)

/**
 * GET /baseline/bills/<id>?user=<userId>: the service's own statement for reading a bill (VISIBLE_BILL_SQL)
 * on a raw pg Pool, prepared like the service's, no framework, no auth, no validation, the row sent
 * back as it comes.
 */
async function startBaseline(
  databaseUrl: string,
  poolMax: number,
): Promise<{ url: (billId: string, userId: string, prepared?: boolean) => string; close(): Promise<void> }> {
  const pool = new Pool({ connectionString: databaseUrl, max: poolMax });
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://baseline");
    const match = /^\/baseline(-unprepared)?\/bills\/([0-9a-f-]{36})$/.exec(url.pathname);
    const userId = url.searchParams.get("user");
    if (!match || !userId) {
      res.writeHead(404).end();
      return;
    }
    try {
      // Prepared once per connection, as the service's plain SQL is (src/db/sql.ts); the unprepared
      // variant is parsed and planned on every call, as Prisma's adapter sends its statements.
      const values = [match[2], userId];
      const bills = await pool.query(match[1] ? { text: VISIBLE_BILL_SQL, values } : { name: "baseline_visible_bill", text: VISIBLE_BILL_SQL, values });
      if (bills.rows.length === 0) {
        res.writeHead(404, { "content-type": "application/json" }).end('{"status":404}');
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(bills.rows[0]));
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (billId, userId, prepared = true) => `http://127.0.0.1:${port}/baseline${prepared ? "" : "-unprepared"}/bills/${billId}?user=${encodeURIComponent(userId)}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.end();
    },
  };
}

const header =
  `${"scenario".padEnd(38)} ${"req/s".padStart(9)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"errors".padStart(7)} ${"non-2xx".padStart(8)} ` +
  `${"vs baseline".padStart(11)} ${"peak RSS".padStart(9)} ${"CPU".padStart(5)} ${"PG CPU".padStart(7)}`;

function line(
  name: string,
  f: Pick<LoadFigures, "rps" | "p50" | "p99" | "errors" | "non2xx">,
  ratio: number | undefined,
  run: { peakRssMb: number; cpuPercent: number; postgresCpuPercent: number | undefined },
): string {
  return (
    `${name.padEnd(38)} ${f.rps.toFixed(0).padStart(9)} ${f.p50.toFixed(1).padStart(8)} ${f.p99.toFixed(1).padStart(8)} ${String(f.errors).padStart(7)} ` +
    `${String(f.non2xx).padStart(8)} ${(ratio === undefined ? "-" : `${ratio.toFixed(2)}x`).padStart(11)} ${`${run.peakRssMb.toFixed(0)} MB`.padStart(9)} ` +
    `${`${run.cpuPercent.toFixed(0)}%`.padStart(5)} ${(run.postgresCpuPercent === undefined ? "-" : `${run.postgresCpuPercent.toFixed(0)}%`).padStart(7)}`
  );
}

/**
 * Runs `work` while sampling RSS; returns its result, the peak RSS, this process's CPU use and the
 * local PostgreSQL server's (100% = one core; undefined when the server is not on this machine).
 */
async function sampled<T>(work: () => Promise<T>): Promise<{ result: T; peakRssMb: number; cpuPercent: number; postgresCpuPercent: number | undefined }> {
  const sampler = new RssSampler().begin(20);
  const cpu0 = process.cpuUsage();
  const pg0 = postgresCpu();
  const t0 = performance.now();
  const result = await work();
  const cpu = process.cpuUsage(cpu0);
  const pg1 = postgresCpu();
  const ms = performance.now() - t0;
  const cpuPercent = ((cpu.user + cpu.system) / 1000 / ms) * 100;
  const postgresCpuPercent = pg0 === undefined || pg1 === undefined ? undefined : (cpuSecondsBetween(pg0, pg1) * 1000 * 100) / ms;
  return { result, peakRssMb: sampler.end().peakMb, cpuPercent, postgresCpuPercent };
}

const verdict = (ok: boolean) => (ok ? "met" : "MISSED");

async function main(): Promise<void> {
  const machine = await describeMachine();
  console.log(machineLine("HTTP benchmark", machine));
  const db: BenchDatabase = await createDatabase(`http_${stamp()}`);
  let service: Service | undefined;
  let baseline: Awaited<ReturnType<typeof startBaseline>> | undefined;
  let load: LoadGenerator | undefined;
  let overallPeakMb = 0;
  try {
    service = await startService(db.url);
    const poolMax = "url" in service.config.database ? service.config.database.poolMax : 0;
    baseline = await startBaseline(db.url, poolMax);
    load = LoadGenerator.start();
    console.log(
      `database ${db.name}; service pool ${poolMax} connections, baseline pool ${poolMax}; autocannon ${connections} connections, ` +
        `${durationS} s per scenario after ${warmupS} s warm-up; load generator in a child process; rate limit off`,
    );
    const origin = service.origin;

    // --- seed: one bill with 10 participants, split equally
    const reader = new ApiClient(origin, await service.token("bench-reader"));
    const bill = await reader.post("/bills", { totalAmount: "100.00", currency: "USD", merchantName: "Benchmark Bistro", note: "GET benchmark" });
    for (let i = 0; i < 10; i += 1) await reader.post(`/bills/${bill.id}/participants`, { name: `Reader guest ${i + 1}`, email: `guest${i + 1}@example.com` });
    await reader.post(`/bills/${bill.id}/split/equal`);
    const check = await reader.get(`/bills/${bill.id}`);
    if (check.participants.length !== 10) throw new Error("seeding the GET bill failed");

    // --- the 10 MB upload first, while the process is quiet (RSS growth is then the upload's own)
    const uploader = new ApiClient(origin, await service.token("bench-uploader"));
    const uploadBill = await uploader.post("/bills", { totalAmount: "10.00", currency: "USD" });
    const warmUpload = await load.run({ kind: "upload", origin, token: uploader.token, billId: uploadBill.id, bytes: 64 * 1024 });
    if (warmUpload.status !== 202) throw new Error(`warm-up upload answered ${warmUpload.status}: ${warmUpload.body}`);
    const uploads: { ms: number; status: number; startMb: number; peakMb: number; growthMb: number }[] = [];
    for (let i = 0; i < 3; i += 1) {
      await new Promise((r) => setTimeout(r, 500));
      (globalThis as { gc?: () => void }).gc?.();
      const sampler = new RssSampler().begin(5);
      const upload = await load.run({ kind: "upload", origin, token: uploader.token, billId: uploadBill.id, bytes: UPLOAD_BYTES });
      await new Promise((r) => setTimeout(r, 50));
      if (upload.status !== 202) throw new Error(`upload answered ${upload.status}: ${upload.body}`);
      uploads.push({ ms: upload.ms, status: upload.status, ...sampler.end() });
    }
    const uploadGrowthMb = Math.max(...uploads.map((u) => u.growthMb));

    // --- GET one bill: baseline, then the service
    console.log(header);
    const baselineUrl = baseline.url(bill.id, "bench-reader");
    const appUrl = `${origin}${API}/bills/${bill.id}`;
    await load.run({ kind: "get", url: baselineUrl, connections, durationS: warmupS });
    const base = await sampled(() => load!.run({ kind: "get", url: baselineUrl, connections, durationS }));
    overallPeakMb = Math.max(overallPeakMb, base.peakRssMb);
    console.log(line("baseline: raw pg, same SQL, prepared", base.result, 1, base));
    const unpreparedUrl = baseline.url(bill.id, "bench-reader", false);
    await load.run({ kind: "get", url: unpreparedUrl, connections, durationS: warmupS });
    const unprepared = await sampled(() => load!.run({ kind: "get", url: unpreparedUrl, connections, durationS }));
    console.log(line("baseline: same SQL, unprepared", unprepared.result, unprepared.result.rps / base.result.rps, unprepared));
    await load.run({ kind: "get", url: appUrl, token: reader.token, connections, durationS: warmupS });
    const get = await sampled(() => load!.run({ kind: "get", url: appUrl, token: reader.token, connections, durationS }));
    overallPeakMb = Math.max(overallPeakMb, get.peakRssMb);
    const getRatio = get.result.rps / base.result.rps;
    const getRatioUnprepared = get.result.rps / unprepared.result.rps;
    console.log(line("GET /bills/{id}, 10 participants", get.result, getRatio, get));

    // --- webhook ingestion: bills with payment requests, seeded through the API. A first batch serves
    // the warm-up, whose rate decides how many more the measured run needs (BENCH_WEBHOOK_PAYMENTS fixes it).
    const payer = new ApiClient(origin, await service.token("bench-webhook"));
    let billCount = 0;
    let seedSeconds = 0;
    let seededPayments = 0;
    const seedPayments = async (count: number): Promise<PaymentToPay[]> => {
      const seedStart = performance.now();
      const bills = Math.ceil(count / PARTICIPANTS_PER_WEBHOOK_BILL);
      const perBill: PaymentToPay[][] = [];
      await inParallel(bills, 8, async (b) => {
        const created = await payer.post("/bills", { totalAmount: "400.00", currency: "USD", merchantName: `Webhook bill ${billCount + b + 1}` });
        for (let i = 0; i < PARTICIPANTS_PER_WEBHOOK_BILL; i += 1) await payer.post(`/bills/${created.id}/participants`, { name: `Payer ${i + 1}` });
        await payer.post(`/bills/${created.id}/split/equal`);
        const requested = await payer.post(`/bills/${created.id}/request-payments`);
        perBill[b] = requested.requests.map((r: { paymentId: string | null; reference: string; amount: string; currency: string }) => {
          if (!r.paymentId) throw new Error("a payment request was not handed to the payment system");
          return { paymentId: r.paymentId, reference: r.reference, amount: r.amount, currency: r.currency };
        });
      });
      billCount += bills;
      seededPayments += perBill.reduce((n, list) => n + list.length, 0);
      seedSeconds += (performance.now() - seedStart) / 1000;
      // Interleaved across bills, so concurrent events hit different bills (events of one bill serialise on its row lock).
      const payments: PaymentToPay[] = [];
      for (let i = 0; i < PARTICIPANTS_PER_WEBHOOK_BILL; i += 1) for (const list of perBill) if (list[i]) payments.push(list[i]);
      return payments;
    };
    const fixedPayments = process.env.BENCH_WEBHOOK_PAYMENTS ? envNumber("BENCH_WEBHOOK_PAYMENTS", 0) : undefined;
    const firstBatch = await seedPayments(fixedPayments ?? 1_000);
    const webhookUrl = `${origin}${API}/webhook/payment-callback`;
    const warm = await load.run({ kind: "webhook", url: webhookUrl, secret: WEBHOOK_SECRET, payments: firstBatch, eventPrefix: "evt_bench_warm_", connections, durationS: warmupS });
    let rest = firstBatch.slice(warm.prepared.length);
    const warmRate = warm.prepared.length / warm.durationS;
    // The warm-up runs cold (JIT, plan caches), so the measured run is faster: seed well above its rate.
    const needed = Math.ceil(warmRate * durationS * 2.5) + 20 * connections;
    if (fixedPayments === undefined && rest.length < needed) rest = [...rest, ...(await seedPayments(needed - rest.length))];
    const hook = await sampled(() => load!.run({ kind: "webhook", url: webhookUrl, secret: WEBHOOK_SECRET, payments: rest, eventPrefix: "evt_bench_run_", connections, durationS }));
    overallPeakMb = Math.max(overallPeakMb, hook.peakRssMb);
    const events = hook.result;
    const eventsPerS = events.appliedAnswers / events.durationS;
    console.log(line("webhook payment.succeeded (events/s)", { ...events, rps: eventsPerS }, undefined, hook));

    // --- the write flow
    const writer = new ApiClient(origin, await service.token("bench-writer"));
    await load.run({ kind: "flows", origin, token: writer.token, workers: flowWorkers, durationS: warmupS, participants: 5 });
    const flows = await sampled(() => load!.run({ kind: "flows", origin, token: writer.token, workers: flowWorkers, durationS, participants: 5 }));
    overallPeakMb = Math.max(overallPeakMb, flows.peakRssMb);
    const f = flows.result;
    console.log(line("write flow: its requests", { rps: f.requests / f.durationS, p50: f.requestP50, p99: f.requestP99, errors: f.failedFlows, non2xx: 0 }, undefined, flows));
    console.log(line("write flow: whole flows (flows/s)", { rps: f.flowsPerS, p50: f.flowP50, p99: f.flowP99, errors: f.failedFlows, non2xx: 0 }, undefined, flows));

    // --- webhook: exactly once, checked in the database after the run
    await new Promise((r) => setTimeout(r, 1_000)); // requests still in flight when autocannon stopped
    const allEvents = [...warm.prepared, ...events.prepared];
    const answered = warm.appliedAnswers + events.appliedAnswers;
    const before = await webhookState(db.url, allEvents);
    // Deliver 100 of the applied events again: each must be answered "duplicate" and change nothing.
    const replays = warm.prepared.slice(0, 100).map((id, i) => ({ id, payment: firstBatch[i] }));
    const replayOutcomes: Record<string, number> = {};
    for (const { id, payment } of replays) {
      const created = Math.floor(Date.now() / 1000);
      const body = JSON.stringify({ id, type: "payment.succeeded", created, data: payment });
      const res = await fetch(webhookUrl, { method: "POST", headers: { "content-type": "application/json", [PAYMENT_SIGNATURE_HEADER]: signPayload(WEBHOOK_SECRET, body, created) }, body });
      const outcome = res.ok ? String(((await res.json()) as { outcome: string }).outcome) : `http ${res.status}`;
      replayOutcomes[outcome] = (replayOutcomes[outcome] ?? 0) + 1;
    }
    const after = await webhookState(db.url, allEvents);
    const inFlight = before.applied - answered;
    const exactlyOnce =
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
      JSON.stringify(after) === JSON.stringify(before);

    // --- where the time goes: SQL statements per operation, and the driver cost of one query
    const statements = await statementsPerOperation(service, reader, bill.id, payer, seedPayments, webhookUrl);
    const perQuery = await perQueryCost(service, db.url, bill.id);

    // --- summary
    console.log("");
    console.log(
      `webhook check (database): ${allEvents.length} events built (${warm.prepared.length} warm-up + ${events.prepared.length} measured), ` +
        `${answered} answered 2xx "applied"; payment_events applied: ${before.applied} (${inFlight} were in flight when autocannon stopped: applied, answer not read), ` +
        `other outcomes: ${before.otherOutcomes}, requests with two applied events: ${before.requestsWithTwoEvents}; participants paid: ${before.paidParticipants}, ` +
        `payment requests paid: ${before.paidRequests}, participant->paid history rows: ${before.paidHistoryRows}; ` +
        `${replays.length} events delivered again: ${JSON.stringify(replayOutcomes)}, state unchanged: ${JSON.stringify(after) === JSON.stringify(before) ? "yes" : "NO"} ` +
        `=> every event applied exactly once: ${exactlyOnce ? "yes" : "NO"}`,
    );
    console.log(
      `write flow: ${flowWorkers} workers, each repeating: create a bill, add 5 participants, split equally, request payments (8 requests); ` +
        `${f.flows} flows, ${f.requests} requests, ${f.failedFlows} failed${f.firstError ? ` (first: ${f.firstError})` : ""}`,
    );
    console.log(
      `webhook seeding: ${seededPayments} payment requests on ${billCount} bills through the API in ${seedSeconds.toFixed(1)} s` +
        (events.exhausted ? " (RAN OUT of payments before the time was up: raise BENCH_WEBHOOK_PAYMENTS)" : ""),
    );
    console.log(
      `upload: ${(UPLOAD_BYTES / 1024 / 1024).toFixed(2)} MB PNG, 3 times (after a 64 KB warm-up), RSS sampled every 5 ms: ` +
        uploads.map((u) => `${u.ms.toFixed(0)} ms, ${u.startMb.toFixed(0)} -> ${u.peakMb.toFixed(0)} MB (+${u.growthMb.toFixed(1)})`).join("; ") +
        `; largest growth ${uploadGrowthMb.toFixed(1)} MB`,
    );
    const maxRssMb = process.resourceUsage().maxRSS / 1024;
    console.log(`peak RSS under load: ${overallPeakMb.toFixed(0)} MB (sampled every 20 ms; OS high-water mark for the whole run ${maxRssMb.toFixed(0)} MB)`);
    console.log(
      `SQL statements per operation (BEGIN/COMMIT included): GET bill ${statements.get}, one webhook event ${statements.webhook}, ` +
        `one write flow ${statements.flow} (create ${statements.create}, add participant ${statements.add}, split ${statements.split}, request 5 payments ${statements.request})`,
    );
    console.log(
      `one query, sequential, same row: Prisma findUnique ${perQuery.prisma.wallUs.toFixed(0)} us wall / ${perQuery.prisma.cpuUs.toFixed(0)} us CPU in this process; ` +
        `raw pg ${perQuery.pg.wallUs.toFixed(0)} us wall / ${perQuery.pg.cpuUs.toFixed(0)} us CPU`,
    );
    console.log("");
    console.log("targets:");
    console.log(
      `  GET bill: ${getRatio.toFixed(2)}x the prepared baseline (>= 0.5x) ${verdict(getRatio >= 0.5)} ` +
        `(${getRatioUnprepared.toFixed(2)}x the unprepared one); p99 ${get.result.p99.toFixed(1)} ms (<= 50 ms) ${verdict(get.result.p99 <= 50)}`,
    );
    console.log(`  webhook: ${eventsPerS.toFixed(0)} events/s (>= 1000) ${verdict(eventsPerS >= 1_000)}; exactly once ${verdict(exactlyOnce)}`);
    console.log(`  upload: RSS growth ${uploadGrowthMb.toFixed(1)} MB (< 30 MB) ${verdict(uploadGrowthMb < 30)}`);
  } finally {
    load?.close();
    await baseline?.close().catch(() => undefined);
    await service?.stop().catch((err) => console.error("stopping the service failed:", err));
    await db.drop();
  }
}

/** How many SQL statements the service sends for each operation (captured at the driver). */
async function statementsPerOperation(
  service: Service,
  reader: ApiClient,
  billId: string,
  payer: ApiClient,
  seedPayments: (count: number) => Promise<PaymentToPay[]>,
  webhookUrl: string,
) {
  const count = async (work: () => Promise<unknown>) => {
    const { queries } = await captureSql(async () => {
      await work();
      await new Promise((r) => setTimeout(r, 100)); // anything the service does right after answering
    });
    return queries.length;
  };
  const get = await count(() => reader.get(`/bills/${billId}`));
  const [payment] = await seedPayments(PARTICIPANTS_PER_WEBHOOK_BILL);
  const webhook = await count(async () => {
    const created = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ id: `evt_bench_count_${created}`, type: "payment.succeeded", created, data: payment });
    const res = await fetch(webhookUrl, { method: "POST", headers: { "content-type": "application/json", [PAYMENT_SIGNATURE_HEADER]: signPayload(WEBHOOK_SECRET, body, created) }, body });
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
    const bills = "SELECT id FROM bills WHERE creator_user_id = 'bench-webhook'";
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
