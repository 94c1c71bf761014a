// Plain SQL on the same database and connections as Prisma, for the few hot paths where Prisma's
// per-statement cost would set the throughput: webhook ingestion and reading one bill. Measured on
// the benchmark machine: a Prisma statement costs about 300 µs of CPU in this process, the same
// statement through node-postgres about 50 µs (docs/performance.md). Everything else uses Prisma.
//
// Both drivers speak the same PostgreSQL; results come back as plain rows. Cast NUMERIC columns to
// text in the SQL (amounts stay exact strings) and read timestamps as Date.

export interface SqlClient {
  query<Row extends object = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<Row[]>;
}

export interface Sql extends SqlClient {
  /** Runs `work` in one transaction (READ COMMITTED): committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: SqlClient) => Promise<T>): Promise<T>;
}

/** A json column as an object: both drivers parse json, but a json value can also arrive as text. */
export function jsonColumn<T>(value: T | string): T {
  return typeof value === "string" ? (JSON.parse(value) as T) : value;
}

/**
 * A DATE column read as text (`to_char(col, 'YYYY-MM-DD')` or `col::text`) as a Date at UTC
 * midnight: a calendar date that neither the server's nor the driver's time zone can shift.
 */
export function calendarDate(value: string | null): Date | null {
  return value === null ? null : new Date(`${value}T00:00:00Z`);
}

/** One statement of a batch, with its own placeholders $1, $2, ... */
export interface Statement {
  text: string;
  values: readonly unknown[];
}

/**
 * Several independent writes as one statement, one round trip: each becomes a data-modifying CTE.
 * They all run against the same snapshot, so none may depend on another's effect, and no two may
 * change the same row (PostgreSQL leaves the outcome of that undefined). Placeholders are renumbered
 * textually: a statement must not contain "$<digits>" inside a string literal or dollar quotes.
 */
export function batch(statements: readonly Statement[]): Statement {
  if (statements.length === 0) throw new Error("batch() needs at least one statement");
  if (statements.length === 1) return statements[0];
  const values: unknown[] = [];
  const parts = statements.map((s, i) => {
    const offset = values.length;
    values.push(...s.values);
    const text = s.text.replace(/\$(\d+)/g, (_, n: string) => {
      const index = Number(n);
      if (index < 1 || index > s.values.length) throw new Error(`batch(): $${n} has no value in statement ${i + 1}`);
      return `$${index + offset}`;
    });
    return `w${i} AS (${text})`;
  });
  return { text: `WITH ${parts.join(",\n")}\nSELECT 1`, values };
}

// ---------------------------------------------------------------------------------------------

type PgQuery = { name?: string; text: string; values?: unknown[] } | string;

interface PgPoolLike {
  query(query: PgQuery, values?: unknown[]): Promise<{ rows: unknown[] }>;
  connect(): Promise<{
    query(query: PgQuery, values?: unknown[]): Promise<{ rows: unknown[] }>;
    release(destroy?: boolean | Error): void;
    on(event: "error", listener: (err: Error) => void): unknown;
    off(event: "error", listener: (err: Error) => void): unknown;
  }>;
}

/**
 * Our statements are a fixed set of texts, so each is prepared once per connection (a named
 * statement) and PostgreSQL stops parsing and planning it on every call. The cap only guards
 * against a caller that builds texts without bound; past it, statements run unnamed.
 */
const MAX_PREPARED = 500;

function preparedNames() {
  const names = new Map<string, string>();
  return (text: string, values?: readonly unknown[]): PgQuery => {
    let name = names.get(text);
    if (!name && names.size < MAX_PREPARED) {
      name = `chillbill_${names.size + 1}`;
      names.set(text, name);
    }
    return name ? { name, text, values: values as unknown[] } : { text, values: values as unknown[] };
  };
}

/** SQL over the node-postgres pool that Prisma's adapter also uses. */
export function poolSql(pool: PgPoolLike): Sql {
  const prepared = preparedNames();
  return {
    query: async <Row extends object>(text: string, values?: readonly unknown[]) => (await pool.query(prepared(text, values))).rows as Row[],
    async transaction<T>(work: (tx: SqlClient) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      // A connection lost mid-transaction fails the query in flight; without a listener the same
      // error emitted on the client would end the process.
      const onError = () => undefined;
      client.on("error", onError);
      const tx: SqlClient = {
        query: async <Row extends object>(text: string, values?: readonly unknown[]) => (await client.query(prepared(text, values))).rows as Row[],
      };
      try {
        await client.query("BEGIN");
        const result = await work(tx);
        await client.query("COMMIT");
        client.off("error", onError);
        client.release();
        return result;
      } catch (err) {
        // A connection that cannot even roll back is broken: the pool drops it instead of reusing it.
        const rolledBack = await client.query("ROLLBACK").then(
          () => true,
          () => false,
        );
        client.off("error", onError);
        client.release(rolledBack ? undefined : true);
        throw err;
      }
    },
  };
}

interface PgliteLike {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  transaction<T>(work: (tx: { query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> }) => Promise<T>): Promise<T>;
}

/** SQL over the embedded PGlite instance. It is one connection: its own lock orders these with Prisma's. */
export function pgliteSql(pglite: PgliteLike): Sql {
  return {
    query: async <Row extends object>(text: string, values?: readonly unknown[]) => (await pglite.query(text, values as unknown[])).rows as Row[],
    transaction: <T>(work: (tx: SqlClient) => Promise<T>) =>
      pglite.transaction((t) =>
        work({ query: async <Row extends object>(text: string, values?: readonly unknown[]) => (await t.query(text, values as unknown[])).rows as Row[] }),
      ),
  };
}
