// Opens the database: PGlite (PostgreSQL in WebAssembly, in a data folder) when no DATABASE_URL is
// configured, otherwise a real PostgreSQL server through node-postgres. Both give the same Prisma client.
import { mkdirSync } from "node:fs";
import type { SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import { PrismaPg } from "@prisma/adapter-pg";
import { Pool } from "pg";
import { type Prisma, PrismaClient } from "../generated/prisma/client";
import { pgliteSql, poolSql, type Sql } from "./sql";

export type Db = PrismaClient;
/** The client handed to code running inside `db.$transaction(async (tx) => ...)`. */
export type Tx = Prisma.TransactionClient;

export interface Database {
  kind: "pglite" | "postgres";
  /** Where the data is: the PGlite folder, or the server URL without its password. */
  location: string;
  prisma: PrismaClient;
  /** Plain SQL on the same connections, for the hot paths (see sql.ts). */
  sql: Sql;
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
  // One pool for Prisma and for plain SQL, so the pool size is the service's whole share of the server.
  // keepAlive: an idle connection to a server that vanished is noticed by TCP instead of on first use.
  const pool = new Pool({ connectionString: url, max: poolMax, connectionTimeoutMillis: 5_000, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
  // An idle connection the server drops must not crash the process; the next query reports the outage.
  pool.on("error", () => undefined);
  const adapterFactory = new PrismaPg(pool);
  const prisma = new PrismaClient({ adapter: adapterFactory });
  const sql = poolSql(pool);
  return {
    kind: "postgres",
    location: redactUrl(url),
    prisma,
    sql,
    adapterFactory,
    ping: async () => {
      await sql.query("SELECT 1");
    },
    close: async () => {
      await prisma.$disconnect();
      await pool.end();
    },
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
    sql: pgliteSql(pglite),
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
