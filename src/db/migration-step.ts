// The migration step of a start, done once before anything is served (docs/deployment.md).
// MIGRATE_ON_START=true: the start applies what is pending (on PostgreSQL one process at a time, see
// migration-lock.ts). false: the release step (`npm run db:migrate`) applies migrations, and a start
// on a schema with migrations pending is refused rather than served by code the schema does not fit.
import type { Logger } from "pino";
import { openDatabase, type DatabaseOptions } from "./database";
import { migrationWaitMessage } from "./migration-lock";

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
