// Drops the run's PostgreSQL database (PostgreSQL mode only); PGlite databases die with their workers.
import { Client } from "pg";
import { assertTestDatabase, databaseName } from "./test-database-url";

export default async function globalTeardown(): Promise<void> {
  const url = process.env.CHILLBILL_TEST_DATABASE_URL;
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (!url || !serverUrl) return;
  assertTestDatabase(url);
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${databaseName(url)}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
