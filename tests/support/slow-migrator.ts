// Another process in the middle of a long migration, for the tests of starts that must wait for it.
// Run with tsx (Prisma's WebAssembly engine cannot load inside Jest): takes Prisma's migration lock,
// prints {"locked": <its server pid>}, keeps it for <holdMs> as a slow migration would, then applies
// the migrations in that same session (the engine's own lock request is granted to the holder) and
// prints {"applied": [...]}.
import { PrismaPg } from "@prisma/adapter-pg";
import { Pool } from "pg";
import { PRISMA_MIGRATE_LOCK_KEY } from "../../src/db/migration-lock";
import { applyMigrations } from "../../src/db/migrations";

async function main(url: string, holdMs: number) {
  const pool = new Pool({ connectionString: url, max: 1, idleTimeoutMillis: 0 });
  try {
    const { rows } = await pool.query<{ pid: number }>("SELECT pg_advisory_lock($1), pg_backend_pid() AS pid", [PRISMA_MIGRATE_LOCK_KEY]);
    console.log(JSON.stringify({ locked: rows[0].pid }));
    await new Promise((resolve) => setTimeout(resolve, holdMs));
    console.log(JSON.stringify({ applied: await applyMigrations(new PrismaPg(pool)) }));
  } finally {
    await pool.end();
  }
}

const [url, holdMs] = process.argv.slice(2);
main(url, Number(holdMs)).catch((err) => {
  console.error("The slow migration failed:", err);
  process.exit(1);
});
