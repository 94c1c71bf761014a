// `npm run db:migrate`: applies pending migrations to the configured database (PGlite or DATABASE_URL).
import { ConfigError, loadConfig, readEnvironment } from "../config";
import { openDatabase } from "../db/database";

async function main() {
  const config = loadConfig(readEnvironment());
  const db = await openDatabase(config.database);
  try {
    const applied = await db.migrate();
    console.log(applied.length ? `Applied: ${applied.join(", ")}` : `Up to date (${db.kind}: ${db.location})`);
  } finally {
    await db.close();
  }
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
