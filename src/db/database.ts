// Opens the database: PGlite (PostgreSQL in WebAssembly, in a data folder) when no DATABASE_URL is
// configured, otherwise a real PostgreSQL server through node-postgres. Both give the same Prisma client.
import { mkdirSync } from "node:fs";
import { PrismaPg } from "@prisma/adapter-pg";
import pg, { Pool } from "pg";
import { type Prisma, PrismaClient } from "../generated/prisma/client";
import type { Logger } from "pino";
import { listenerName, PgListener } from "./listener";
import { applyMigrationsUnderLock, type MigrationWaitListener } from "./migration-lock";
import { applyMigrations, pendingMigrations } from "./migrations";
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
  /**
   * The same connections as pg-boss wants them (its `db` option, src/jobs): one statement with
   * parameters, or parameterless text that may hold several statements (its own migrations).
   */
  executor: SqlExecutor;
  /**
   * Applies the migrations not yet applied; returns their names. On PostgreSQL, while another
   * process is migrating it waits for that one (`onWait` is told) and then applies what is left.
   */
  migrate(options?: { onWait?: MigrationWaitListener }): Promise<string[]>;
  /** The shipped migrations not yet applied to this database (nothing is changed). */
  pendingMigrations(): Promise<string[]>;
  ping(): Promise<void>;
  /**
   * Calls `onPayload` with every NOTIFY on `channel`, over one connection per Database that only
   * listens (on PostgreSQL; PGlite is one connection and notifies in-process). Resolves once
   * listening; returns the function that stops. A lost connection is opened again with backoff;
   * `onReconnect` runs once it listens again, before any newer notification: whatever was notified
   * in between was missed and must be read back.
   */
  listen(channel: string, onPayload: (payload: string) => void, onReconnect?: () => void): Promise<() => Promise<void>>;
  /** Closes the pool and the listening connection. */
  close(): Promise<void>;
}

/** pg-boss's executor contract: rows of the last statement. */
export interface SqlExecutor {
  executeSql(text: string, values?: unknown[]): Promise<{ rows: any[] }>; // eslint-disable-line @typescript-eslint/no-explicit-any -- pg-boss's own type
}

export type DatabaseOptions =
  | {
      url: string;
      poolMax?: number;
      queryTimeoutMs?: number;
      /** The first wait before the listening connection is opened again (doubling, up to 5 s). */
      listenerRetryMs?: number;
      /** Its application_name (default: listenerName(), which says which process holds it). */
      listenerName?: string;
      logger?: Logger;
    }
  | { pgliteDataDir: string }
  | { pglite: unknown };

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if ("url" in options) {
    const listener = { retryMs: options.listenerRetryMs ?? 250, name: options.listenerName ?? listenerName(), logger: options.logger };
    return openPostgres(options.url, options.poolMax ?? 10, options.queryTimeoutMs ?? 15_000, listener);
  }
  return openPglite(options);
}

/**
 * A connection whose query gets no answer within `queryTimeoutMs` is destroyed: the query fails
 * (503 to the client) and the pool opens a new connection, instead of every later request queueing
 * behind a server or network that went silent. pg's own query_timeout gives up on the query but
 * keeps the connection, which may still be inside a transaction: the next user would run in it.
 */
function guardedClient(queryTimeoutMs: number): typeof pg.Client {
  if (queryTimeoutMs <= 0) return pg.Client;
  type Callback = (err: Error | null, result?: unknown) => void;
  return class GuardedClient extends pg.Client {
    // pg's query() takes text or a config object, with the answer in a callback (an argument or
    // config.callback) or in the returned promise; this watches for that answer and passes
    // everything on unchanged. A custom Query object without a callback (a cursor) answers through
    // events and is left unguarded; none is used here.
    override query(...args: unknown[]): never {
      let timer: NodeJS.Timeout | undefined;
      const answered = () => clearTimeout(timer);
      const wrap =
        (callback: Callback): Callback =>
        (err, result) => {
          answered();
          callback(err, result);
        };
      const [config, values, callback] = args as [{ submit?: unknown; callback?: Callback } | string | null | undefined, unknown, unknown];
      let watched = true;
      if (typeof callback === "function") args[2] = wrap(callback as Callback);
      else if (typeof values === "function") args[1] = wrap(values as Callback);
      else if (config && typeof config === "object" && typeof config.callback === "function") config.callback = wrap(config.callback);
      else if (config && typeof config === "object" && typeof config.submit === "function") watched = false;
      const result = (pg.Client.prototype.query as (...a: unknown[]) => unknown).apply(this, args);
      if (result && typeof (result as Promise<unknown>).then === "function") (result as Promise<unknown>).then(answered, answered);
      if (watched) {
        timer = setTimeout(() => {
          const err = Object.assign(new Error(`Query read timeout: the database did not answer within ${queryTimeoutMs} ms`), { code: "ETIMEDOUT" });
          (this as unknown as { connection?: { stream?: { destroy(e: Error): void } } }).connection?.stream?.destroy(err);
        }, queryTimeoutMs);
        timer.unref();
      }
      return result as never;
    }
  } as unknown as typeof pg.Client;
}

