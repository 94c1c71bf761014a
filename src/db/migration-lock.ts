// Migrations on a PostgreSQL server that several processes may migrate at once (instances starting
// together, the release step, a cluster's primary): one applies them, the others wait for it and
// then find the schema up to date.
//
// Prisma's schema engine already serialises migrations with `SELECT pg_advisory_lock(72707369)`,
// but gives up after 10 s (ADVISORY_LOCK_TIMEOUT in prisma-engines, not configurable, the same in
// the WebAssembly build): a start that waits behind a longer migration crashed. So we take that same
// lock first, with no time limit, on the one connection the engine then runs on. PostgreSQL grants a
// session a lock it already holds at once, so the engine's own request never waits. Using Prisma's
// key rather than one of our own also keeps out a `prisma migrate deploy` run from elsewhere.
import { PrismaPg } from "@prisma/adapter-pg";
import { Pool, type PoolClient } from "pg";
import { applyMigrations, pendingMigrations, type QueryRows } from "./migrations";

export const PRISMA_MIGRATE_LOCK_KEY = 72707369;

/** Told when another session holds the lock, before this one waits for it (the holder's server pid, if known). */
export type MigrationWaitListener = (holderPid: number | undefined) => void;

/** Applies the pending migrations once no other process is migrating; returns the names it applied. */
export async function applyMigrationsUnderLock(url: string, onWait?: MigrationWaitListener): Promise<string[]> {
  // One connection that is never closed while idle: the lock belongs to the session, and the engine
  // must run in that session. No query timeout on it: an index on a big table may take long.
  const pool = new Pool({ connectionString: url, max: 1, idleTimeoutMillis: 0, connectionTimeoutMillis: 5_000 });
  pool.on("error", () => undefined);
  const query: QueryRows = async (text) => (await pool.query(text)).rows;
  try {
    // Up to date (every start but the first after a release): no lock and no engine.
    if ((await pendingMigrations(query)).length === 0) return [];
    const client = await pool.connect();
    try {
      await lockWithoutTimeout(client, onWait);
    } finally {
      client.release();
    }
    // Whoever held the lock may have applied everything meanwhile.
    if ((await pendingMigrations(query)).length === 0) return [];
    return await applyMigrations(new PrismaPg(pool));
  } finally {
    // Ending the session releases the lock (both holds: ours and the engine's).
    await pool.end();
  }
}

async function lockWithoutTimeout(client: PoolClient, onWait?: MigrationWaitListener): Promise<void> {
  const [{ locked }] = (await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [PRISMA_MIGRATE_LOCK_KEY])).rows;
  if (locked) return;
  onWait?.(await migrationLockHolder(client));
  // A statement_timeout or lock_timeout set for the role must not end the wait; SET LOCAL keeps
  // them for the migrations themselves. The lock is session-level: it outlives this transaction.
  await client.query("BEGIN");
  try {
    await client.query("SET LOCAL statement_timeout = 0");
    await client.query("SET LOCAL lock_timeout = 0");
    await client.query("SELECT pg_advisory_lock($1)", [PRISMA_MIGRATE_LOCK_KEY]);
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
}

/** The log line for a process that waits for another's migration. */
export function migrationWaitMessage(holderPid: number | undefined): string {
  const who = holderPid === undefined ? "another process" : `another process (server pid ${holderPid})`;
  return `Waiting for ${who} to finish migrating this database (it holds advisory lock ${PRISMA_MIGRATE_LOCK_KEY})`;
}

/** The server pid of the session holding the migration lock in this database, if any. */
export async function migrationLockHolder(client: { query: PoolClient["query"] }): Promise<number | undefined> {
  // A bigint advisory key is stored as classid (high 32 bits), objid (low 32 bits), objsubid 1.
  const { rows } = await client.query<{ pid: number }>(
    `SELECT pid FROM pg_locks
     WHERE locktype = 'advisory' AND granted AND classid = 0 AND objid = $1 AND objsubid = 1
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [PRISMA_MIGRATE_LOCK_KEY],
  );
  return rows[0]?.pid;
}
