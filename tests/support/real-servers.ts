// Real server processes on fresh databases of the PostgreSQL server named by TEST_DATABASE_URL, for
// the suites that run the service as it is deployed (`*.faults.ts`, `*.multi.ts`): each suite
// opens one RealServers, which creates the databases, boots the servers and opens the test's own
// connections, and closes it in afterAll: servers killed, connections ended, databases dropped.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "pg";
import { PAYMENT_SIGNATURE_HEADER } from "../../src/adapters/payments/payment-system";
import { signDevelopmentToken } from "../../src/http/auth";
import { webhookSignature } from "./payments";
import { launchServer, type LaunchedServer, type ServerProcess } from "./server-process";
import { TEST_AI_SECRET, TEST_JWT_SECRET, TEST_PAYMENT_SECRET } from "./test-app";
import { createFreshDatabase, type FreshDatabase } from "./test-database-url";

/** The application_name of the test's own connections, to tell them from the servers'. */
export const TEST_CONNECTION = "chillbill-real-servers-test";

export class RealServers {
  private adminClient: Client | undefined;
  private directory: string | undefined;
  private readonly databases: FreshDatabase[] = [];
  private readonly servers: Array<ServerProcess | LaunchedServer> = [];
  private readonly connections: Client[] = [];
  readonly serverUrl = process.env.TEST_DATABASE_URL;

  /** `label` names the databases (chillbill_test_<label>_...) and the temporary folder. */
  constructor(private readonly label: string) {}

  async open(): Promise<void> {
    if (!this.serverUrl) throw new Error(`The ${this.label} suite needs a PostgreSQL server: set TEST_DATABASE_URL`);
    this.adminClient = new Client({ connectionString: this.serverUrl });
    await this.adminClient.connect();
    this.directory = mkdtempSync(path.join(tmpdir(), `chillbill-${this.label}-`));
  }

  async close(): Promise<void> {
    for (const s of this.servers) await s.stop("SIGKILL").catch(() => undefined);
    for (const c of this.connections) await c.end().catch(() => undefined);
    for (const database of this.databases) await database.drop();
    await this.adminClient?.end();
    if (this.directory) rmSync(this.directory, { recursive: true, force: true });
  }

  /** A connection to the server's maintenance database (pg_stat_activity, CREATE and DROP DATABASE). */
  get admin(): Client {
    if (!this.adminClient) throw new Error("RealServers.open() first");
    return this.adminClient;
  }

  /** A temporary folder of the suite's own (uploads), removed by close(). */
  get dir(): string {
    if (!this.directory) throw new Error("RealServers.open() first");
    return this.directory;
  }

  /** An empty database, dropped by close(). */
  freshDatabase = async (): Promise<{ url: string; name: string }> => {
    const database = await createFreshDatabase(this.serverUrl!, this.label);
    this.databases.push(database);
    return { url: database.url, name: database.name };
  };

  /** A connection of the test's own to a test database: to read the outcome, or to hold locks. */
  connectTo = async (url: string): Promise<Client> => {
    const c = new Client({ connectionString: url, application_name: TEST_CONNECTION });
    c.on("error", () => undefined);
    await c.connect();
    this.connections.push(c);
    return c;
  };

  /** The real server entry with the test secrets (the mock payment system never pays by itself); killed by close() if still running. */
  boot = async (env: Record<string, string>): Promise<ServerProcess> => this.launch(env).listening();

  /** The same, not waited for: a start-up test watches it start. */
  launch = (env: Record<string, string>): LaunchedServer => {
    const server = launchServer({
      JWT_SECRET: TEST_JWT_SECRET,
      PAYMENT_WEBHOOK_SECRET: TEST_PAYMENT_SECRET,
      AI_CALLBACK_SECRET: TEST_AI_SECRET,
      PAYMENT_MOCK_DELAY_MS: "0",
      UPLOAD_DIR: path.join(this.dir, "uploads"),
      ...env,
    });
    this.servers.push(server);
    return server;
  };
}

export interface Answer {
  status: number;
  headers: Headers;
  body: any;
  ms: number;
}

/** Calls the API at `target` (a server, or a proxy in front of several) as `user`, with a development token. */
export function apiClient(target: { url: string }, user: string) {
  let token = "";
  return async (method: string, url: string, body?: unknown, timeoutMs = 20_000, headers: Record<string, string> = {}): Promise<Answer> => {
    token ||= await signDevelopmentToken(TEST_JWT_SECRET, user);
    const started = Date.now();
    const res = await fetch(`${target.url}/api/chillbill${url}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    const json = /json/.test(res.headers.get("content-type") ?? "");
    return { status: res.status, headers: res.headers, body: text && json ? JSON.parse(text) : text || undefined, ms: Date.now() - started };
  };
}

export type ApiClient = ReturnType<typeof apiClient>;

/** A signed delivery to `target`, as the payment system sends it; status 0 when nobody answered. */
export async function sendWebhook(target: { url: string }, event: object, timeoutMs = 20_000): Promise<{ status: number; body?: any; ms: number }> {
  const raw = JSON.stringify(event);
  const started = Date.now();
  try {
    const res = await fetch(`${target.url}/api/chillbill/webhook/payment-callback`, {
      method: "POST",
      headers: { "content-type": "application/json", [PAYMENT_SIGNATURE_HEADER]: webhookSignature(raw) },
      body: raw,
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: res.status, body: await res.json(), ms: Date.now() - started };
  } catch {
    return { status: 0, ms: Date.now() - started };
  }
}

/** Polls `check` until it returns a value (not undefined), or fails after `ms` naming `what`. */
export async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 20_000, everyMs = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
