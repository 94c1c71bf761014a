// Run by globalSetup in a plain Node process (tsx): the schema engine is WebAssembly that Jest's
// module system cannot load. See global-setup.ts.
import { writeFile } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { Client } from "pg";
import PgBoss from "pg-boss";
import { applyMigrations } from "../../src/db/migrations";
import { createDatabase, TEST_DB_PATTERN, withDatabase } from "./test-database-url";

async function preparePglite(templatePath: string) {
  const pglite = new PGlite();
  await applyMigrations(new PrismaPGlite(pglite));
  // The job queue's tables too, so that each test file's start() finds them in place.
  await pglite.exec(PgBoss.getConstructionPlans("pgboss"));
  const dump = await pglite.dumpDataDir("gzip");
  await writeFile(templatePath, Buffer.from(await dump.arrayBuffer()));
  await pglite.close();
}

async function preparePostgres(serverUrl: string, name: string) {
  if (!TEST_DB_PATTERN.test(name)) throw new Error(`Not a test database name: ${name}`);
  await createDatabase(serverUrl, name);
  await applyMigrations(new PrismaPg({ connectionString: withDatabase(serverUrl, name) }));
  // The job queue's tables, installed once here rather than raced by every test file's start().
  const client = new Client({ connectionString: withDatabase(serverUrl, name) });
  await client.connect();
  try {
    await client.query(PgBoss.getConstructionPlans("pgboss"));
  } finally {
    await client.end();
  }
}

const [mode, a, b] = process.argv.slice(2);
(mode === "pglite" ? preparePglite(a) : preparePostgres(a, b)).catch((err) => {
  console.error("Preparing the test database failed:", err);
  process.exit(1);
});
