// Several processes on one database, as real server processes: the migrations are applied once
// whoever starts first, a start waits for another process's migration instead of failing,
// MIGRATE_ON_START=false leaves migrating to the release step (`npm run db:migrate`), and
// WEB_CONCURRENCY runs workers behind one port. The cases that need a PostgreSQL server run when
// the run has one (TEST_DATABASE_URL, as in CI), each on a fresh database of its own.
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "pg";
import { PRISMA_MIGRATE_LOCK_KEY } from "../../src/db/migration-lock";
import { signDevelopmentToken } from "../../src/http/auth";
import { until } from "../support/net";
import { runEntry, runServer, startServer, type ServerProcess } from "../support/server-process";
import { emptyDatabaseTargets } from "../support/test-database-url";
import { createFreshDatabase, type FreshDatabase } from "../support/test-database-url";

jest.setTimeout(120_000);

const secret = "e2e-secret-that-is-long-enough-for-hs256";
const shipped = readdirSync(path.resolve(__dirname, "../../prisma/migrations"), { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();
const messages = (server: { logs(): Array<Record<string, unknown>> }) => server.logs().map((l) => String(l.msg));

// Whatever a test started and left running (it failed half way) is killed after it. A primary
// killed this way takes its workers with it: node:cluster workers exit when their primary is gone.
const started = new Set<ChildProcess>();
function track<T extends { child: ChildProcess }>(spawned: T): T {
  started.add(spawned.child);
  return spawned;
}
afterEach(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  started.clear();
});

const targets = emptyDatabaseTargets("release");
const serverUrl = process.env.TEST_DATABASE_URL;

describe.each(targets)("with MIGRATE_ON_START=false on $name", (target) => {
  it("refuses to start while migrations are pending, and starts once the release step has applied them", async () => {
    const { env, cleanup } = await target.prepare();
    try {
      const refused = track(runServer({ ...env, JWT_SECRET: secret, MIGRATE_ON_START: "false" }));
      expect(await refused.exited).toBe(1);
      const message = refused.output().trim();
      expect(message).toBe(
        `The database schema is not up to date: ${shipped.length} migration(s) pending (${shipped.join(", ")}). ` +
          "MIGRATE_ON_START is false, so this start does not apply them: run `npm run db:migrate` (the release step) first, or set MIGRATE_ON_START=true.",
      );

      const release = track(runEntry("src/cli/migrate.ts", env));
      expect(await release.exited).toBe(0);
      expect(release.output()).toContain(`Applied: ${shipped.join(", ")}`);

      const server = track(await startServer({ ...env, JWT_SECRET: secret, MIGRATE_ON_START: "false" }));
      expect(messages(server)).toContain("Database schema is up to date");
      expect((await fetch(`${server.url}/ready`)).status).toBe(200);
      expect(await server.stop()).toBe(0);
    } finally {
      await cleanup();
    }
  });
});

it("refuses WEB_CONCURRENCY above 1 on the embedded PGlite, naming DATABASE_URL and why", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "chillbill-pglite-"));
  try {
    const { output, exited } = track(runServer({ WEB_CONCURRENCY: "2", PGLITE_DATA_DIR: path.join(dir, "data") }));
    expect(await exited).toBe(1);
    expect(output().trim()).toMatch(
      /^Invalid configuration: WEB_CONCURRENCY above 1 needs DATABASE_URL: the embedded PGlite database lives inside one process and cannot be shared by several worker processes [^\n]*$/,
    );
    expect(readdirSync(dir)).toEqual([]); // refused before the database was opened
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Registered only when the run has a server (the CI run always has: .ci/run sets TEST_DATABASE_URL).
const onPostgresServer = serverUrl ? describe : () => undefined;

onPostgresServer("on a PostgreSQL server", () => {
  let database: FreshDatabase;
  let admin: Client;

  beforeEach(async () => {
    database = await createFreshDatabase(serverUrl!, "processes");
    admin = new Client({ connectionString: database.url });
    await admin.connect();
  });
  afterEach(async () => {
    await admin.end();
    await database.drop();
  });
  const start = async (env: Record<string, string> = {}) => track(await startServer({ DATABASE_URL: database.url, JWT_SECRET: secret, ...env }));
  const recordedMigrations = async () =>
    (
      await admin.query<{ migration_name: string }>("SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY migration_name")
    ).rows.map((r) => r.migration_name);

  it("a start waits for another process's migration for as long as it takes (longer than Prisma's own 10 s), then finds the schema up to date", async () => {
    const migrator = track(runEntry("tests/support/slow-migrator.ts", {}, [database.url, "12000"]));
    await until(() => migrator.output().includes('{"locked":'), 30_000);
    const holderPid = (JSON.parse(migrator.output().split("\n")[0]) as { locked: number }).locked;

    const waitingSince = Date.now();
    const starting = start();
    // It is queued behind the migration: its own lock request is not granted, and its log says whom it waits for.
    await until(
      async () =>
        (
          await admin.query(
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [PRISMA_MIGRATE_LOCK_KEY],
          )
        ).rowCount === 1,
      30_000,
    );
    const server = await starting;
    expect(Date.now() - waitingSince).toBeGreaterThan(10_000);
    expect(await migrator.exited).toBe(0);
    expect(migrator.output()).toContain(JSON.stringify({ applied: shipped }));

    const logs = server.logs();
    expect(logs.find((l) => String(l.msg).startsWith("Waiting for another process"))).toMatchObject({
      holderPid,
      msg: `Waiting for another process (server pid ${holderPid}) to finish migrating this database (it holds advisory lock ${PRISMA_MIGRATE_LOCK_KEY})`,
    });
    expect(messages(server)).toContain("Database schema is up to date");
    expect(await recordedMigrations()).toEqual(shipped);
    expect((await fetch(`${server.url}/ready`)).status).toBe(200);
    expect(await server.stop()).toBe(0);
  });

  it("two processes started at once on a fresh database both come up, and the migrations are applied once", async () => {
    const [a, b] = await Promise.all([start(), start()]);
    const outcomes = [a, b].map((s) => s.logs().find((l) => Array.isArray(l.applied))?.applied).sort((x, y) => String(x).length - String(y).length);
    expect(outcomes).toEqual([[], shipped]);
    expect(await recordedMigrations()).toEqual(shipped);

    const token = await signDevelopmentToken(secret, "e2e-user");
    for (const server of [a, b]) {
      const created = await fetch(`${server.url}/api/chillbill/bills`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ totalAmount: "10.00", currency: "USD" }),
      });
      expect(created.status).toBe(201);
    }
    expect(await a.stop()).toBe(0);
    expect(await b.stop()).toBe(0);
  });

  describe("with WEB_CONCURRENCY=2", () => {
    const workersListening = (server: ServerProcess) =>
      server
        .logs()
        .filter((l) => String(l.msg).startsWith("ChillBill listening on"))
        .map((l) => l.pid as number);
    // A new connection per request, so that the primary hands each to the next worker.
    const get = (url: string) =>
      new Promise<number>((resolve, reject) => http.get(url, { agent: false }, (res) => resolve(res.resume().statusCode!)).on("error", reject));
    const answeredBy = (server: ServerProcess) =>
      new Set(
        server
          .logs()
          .filter((l) => l.req)
          .map((l) => l.pid as number),
      );
    const parentOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")[1]);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };

    it("the primary migrates once and forks 2 workers that both answer on one port; a dead worker is started again; SIGTERM ends them all with exit 0", async () => {
      const server = await start({ WEB_CONCURRENCY: "2" });
      const primary = server.child.pid!;
      await until(() => workersListening(server).length === 2, 60_000);
      const workers = workersListening(server);
      expect(new Set(workers).size).toBe(2);
      expect(workers.map(parentOf)).toEqual([primary, primary]);
      expect(workers).not.toContain(primary);
      // The primary applied the migrations before forking; the workers leave migrations alone.
      const primaryLogs = server.logs().filter((l) => l.pid === primary);
      expect(primaryLogs.find((l) => Array.isArray(l.applied))?.applied).toEqual(shipped);
      expect(server.logs().filter((l) => workers.includes(l.pid as number) && "applied" in l)).toHaveLength(0);
      expect(messages(server).filter((m) => /^Worker \d started \(pid \d+\)$/.test(m))).toHaveLength(2);
      expect(
        new Set(
          server
            .logs()
            .map((l) => String(l.msg).match(/listening on (\S+)/)?.[1])
            .filter(Boolean),
        ).size,
      ).toBe(1);

      for (let i = 0; i < 20 && answeredBy(server).size < 2; i++) expect(await get(`${server.url}/api/chillbill/bills`)).toBe(401);
      expect([...answeredBy(server)].sort()).toEqual([...workers].sort());

      // A worker that dies is started again (after a short backoff) and serves.
      process.kill(workers[1], "SIGKILL");
      await until(() => workersListening(server).length === 3, 60_000);
      const replacement = workersListening(server)[2];
      expect(parentOf(replacement)).toBe(primary);
      expect(messages(server)).toEqual(
        expect.arrayContaining([
          expect.stringMatching(new RegExp(`^Worker \\d \\(pid ${workers[1]}\\) was killed by SIGKILL; starting it again in \\d+ ms$`)),
          expect.stringMatching(new RegExp(`^Worker \\d started \\(pid ${replacement}\\)$`)),
        ]),
      );
      expect((await fetch(`${server.url}/ready`)).status).toBe(200);

      expect(await server.stop("SIGTERM")).toBe(0);
      const alsoStopped = [workers[0], replacement];
      expect(alsoStopped.filter(alive)).toEqual([]);
      for (const pid of alsoStopped) {
        expect(
          server
            .logs()
            .filter((l) => l.pid === pid)
            .map((l) => l.msg),
        ).toContain("Shutdown complete");
        expect(messages(server)).toContainEqual(expect.stringMatching(new RegExp(`^Worker \\d \\(pid ${pid}\\) exited with code 0$`)));
      }
      expect(messages(server)).toContain("All workers have exited");
    });

    it("stops with exit code 1 when the workers cannot start, as a single process would, instead of starting them forever", async () => {
      // An upload folder that cannot be created (its parent is a file): the workers fail in startServer.
      const dir = mkdtempSync(path.join(tmpdir(), "chillbill-uploads-"));
      writeFileSync(path.join(dir, "file"), "");
      try {
        const { output, exited } = track(
          runServer({ DATABASE_URL: database.url, JWT_SECRET: secret, WEB_CONCURRENCY: "2", UPLOAD_DIR: path.join(dir, "file", "uploads") }),
        );
        expect(await exited).toBe(1);
        expect(output()).toMatch(/"msg":"Worker \d \(pid \d+\) exited with code 1 before the cluster was up; stopping the others"/);
        expect(output()).toContain("ENOTDIR");
        expect(output()).not.toMatch(/starting it again/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
