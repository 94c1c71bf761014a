// Where the rate limiters keep their counters: in this process's memory (one instance), or in Redis
// (REDIS_URL), so that every instance behind a load balancer counts a client's requests together.
// One Redis client per process, connected at start. When Redis does not answer, requests pass
// without a limit and the outage is logged: fail open, because a bank would rather keep the API up
// than refuse every customer while a counter store is away (docs/deployment.md).
import type { Logger } from "pino";
import type { Options as RateLimitOptions, Logger as RateLimitLogger, Store } from "express-rate-limit";
import { RedisStore, type RedisReply } from "rate-limit-redis";
import { createClient } from "redis";

export interface RateLimitStores {
  /** A new store for one limiter, its counters under their own key prefix; undefined: express-rate-limit's memory store. */
  storeFor(limiter: string): Store | undefined;
  /** Where express-rate-limit logs. A store failure (the request passed unlimited) is an outage, logged at most once a minute. */
  log: RateLimitLogger;
  close(): Promise<void>;
}

// A rate-limit count takes well under a millisecond; a Redis that accepts and never answers holds
// a request at most this long before it passes unlimited.
const COMMAND_TIMEOUT_MS = 1_000;
const CONNECT_TIMEOUT_MS = 2_000;
export const DEFAULT_KEY_PREFIX = "chillbill:rate-limit:";

/** The stores the configuration asks for: Redis when REDIS_URL is set, memory otherwise. */
export async function openRateLimitStores(redisUrl: string | undefined, logger: Logger): Promise<RateLimitStores> {
  return redisUrl ? connectRateLimitStores({ url: redisUrl, logger }) : memoryRateLimitStores(logger);
}

export function memoryRateLimitStores(logger: Logger): RateLimitStores {
  return { storeFor: () => undefined, log: rateLimitLog(logger, new OutageLog(logger)), close: async () => {} };
}

/**
 * Connects to Redis, waiting at most `connectWaitMs` (a Redis that is away at start does not stop
 * the service: it starts, requests pass unlimited, and the client keeps reconnecting).
 * `keyPrefix` keeps apart services or test runs that share one Redis.
 */
export async function connectRateLimitStores(options: { url: string; logger: Logger; keyPrefix?: string; connectWaitMs?: number }): Promise<RateLimitStores> {
  const { url, logger, keyPrefix = DEFAULT_KEY_PREFIX, connectWaitMs = CONNECT_TIMEOUT_MS } = options;
  const outage = new OutageLog(logger);
  const redis = new RedisConnection(url, outage);
  if (await redis.readyWithin(connectWaitMs)) logger.info("Rate limits are counted in Redis (REDIS_URL), shared by every instance");
  else outage.failed(new Error(`Redis did not answer within ${connectWaitMs} ms of start`));
  return {
    storeFor: (limiter) => new RecoveringRedisStore({ prefix: `${keyPrefix}${limiter}:`, sendCommand: (...args: string[]) => redis.sendCommand(args) }, outage),
    log: rateLimitLog(logger, outage),
    close: () => redis.close(),
  };
}

type Client = ReturnType<typeof createRedisClient>;

function createRedisClient(url: string) {
  return createClient({
    url,
    // While Redis is away a command fails at once (the request passes) instead of waiting in a queue.
    disableOfflineQueue: true,
    socket: {
      connectTimeout: CONNECT_TIMEOUT_MS,
      // Keep trying for as long as the process runs (the default gives up after a socket timeout).
      reconnectStrategy: (retries: number) => Math.min(200 * (retries + 1), 5_000),
    },
  });
}

/**
 * The process's one Redis client. node-redis waits for an answer to a command it has sent for as
 * long as the connection stays open, so a Redis that accepts and never answers (stopped, or a
 * network that drops packets) would hold every request. Here a command gets COMMAND_TIMEOUT_MS;
 * when one goes unanswered, the connection is replaced by a new one (the old is dropped with what
 * it still waits for).
 */
