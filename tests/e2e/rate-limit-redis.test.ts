// The real server process with REDIS_URL pointing where nothing answers: Redis being away must not
// stop the start, fail requests, crash the process or hold up its shutdown.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { signDevelopmentToken } from "../../src/http/auth";
import { closedPort } from "../support/redis";
import { runServer, startServer } from "../support/server-process";

const secret = "e2e-secret-that-is-long-enough-for-hs256";

jest.setTimeout(120_000);

it("starts, answers without a limit and logs the outage once, and exits 0 on SIGTERM, while Redis is away", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "chillbill-pglite-"));
  try {
    const server = await startServer({
      PGLITE_DATA_DIR: path.join(dir, "data"),
      JWT_SECRET: secret,
      RATE_LIMIT_PER_MINUTE: "2",
      REDIS_URL: `redis://127.0.0.1:${await closedPort()}`,
      SHUTDOWN_TIMEOUT_MS: "5000",
    });
    const token = await signDevelopmentToken(secret, "e2e-user");
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      statuses.push((await fetch(`${server.url}/api/chillbill/bills`, { headers: { authorization: `Bearer ${token}` } })).status);
    }
    expect(statuses).toEqual([200, 200, 200, 200]);
    const outage = server.logs().filter((l) => /^Rate limit store unavailable/.test(String(l.msg)));
    expect(outage).toHaveLength(1);
    expect(outage[0].level).toBe(50);

    const started = Date.now();
    expect(await server.stop("SIGTERM")).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(server.logs().map((l) => l.msg)).toContain("Shutdown complete");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it("refuses to start with a REDIS_URL that is not a redis:// URL, in one line naming the variable", async () => {
  const { output, exited } = runServer({ REDIS_URL: "http://cache:6379" });
  expect(await exited).toBe(1);
  expect(output().trim()).toMatch(/^Invalid configuration: REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL[^\n]*$/);
});
