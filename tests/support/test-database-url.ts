// Guards for the PostgreSQL mode of the test run: we only ever create, use and drop databases
// whose name says they are for tests.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "pg";

export const TEST_DB_PATTERN = /^chillbill_test_[a-z0-9_]+$/;

export function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ""));
}

export function assertTestDatabase(url: string): void {
  const name = databaseName(url);
  if (!TEST_DB_PATTERN.test(name)) {
    throw new Error(`Refusing to run tests against database "${name}": its name must match ${TEST_DB_PATTERN}`);
  }
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export interface FreshDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** CREATE DATABASE `name` on the server at `serverUrl`, through a connection of its own. */
export async function createDatabase(serverUrl: string, name: string): Promise<void> {
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
}

/** An empty database of its own on the server at `serverUrl` (chillbill_test_<label>_<unique>), for one test. */
export async function createFreshDatabase(serverUrl: string, label: string): Promise<FreshDatabase> {
  const name = `chillbill_test_${label}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const url = withDatabase(serverUrl, name);
  assertTestDatabase(url);
  await createDatabase(serverUrl, name);
  return {
    name,
    url,
    drop: async () => {
      const dropper = new Client({ connectionString: serverUrl });
      await dropper.connect();
      try {
        await dropper.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

/** Where a test starts a real server on an empty database: a PGlite directory always, a fresh PostgreSQL database when the run has one. */
export interface EmptyDatabaseTarget {
  name: string;
  prepare(): Promise<{ env: Record<string, string>; cleanup(): Promise<void> }>;
}

export function emptyDatabaseTargets(label: string): EmptyDatabaseTarget[] {
  const targets: EmptyDatabaseTarget[] = [
    {
      name: "an empty PGlite directory",
      prepare: async () => {
        const dir = mkdtempSync(path.join(tmpdir(), "chillbill-pglite-"));
        return { env: { PGLITE_DATA_DIR: path.join(dir, "data") }, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
      },
    },
  ];
  const serverUrl = process.env.TEST_DATABASE_URL;
  if (serverUrl) {
    targets.push({
      name: "a fresh PostgreSQL database",
      prepare: async () => {
        const database = await createFreshDatabase(serverUrl, label);
        return { env: { DATABASE_URL: database.url }, cleanup: database.drop };
      },
    });
  }
  return targets;
}
