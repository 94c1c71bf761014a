// Redis for the tests of shared rate limits. TEST_REDIS_URL names a server (CI sets it, with
// TEST_DATABASE_URL); the tests that need one are added to the run only then, as the PostgreSQL
// targets are. Every test run counts under its own key prefix and deletes its keys afterwards, so
// runs sharing one Redis do not meet.
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import pino, { type Logger } from "pino";
import { createClient } from "redis";

export const testRedisUrl = process.env.TEST_REDIS_URL || undefined;

let prefixes = 0;
/** A key prefix no other run (or test) on the same Redis uses. */
export function uniqueKeyPrefix(): string {
  prefixes += 1;
  return `chillbill-test:${process.pid}-${Date.now().toString(36)}-${prefixes}:`;
}

/** The keys under `prefix`, sorted. */
export async function redisKeys(url: string, prefix: string): Promise<string[]> {
  return withRedis(url, async (client) => {
    const keys: string[] = [];
    for await (const batch of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 100 })) keys.push(...batch);
    return keys.sort();
  });
}

export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const keys = await redisKeys(url, prefix);
  if (keys.length) await withRedis(url, (client) => client.del(keys));
}

/** Fails with a clear message when TEST_REDIS_URL is set but nothing answers there. */
export async function expectRedisAnswers(url: string): Promise<void> {
  await withRedis(url, (client) => client.ping());
}

// One attempt, no reconnecting: a Redis that does not answer fails the test at once.
const newClient = (url: string) => createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 2_000 } });

async function withRedis<T>(url: string, use: (client: ReturnType<typeof newClient>) => Promise<T>): Promise<T> {
  const client = newClient(url);
  client.on("error", () => {}); // a failure reaches the caller through connect() or the command
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`TEST_REDIS_URL is set but Redis does not answer there: ${(err as Error).message}`, { cause: err });
  }
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

/** A local port with nothing listening on it (it was free a moment ago). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A pino logger that keeps its lines, to check what was logged. */
export function recordingLogger(): { logger: Logger; lines: Array<{ level: number; msg: string; [key: string]: unknown }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger, lines };
}
