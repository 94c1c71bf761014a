// The real server process: it starts on an empty database, applies the migrations once, serves
// the API, and shuts down cleanly. Runs on an empty PGlite directory always, and on a fresh
// PostgreSQL database when the run has one (TEST_DATABASE_URL, as in CI).
import { readdirSync } from "node:fs";
import path from "node:path";
import { signDevelopmentToken } from "../../src/http/auth";
import { runServer, startServer } from "../support/server-process";
import { emptyDatabaseTargets } from "../support/test-database-url";

const secret = "e2e-secret-that-is-long-enough-for-hs256";

const targets = emptyDatabaseTargets("startup");

jest.setTimeout(120_000);

describe.each(targets)("starting on $name", (target) => {
  it("applies the migrations on the first start, none on the second, and serves bills in between", async () => {
    const { env, cleanup } = await target.prepare();
    try {
      const first = await startServer({ ...env, JWT_SECRET: secret });
      const firstLogs = first.logs();
      expect(String(firstLogs[0].msg)).toMatch(env.DATABASE_URL ? /PostgreSQL server from DATABASE_URL/ : /embedded PostgreSQL \(PGlite\)/);
      const migrations = readdirSync(path.resolve(__dirname, "../../prisma/migrations"), { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
        .sort();
      expect(migrations[0]).toMatch(/_init$/);
      expect(firstLogs.find((l) => /Applied \d+ migration/.test(String(l.msg)))?.applied).toEqual(migrations);

      const ready = await fetch(`${first.url}/ready`);
      expect(ready.status).toBe(200);
      const token = await signDevelopmentToken(secret, "e2e-user");
      const created = await fetch(`${first.url}/api/chillbill/bills`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ totalAmount: "10.00", currency: "USD" }),
      });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      expect(await first.stop("SIGTERM")).toBe(0);
      expect(first.logs().map((l) => l.msg)).toContain("Shutdown complete");

      const second = await startServer({ ...env, JWT_SECRET: secret });
      expect(second.logs().map((l) => l.msg)).toContain("Database schema is up to date");
      const again = await fetch(`${second.url}/api/chillbill/bills/${id}`, { headers: { authorization: `Bearer ${token}` } });
      expect(again.status).toBe(200);
      expect(await second.stop("SIGINT")).toBe(0);
    } finally {
      await cleanup();
    }
  });
});

it("refuses to start with a bad setting, in one line naming the variable", async () => {
  const { output, exited } = runServer({ PORT: "eighty" });
  expect(await exited).toBe(1);
  expect(output().trim()).toMatch(/^Invalid configuration: PORT [^\n]*$/);
});
