// The raw-`pg` baseline of `npm run bench`: GET /baseline/bills/<id>?user=<userId> runs the service's
// own statement for reading a bill (VISIBLE_BILL_SQL) on a raw pg Pool, prepared like the service's,
// with no framework, no auth, no validation, and sends the row back as it comes. It runs in processes
// of its own, as the service does: one process, or a node:cluster primary with N workers sharing one
// port (what WEB_CONCURRENCY=N does for the service), so both are compared at the same N.
// This file is both the handle the benchmark uses (startBaseline) and the server (run as a child).
import { spawn } from "node:child_process";
import cluster from "node:cluster";
import { createServer } from "node:http";
import { Pool } from "pg";
import { VISIBLE_BILL_SQL } from "../src/modules/bills/bills.repository";
import { childPids, freePort } from "./processes";

const READY = "baseline ready";

export interface Baseline {
  processes: number;
  /** The process started: the cluster's primary, or the one server process. */
  pid: number;
  /** The processes that serve: the primary, then its workers. */
  pids(): number[];
  url(billId: string, userId: string, prepared?: boolean): string;
  stop(): Promise<void>;
}

/** Starts the baseline in `processes` processes, each with a pool of `poolMax` connections; resolves once every one listens. */
export async function startBaseline(databaseUrl: string, poolMax: number, processes: number): Promise<Baseline> {
  const port = await freePort();
  // This process's execArgv: tsx's loader, so the child runs this TypeScript file (its workers inherit it).
  const child = spawn(process.execPath, [...process.execArgv, __filename], {
    env: {
      ...process.env,
      CHILLBILL_BASELINE_CHILD: "1",
      BASELINE_DATABASE_URL: databaseUrl,
      BASELINE_POOL_MAX: String(poolMax),
      BASELINE_PROCESSES: String(processes),
      BASELINE_PORT: String(port),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes(READY)) resolve();
      });
      child.once("exit", (code) => reject(new Error(`the baseline exited during start-up (${code})`)));
      setTimeout(() => reject(new Error(`the baseline did not listen in ${processes} process(es) within 60 s`)), 60_000).unref();
    });
  } catch (err) {
    child.kill("SIGKILL"); // its workers exit with it
    throw err;
  }
  const pid = child.pid!;
  return {
    processes,
    pid,
    pids: () => (processes > 1 ? [pid, ...childPids(pid)] : [pid]),
    url: (billId, userId, prepared = true) =>
      `http://127.0.0.1:${port}/baseline${prepared ? "" : "-unprepared"}/bills/${billId}?user=${encodeURIComponent(userId)}`,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}

/** One server process: a primary with no workers, or a cluster's worker. */
function serve(announceReady: boolean): void {
  const pool = new Pool({ connectionString: process.env.BASELINE_DATABASE_URL, max: Number(process.env.BASELINE_POOL_MAX) });
  const server = createServer(async (req, res) => {
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
  server.keepAliveTimeout = 5_000; // as the service's
  server.listen(Number(process.env.BASELINE_PORT), "127.0.0.1", () => {
    if (announceReady) process.stdout.write(`${READY}\n`);
  });
  process.once("SIGTERM", () => {
    server.closeAllConnections();
    server.close(() => void pool.end().then(() => process.exit(0)));
  });
}

function childMain(): void {
  const processes = Number(process.env.BASELINE_PROCESSES);
  if (processes === 1 || !cluster.isPrimary) {
    serve(processes === 1);
    return;
  }
  // The primary serves nothing, as the service's does: it hands connections to the workers in turn.
  let listening = 0;
  cluster.on("listening", () => {
    listening += 1;
    if (listening === processes) process.stdout.write(`${READY}\n`);
  });
  for (let i = 0; i < processes; i += 1) cluster.fork();
  process.once("SIGTERM", () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
    cluster.on("exit", () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
  });
}

if (require.main === module && process.env.CHILLBILL_BASELINE_CHILD === "1") childMain();
