// `npm run bench:scale`: list and get for one user on a database with 1,000,000 bills and 5,000,000
// participants, against the same calls on a near-empty database (only that user's bills), through the
// real service. Seeds with INSERT ... SELECT generate_series, prints the median times, the ratio
// (target: within 2x) and EXPLAIN (ANALYZE, BUFFERS) of the SQL the service ran, to show index use.
//
// Environment: BENCH_DATABASE_URL (the PostgreSQL server; databases chillbill_bench_scale_<stamp> and
// chillbill_bench_small_<stamp> are created on it and dropped at the end), BENCH_SCALE_BILLS (default
// 1000000; 5 participants each), BENCH_SCALE_TARGET_BILLS (the target user's bills, default 100),
// BENCH_SCALE_RUNS (timed runs per call, default 50), BENCH_KEEP_DB=1.
import { performance } from "node:perf_hooks";
import { PrismaPg } from "@prisma/adapter-pg";
import { Client } from "pg";
import { applyMigrations } from "../src/db/migrations";
import {
  ApiClient,
  captureSql,
  createDatabase,
  describeMachine,
  envNumber,
  machineLine,
  median,
  percentile,
  stamp,
  startService,
  type BenchDatabase,
  type CapturedQuery,
} from "./support";

const totalBills = Math.floor(envNumber("BENCH_SCALE_BILLS", 1_000_000));
const targetBills = Math.floor(envNumber("BENCH_SCALE_TARGET_BILLS", 100));
const runs = Math.floor(envNumber("BENCH_SCALE_RUNS", 50));
const warmups = Math.max(10, Math.floor(runs / 5));
const TARGET_USER = "bench-target";
const PARTICIPANTS_PER_BILL = 5;

interface Seeded {
  seconds: number;
  bills: number;
  participants: number;
  targetBills: number;
  sizeMb: number;
}

/**
 * Seeds `bills` bills (one in every bills/targetBills belongs to the target user, the rest to
 * bills/10 other users, ~10 each) and five participants per bill, created over the last two years.
 * Secondary indexes are dropped for the load and built again afterwards (as a restore would);
 * foreign-key triggers are off for the session (the rows are consistent by construction).
 */
