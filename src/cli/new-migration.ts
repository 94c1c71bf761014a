// `npm run db:migration:new -- <name>`: writes the next migration from the change to
// prisma/schema.prisma. It applies the existing migrations to a throwaway in-memory PGlite and asks
// Prisma's schema engine for the SQL from there to the schema, so it needs no server and no network.
import { PGlite } from "@electric-sql/pglite";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { diffAgainstMigrations, writeMigration } from "../db/migrations";

async function main() {
  const name = process.argv[2];
  if (!name || !/^[a-z0-9_]+$/.test(name)) {
    console.error("Usage: npm run db:migration:new -- <name_in_snake_case>");
    process.exit(2);
  }
  const scratch = new PGlite();
  try {
    const sql = await diffAgainstMigrations(new PrismaPGlite(scratch));
    if (!sql.trim() || /^-- This is an empty migration\.?\s*$/.test(sql.trim())) {
      console.log("The schema matches the migrations: nothing to write.");
      return;
    }
    const dir = await writeMigration(name, sql);
    console.log(`Wrote ${dir}/migration.sql; review it, then commit it with the schema change.`);
  } finally {
    await scratch.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