class RedisConnection {
  private client: Client;
  private connecting: Promise<boolean>;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly url: string,
    private readonly outage: OutageLog,
  ) {
    [this.client, this.connecting] = this.open();
  }

  private open(): [Client, Promise<boolean>] {
    const client = createRedisClient(this.url);
    // Without a listener, an 'error' event (Redis gone, connection refused) would crash the process.
    client.on("error", (err: unknown) => this.outage.failed(err));
    // Settles when connected (or closed); until then the client retries by itself.
    const connecting = client.connect().then(
      () => true,
      () => false,
    );
    return [client, connecting];
  }

  async readyWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    try {
      return await Promise.race([this.connecting, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async sendCommand(args: string[]): Promise<RedisReply> {
    const client = this.client;
    let timer: NodeJS.Timeout | undefined;
    const unanswered = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new UnansweredCommand()), COMMAND_TIMEOUT_MS);
    });
    try {
      return await Promise.race([client.sendCommand<RedisReply>(args), unanswered]);
    } catch (err) {
      if (err instanceof UnansweredCommand && client === this.client && !this.closing) {
        [this.client, this.connecting] = this.open();
        client.destroy();
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Lets the commands in flight finish, for at most COMMAND_TIMEOUT_MS, and stops reconnecting. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const client = this.client;
      let timer: NodeJS.Timeout | undefined;
      const closed = await Promise.race([
        client.close().then(
          () => true,
          () => false,
        ),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), COMMAND_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timer);
      if (!closed) client.destroy();
    })();
    return this.closing;
  }
}

class UnansweredCommand extends Error {
  constructor() {
    super(`Redis did not answer within ${COMMAND_TIMEOUT_MS} ms`);
  }
}

/**
 * rate-limit-redis loads its Lua scripts once, when the limiter is created. If Redis was away then,
 * the loads stay failed and every later count fails too, even once Redis is back; this store loads
 * them again after such a failure. A count that works ends an outage in the log (a new connection
 * is not enough: a Redis that never answers accepts connections).
 */
class RecoveringRedisStore extends RedisStore {
  private scriptsLost = false;

  constructor(
    options: ConstructorParameters<typeof RedisStore>[0],
    private readonly outage: OutageLog,
  ) {
    super(options);
  }

  override async init(options: RateLimitOptions): Promise<void> {
    try {
      await super.init(options);
    } catch (err) {
      this.scriptsLost = true;
      throw err;
    }
  }

  override async increment(key: string) {
    try {
      const counted = await super.increment(key);
      this.outage.recovered();
      return counted;
    } catch (err) {
      if (this.scriptsLost) this.reloadScripts();
      throw err;
    }
  }

  private reloadScripts(): void {
    this.scriptsLost = false;
    const watch = (load: Promise<string>) => {
      load.catch(() => {
        this.scriptsLost = true;
      });
      return load;
    };
    this.incrementScriptSha = watch(this.loadIncrementScript());
    this.getScriptSha = watch(this.loadGetScript());
  }
}

/**
 * express-rate-limit's messages into pino. Its configuration warnings are logged as they come; any
 * other error is the store failing (the request passed unlimited) and goes to the outage log.
 */
function rateLimitLog(logger: Logger, outage: OutageLog): RateLimitLogger {
  const isConfigurationMessage = (err: unknown) => /^ERR_ERL_/.test(String((err as { code?: unknown })?.code ?? ""));
  return {
    warn: (err: unknown, message?: string) => logger.warn({ err }, message ?? "express-rate-limit"),
    error: (err: unknown, message?: string) => {
      if (isConfigurationMessage(err)) logger.error({ err }, message ?? "express-rate-limit");
      else outage.failed(err);
    },
  };
}

/**
 * Logs the first failure of an outage at once, then at most once a minute with the number of
 * failures since, so that an outage under load does not write a line per request; and one line
 * when counting works again.
 */
export class OutageLog {
  private down = false;
  private lastLoggedAt = 0;
  private failures = 0;

  constructor(
    private readonly logger: Logger,
    private readonly everyMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  failed(err: unknown): void {
    this.failures += 1;
    const at = this.now();
    if (this.down && at - this.lastLoggedAt < this.everyMs) return;
    this.logger.error({ err, failures: this.failures }, "Rate limit store unavailable: requests pass without a limit until it answers");
    this.down = true;
    this.lastLoggedAt = at;
    this.failures = 0;
  }

  recovered(): void {
    if (!this.down) return;
    this.down = false;
    this.failures = 0;
    this.logger.info("Rate limit store answers again: requests are counted");
  }
}