/** A little below the client's guard: a fifth of it, at most a second. */
export function serverStatementTimeout(queryTimeoutMs: number): number {
  return Math.max(1, Math.round(queryTimeoutMs - Math.min(1_000, queryTimeoutMs / 5)));
}

function openPostgres(
  url: string,
  poolMax: number,
  queryTimeoutMs: number,
  listenerOptions: { retryMs: number; name: string; logger: Logger | undefined },
): Database {
  // One pool for Prisma and for plain SQL, so the pool size is the service's whole share of the server.
  // keepAlive: an idle connection to a server that vanished is noticed by TCP instead of on first use.
  const pool = new Pool({
    connectionString: url,
    max: poolMax,
    connectionTimeoutMillis: 5_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    Client: guardedClient(queryTimeoutMs),
    // The server gives up a little before the guard, so a statement stuck on a lock is cancelled
    // where it runs (57014 -> 503) instead of living on after its connection was dropped.
    ...(queryTimeoutMs > 0 ? { options: `-c statement_timeout=${serverStatementTimeout(queryTimeoutMs)}` } : {}),
  });
  // An idle connection the server drops must not crash the process; the next query reports the outage.
  pool.on("error", () => undefined);
  const adapterFactory = new PrismaPg(pool);
  const prisma = new PrismaClient({ adapter: adapterFactory });
  const sql = poolSql(pool);
  // Its own connection, outside the pool, named so that an operator sees which process it is.
  const ListenerClient = guardedClient(queryTimeoutMs);
  const listener = new PgListener(
    () =>
      new ListenerClient({
        connectionString: url,
        application_name: listenerOptions.name,
        connectionTimeoutMillis: 5_000,
        keepAlive: true,
        keepAliveInitialDelayMillis: 10_000,
      }),
    { retryMs: listenerOptions.retryMs, maxRetryMs: Math.max(5_000, listenerOptions.retryMs), checkEveryMs: 30_000, logger: listenerOptions.logger },
  );
  return {
    kind: "postgres",
    location: redactUrl(url),
    prisma,
    sql,
    // node-postgres sends text without values as a simple query, which may hold several statements.
    executor: { executeSql: async (text, values) => ({ rows: (await pool.query(text, values?.length ? values : undefined)).rows }) },
    // On a connection of its own without the query timeout (see migration-lock.ts).
    migrate: (options) => applyMigrationsUnderLock(url, options?.onWait),
    pendingMigrations: () => pendingMigrations((text) => sql.query(text)),
    ping: async () => {
      await sql.query("SELECT 1");
    },
    listen: (channel, onPayload, onReconnect) => listener.listen(channel, onPayload, onReconnect),
    close: async () => {
      await listener.close();
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
    // PGlite's query() prepares its text, which refuses several statements: parameterless text
    // (pg-boss's migrations) goes through exec(), which answers each statement's rows.
    executor: {
      executeSql: async (text, values) => {
        if (!values || values.length === 0) return { rows: (await pglite.exec(text)).at(-1)?.rows ?? [] };
        return { rows: (await pglite.query(text, values)).rows };
      },
    },
    // One process owns a PGlite folder: nobody else can be migrating it.
    migrate: () => applyMigrations(adapterFactory),
    pendingMigrations: () => pendingMigrations(async (text) => (await pglite.query<Record<string, unknown>>(text)).rows),
    ping: async () => {
      await prisma.$queryRaw`SELECT 1`;
    },
    // Notifications of a commit arrive on the same instance, after it: there is no connection to lose.
    listen: async (channel, onPayload) => {
      const stop = await pglite.listen(channel, onPayload);
      return async () => {
        if (!pglite.closed) await stop();
      };
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
