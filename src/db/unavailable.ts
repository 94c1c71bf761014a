// What "the database is unavailable" means, defined once: a request that meets it answers 503
// (http/problem.ts), and a start-up step that meets it is tried again (src/startup.ts). It is an
// outage that waiting can end: refused, dropped or silent connections, a server that is starting,
// shutting down or full. A wrong password, a database that does not exist, a failed migration or
// wrong SQL are not: trying again would not help, so they are not in here.

const UNAVAILABLE_CODES = new Set([
  // Prisma: cannot reach the server, timed out, closed the connection, pool timeout, transaction API error.
  "P1001",
  "P1002",
  "P1008",
  "P1017",
  "P2024",
  "P2028",
  // The network (also a database host name that does not resolve yet, as in a container network
  // whose database starts later).
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  // PostgreSQL: connection exceptions (class 08), too many connections, the server shutting down
  // or starting up (57P01-57P03), a statement cancelled by its timeout (57014).
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
  "53300",
  "57P01",
  "57P02",
  "57P03",
  "57014",
]);

/** Prisma's driver adapter's names for the same (meta.driverAdapterError.cause.kind). */
const UNAVAILABLE_KINDS = new Set(["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout", "TooManyConnections"]);

// node-postgres reports a dropped or unreachable server with plain Errors carrying only a message;
// Prisma's schema engine (migrations) with P1001/P1002/P1017 wording and no code.
const UNAVAILABLE_MESSAGES =
  /^(Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Client has encountered a connection error|Connection terminated due to connection timeout|Can't reach database server at|Server has closed the connection)|was reached but timed out/;

/** True when `err` (or an error it wraps, as its cause) says the database is unavailable for now. */
export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== "object" || depth > 4) return false;
  const e = err as {
    code?: unknown;
    name?: unknown;
    kind?: unknown;
    cause?: unknown;
    errorCode?: unknown;
    originalCode?: unknown;
    message?: unknown;
    meta?: { driverAdapterError?: unknown };
  };
  if (typeof e.message === "string" && UNAVAILABLE_MESSAGES.test(e.message)) return true;
  for (const code of [e.code, e.errorCode, e.originalCode]) if (typeof code === "string" && UNAVAILABLE_CODES.has(code)) return true;
  if (typeof e.kind === "string" && UNAVAILABLE_KINDS.has(e.kind)) return true;
  // Prisma Client could not open its connection: at request time that is the server, not a setting
  // (start-up does not use Prisma Client; its settings are proven before anything is served).
  if (e.name === "PrismaClientInitializationError") return true;
  // Prisma keeps the driver's error (and PostgreSQL's own code) under meta.driverAdapterError.cause.
  return isDatabaseUnavailable(e.cause, depth + 1) || isDatabaseUnavailable(e.meta?.driverAdapterError, depth + 1);
}