async function seed(url: string, bills: number, target: number): Promise<Seeded> {
  const started = performance.now();
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("SET synchronous_commit = off");
    await client.query("SET session_replication_role = replica");
    await client.query("SET maintenance_work_mem = '512MB'");
    const { rows: indexes } = await client.query<{ indexname: string; indexdef: string }>(
      `SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = 'public' AND i.tablename IN ('bills', 'participants')
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`,
    );
    for (const index of indexes) await client.query(`DROP INDEX "${index.indexname}"`);

    const step = Math.max(1, Math.floor(bills / Math.max(1, target)));
    const users = Math.max(1, Math.floor(bills / 10));
    const statuses = "ARRAY['completed','completed','completed','completed','active','active','active','created','created','cancelled']";
    await client.query(`
      INSERT INTO bills (id, creator_id, total_amount, currency, merchant_name, bill_date, note, status, split_method,
                         needs_resplit, ai_processed, user_set_fields, created_at, updated_at, completed_at, cancelled_at)
      SELECT gen_random_uuid(),
             CASE WHEN s.i % ${step} = 0 AND s.i / ${step} <= ${target} THEN '${TARGET_USER}' ELSE 'user_' || (s.i % ${users}) END,
             s.total, 'USD', 'Merchant ' || (s.i % 5000), s.created::date,
             CASE WHEN s.i % 7 = 0 THEN 'team dinner ' || s.i END,
             s.status::bill_status,
             CASE WHEN s.status = 'created' THEN NULL ELSE 'equal'::split_method END,
             false, s.i % 3 = 0, '{totalAmount,currency}', s.created, s.created + interval '1 hour',
             CASE WHEN s.status = 'completed' THEN s.created + interval '2 days' END,
             CASE WHEN s.status = 'cancelled' THEN s.created + interval '1 day' END
        FROM (SELECT i, (10 + (i % 990))::numeric(18, 3) + 0.5 AS total,
                     date_trunc('milliseconds', now() - random() * interval '730 days') AS created,
                     (${statuses})[1 + abs(hashint4(i)) % 10] AS status
                FROM generate_series(1, ${bills}) AS i) s`);
    await client.query(`
      INSERT INTO participants (id, bill_id, user_id, name, phone, email, is_cake_user, is_creator, amount_to_pay,
                                payment_status, paid_amount, outstanding_amount, paid_at, payment_method, created_at, updated_at)
      SELECT gen_random_uuid(), b.id,
             CASE WHEN k = 0 THEN b.creator_id WHEN k <= 2 THEN 'member_' || (abs(hashtext(b.id::text)) % 200000) || '_' || k END,
             CASE WHEN k = 0 THEN 'Creator' ELSE 'Guest ' || k END,
             CASE WHEN k >= 3 THEN '+8490' || lpad((abs(hashtext(b.id::text)) % 1000000)::text, 6, '0') || k END,
             CASE WHEN k = 4 THEN 'guest' || k || '@example.com' END,
             k <= 2, k = 0,
             CASE WHEN b.status <> 'created' THEN p.share END,
             p.status::participant_payment_status,
             -- The ledger's balances (docs/money.md): received, and what is still owed (0 for the creator).
             CASE WHEN p.status = 'paid' THEN p.share ELSE 0 END,
             CASE WHEN p.status = 'paid' OR k = 0 OR b.status IN ('created', 'cancelled') THEN 0 ELSE p.share END,
             CASE WHEN p.status = 'paid' THEN b.created_at + interval '1 day' END,
             CASE WHEN p.status = 'paid' THEN CASE WHEN k = 0 THEN 'creator' ELSE 'payment_system' END END,
             b.created_at + k * interval '1 millisecond', b.created_at + k * interval '1 millisecond'
        FROM bills b
        -- (refers to b so each bill's participants are written together, as the service writes them)
        CROSS JOIN LATERAL generate_series(0, CASE WHEN b.id IS NULL THEN 0 ELSE ${PARTICIPANTS_PER_BILL - 1} END) AS k
        CROSS JOIN LATERAL (SELECT CASE WHEN b.status = 'completed' OR (k = 0 AND b.status <> 'created') THEN 'paid'
                                        WHEN b.status = 'active' THEN 'requested' ELSE 'pending' END AS status,
                                   CASE WHEN k = 0 THEN b.total_amount - 4 * round(b.total_amount / 5, 2)
                                        ELSE round(b.total_amount / 5, 2) END AS share) p`);
    for (const index of indexes) await client.query(index.indexdef);
    await client.query("SET session_replication_role = DEFAULT");
    await client.query("VACUUM (ANALYZE) bills");
    await client.query("VACUUM (ANALYZE) participants");
    const count = async (sql: string) => Number((await client.query<{ n: string }>(sql)).rows[0].n);
    return {
      seconds: (performance.now() - started) / 1000,
      bills: await count("SELECT count(*) AS n FROM bills"),
      participants: await count("SELECT count(*) AS n FROM participants"),
      targetBills: await count(`SELECT count(*) AS n FROM bills WHERE creator_id = '${TARGET_USER}'`),
      sizeMb: (await count("SELECT pg_database_size(current_database()) AS n")) / 1024 / 1024,
    };
  } finally {
    await client.end();
  }
}

interface Timings {
  list: number[];
  page2: number[];
  get: number[];
}

type Call = (i: number) => Promise<unknown>;
type Calls = Record<keyof Timings, Call>;

/** List, second page and get for the target user through a running service. */
async function targetCalls(origin: string, token: string): Promise<Calls> {
  const api = new ApiClient(origin, token);
  const first = await api.get<{ items: { id: string }[]; nextCursor: string | null }>("/bills?limit=20");
  if (first.items.length !== 20 || !first.nextCursor) throw new Error(`the target user should have more than 20 bills (got ${first.items.length})`);
  const cursor = first.nextCursor;
  const ids = first.items.map((b) => b.id);
  return {
    list: () => api.get("/bills?limit=20"),
    page2: () => api.get(`/bills?limit=20&cursor=${encodeURIComponent(cursor)}`),
    get: async (i) => {
      const bill = await api.get<{ participants: unknown[] }>(`/bills/${ids[i % ids.length]}`);
      if (bill.participants.length !== PARTICIPANTS_PER_BILL) throw new Error("a bill without its participants");
      return bill;
    },
  };
}

/**
 * Times the calls on both databases, one request at a time, alternating between them so both see the
 * same process state (JIT, GC) and the same moment; the first `warmups` rounds are not counted.
 */
async function timeBoth(sets: Calls[]): Promise<Timings[]> {
  const timings = sets.map((): Timings => ({ list: [], page2: [], get: [] }));
  for (let i = 0; i < warmups + runs; i += 1) {
    for (const name of ["list", "page2", "get"] as const) {
      for (const [s, calls] of sets.entries()) {
        const t0 = performance.now();
        await calls[name](i);
        const ms = performance.now() - t0;
        if (i >= warmups) timings[s][name].push(ms);
      }
    }
  }
  return timings;
}

