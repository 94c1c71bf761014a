// Opens the database: PGlite (PostgreSQL in WebAssembly, in a data folder) when no DATABASE_URL is
// configured, otherwise a real PostgreSQL server through node-postgres. Both give the same Prisma client.
import { mkdirSync } from "node:fs";
import type { SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import { PrismaPg } from "@prisma/adapter-pg";
import { type Prisma, PrismaClient } from "../generated/prisma/client";

export type Db = PrismaClient;
/** The client handed to code running inside `db.$transaction(async (tx) => ...)`. */
export type Tx = Prisma.TransactionClient;

export interface Database {
  kind: "pglite" | "postgres";
  /** Where the data is: the PGlite folder, or the server URL without its password. */
  location: string;
  prisma: PrismaClient;
  adapterFactory: SqlMigrationAwareDriverAdapterFactory;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type DatabaseOptions = { url: string; poolMax?: number } | { pgliteDataDir: string } | { pglite: unknown };

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if ("url" in options) return openPostgres(options.url, options.poolMax ?? 10);
  return openPglite(options);
}

function openPostgres(url: string, poolMax: number): Database {
  const adapterFactory = new PrismaPg({ connectionString: url, max: poolMax, connectionTimeoutMillis: 5_000 });
  const prisma = new PrismaClient({ adapter: adapterFactory });
  return {
    kind: "postgres",
    location: redactUrl(url),
    prisma,
    adapterFactory,
    ping: async () => {
      await prisma.$queryRaw`SELECT 1`;
    },
    close: () => prisma.$disconnect(),
  };
}

async function openPglite(options: { pgliteDataDir: string } | { pglite: unknown }): Promise<Database> {
  const { PGlite } = await import("@electric-sql/pglite");
  const { PrismaPGlite } = await import("pglite-prisma-adapter");
  let pglite: InstanceType<typeof PGlite>;
  let location = "memory";
  if ("pglite" in options) {
    pglite = options.pglite as InstanceType<typeof PGlite>;
  } else {
    mkdirSync(options.pgliteDataDir, { recursive: true });
    pglite = await PGlite.create(options.pgliteDataDir);
    location = options.pgliteDataDir;
  }
  const adapterFactory = new PrismaPGlite(pglite);
  const prisma = new PrismaClient({ adapter: adapterFactory });
  return {
    kind: "pglite",
    location,
    prisma,
    adapterFactory,
    ping: async () => {
      await prisma.$queryRaw`SELECT 1`;
    },
    close: async () => {
      await prisma.$disconnect();
      if (!pglite.closed) await pglite.close();
    },
  };
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "postgresql://(unparseable url)";
  }
}
