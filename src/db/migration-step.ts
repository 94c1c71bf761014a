// The migration step of a start, done once before anything is served (docs/deployment-processes.md).
// MIGRATE_ON_START=true: the start applies what is pending (on PostgreSQL one process at a time, see
// migration-lock.ts). false: the release step (`npm run db:migrate`) applies migrations, and a start
// on a schema with migrations pending is refused rather than served by code the schema does not fit.
import { Client } from "pg";
import type { Logger } from "pino";
import { openDatabase, type DatabaseOptions } from "./database";
import { migrationLockHolder, migrationWaitMessage } from "./migration-lock";
import { pendingMigrations } from "./migrations";

export class PendingMigrationsError extends Error {
  override name = "PendingMigrationsError";

  constructor(readonly pending: string[]) {
    super(
      `The database schema is not up to date: ${pending.length} migration(s) pending (${pending.join(", ")}). ` +
        "MIGRATE_ON_START is false, so this start does not apply them: run `npm run db:migrate` (the release step) first, or set MIGRATE_ON_START=true.",
    );
  }
}

/** MIGRATE_ON_START=false: throws PendingMigrationsError when a shipped migration is not applied. */
export async function refuseIfMigrationsPending(database: DatabaseOptions): Promise<void> {
  const db = await openDatabase(database);
  try {
    const pending = await db.pendingMigrations();
    if (pending.length > 0) throw new PendingMigrationsError(pending);
  } finally {
    await db.close();
  }
}

/** Applies the pending migrations in a process that does not serve (a cluster's primary, before it forks). */
export async function migrateBeforeServing(database: DatabaseOptions, logger: Logger): Promise<void> {
  const db = await openDatabase(database);
  try {
    const applied = await db.migrate({ onWait: (pid) => logger.info({ holderPid: pid }, migrationWaitMessage(pid)) });
    logger.info({ applied }, applied.length ? `Applied ${applied.length} migration(s)` : "Database schema is up to date");
  } finally {
    await db.close();
  }
}

/**
 * A single process migrates inside startServer, which has no word for a wait behind another
 * process's migration. So before it starts, one look: migrations pending while another session holds
 * the lock means this start is about to wait, and the log says so. Anything unusual here (database
 * unreachable) is left for the start itself to report.
 */
export async function announceMigrationWait(database: DatabaseOptions, logger: Logger): Promise<void> {
  if (!("url" in database)) return;
  const client = new Client({ connectionString: database.url, connectionTimeoutMillis: 5_000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    const holderPid = await migrationLockHolder(client);
    if (holderPid === undefined) return;
    const pending = await pendingMigrations(async (text) => (await client.query(text)).rows);
    if (pending.length > 0) logger.info({ holderPid }, migrationWaitMessage(holderPid));
  } catch {
    // The start reports it.
  } finally {
    await client.end().catch(() => undefined);
  }
}