async function capturePlans(calls: Calls): Promise<{ name: string; queries: CapturedQuery[] }[]> {
  const plans: { name: string; queries: CapturedQuery[] }[] = [];
  for (const [name, call] of [
    ["list, first page: GET /bills?limit=20", calls.list],
    ["list, second page: GET /bills?limit=20&cursor=<nextCursor>", calls.page2],
    ["get: GET /bills/{id}", calls.get],
  ] as const) {
    const { queries } = await captureSql(() => call(3));
    plans.push({ name, queries: queries.filter((q) => /^\s*SELECT/i.test(q.text) && /bills|participants/.test(q.text)) });
  }
  return plans;
}

async function explain(url: string, plans: { name: string; queries: CapturedQuery[] }[]): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    for (const { name, queries } of plans) {
      console.log(`\n=== ${name}: ${queries.length} quer${queries.length === 1 ? "y" : "ies"}`);
      for (const q of queries) {
        console.log(
          `--- ${q.text
            .replace(/"public"\./g, "")
            .replace(/\s+/g, " ")
            .slice(0, 400)}${q.text.length > 400 ? " ..." : ""}`,
        );
        console.log(`    params: ${JSON.stringify(q.values)}`);
        const { rows } = await client.query<{ "QUERY PLAN": string }>(`EXPLAIN (ANALYZE, BUFFERS) ${q.text}`, q.values as unknown[]);
        for (const row of rows) console.log(`    ${row["QUERY PLAN"]}`);
      }
    }
  } finally {
    await client.end();
  }
}

const fmt = (values: number[]) =>
  `${median(values).toFixed(2).padStart(7)} ms (p90 ${percentile(
    [...values].sort((a, b) => a - b),
    90,
  ).toFixed(2)})`;

async function main(): Promise<void> {
  const machine = await describeMachine();
  console.log(machineLine("scale benchmark", machine));
  console.log(
    `${totalBills} bills x ${PARTICIPANTS_PER_BILL} participants; target user with ${targetBills} bills; median of ${runs} runs after ${warmups} warm-up runs, one request at a time`,
  );
  const run = stamp();
  const databases: BenchDatabase[] = [];
  try {
    const big = await createDatabase(`scale_${run}`);
    databases.push(big);
    const small = await createDatabase(`small_${run}`);
    databases.push(small);
    for (const db of databases) await applyMigrations(new PrismaPg({ connectionString: db.url }));

    const bigSeed = await seed(big.url, totalBills, targetBills);
    console.log(
      `seeded ${big.name}: ${bigSeed.bills} bills, ${bigSeed.participants} participants, target user ${bigSeed.targetBills} bills, ` +
        `${bigSeed.sizeMb.toFixed(0)} MB, in ${bigSeed.seconds.toFixed(1)} s (INSERT ... SELECT generate_series, indexes built after the load)`,
    );
    const smallSeed = await seed(small.url, targetBills, targetBills);
    console.log(
      `seeded ${small.name}: ${smallSeed.bills} bills, ${smallSeed.participants} participants (only the target user's), in ${smallSeed.seconds.toFixed(1)} s`,
    );

    const services = [await startService(small.url), await startService(big.url)];
    let near: Timings;
    let large: Timings;
    let plans: { name: string; queries: CapturedQuery[] }[];
    try {
      const sets = await Promise.all(services.map(async (service) => targetCalls(service.origin, await service.token(TARGET_USER))));
      [near, large] = await timeBoth(sets);
      plans = await capturePlans(sets[1]);
    } finally {
      for (const service of services) await service.stop();
    }
    console.log("");
    console.log(`${"call".padEnd(34)} ${"near-empty".padStart(24)} ${`${totalBills} bills`.padStart(24)} ${"ratio".padStart(7)}  target <= 2x`);
    let allMet = true;
    for (const [name, key] of [
      ["list, first page (limit 20)", "list"],
      ["list, second page (nextCursor)", "page2"],
      ["get one bill (5 participants)", "get"],
    ] as const) {
      const ratio = median(large[key]) / median(near[key]);
      allMet &&= ratio <= 2;
      console.log(
        `${name.padEnd(34)} ${fmt(near[key]).padStart(24)} ${fmt(large[key]).padStart(24)} ${`${ratio.toFixed(2)}x`.padStart(7)}  ${ratio <= 2 ? "met" : "MISSED"}`,
      );
    }
    console.log(`target (each within 2x of the near-empty database): ${allMet ? "met" : "MISSED"}`);

    console.log(`\nquery plans on ${big.name} (the SQL the service sent, run again with EXPLAIN (ANALYZE, BUFFERS)):`);
    await explain(big.url, plans);
  } finally {
    for (const db of databases) await db.drop().catch((err) => console.error(`dropping ${db.name} failed:`, err));
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
