// Run by tests/api/data-model.test.ts in a plain Node process (tsx): the schema engine is WebAssembly
// that Jest's module system cannot load. Prints the SQL that would take a database migrated by
// prisma/migrations to prisma/schema.prisma: Prisma's empty-migration comment when they agree.
import { PGlite } from "@electric-sql/pglite";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { diffAgainstMigrations } from "../../src/db/migrations";

async function main() {
  const scratch = new PGlite();
  try {
    process.stdout.write(await diffAgainstMigrations(new PrismaPGlite(scratch)));
  } finally {
    await scratch.close();
  }
}

main().catch((err) => {
  console.error("Comparing the schema with the migrations failed:", err);
  process.exit(1);
});
