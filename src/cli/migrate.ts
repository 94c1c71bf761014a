// `npm run db:migrate`: applies pending migrations to the configured database (PGlite or DATABASE_URL).
// This is the release step when instances start with MIGRATE_ON_START=false. On PostgreSQL it
// waits for a migration already running elsewhere, then applies what is left (see db/migration-lock.ts).
import { ConfigError, loadConfig, readEnvironment } from "../config";
import { openDatabase } from "../db/database";
import { migrationWaitMessage } from "../db/migration-lock";

async function main() {
  const config = loadConfig(readEnvironment());
  const db = await openDatabase(config.database);
  try {
    const applied = await db.migrate({ onWait: (pid) => console.log(migrationWaitMessage(pid)) });
    console.log(applied.length ? `Applied: ${applied.join(", ")}` : `Up to date (${db.kind}: ${db.location})`);
  } finally {
    await db.close();
  }
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
