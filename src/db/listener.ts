// LISTEN on PostgreSQL: one connection per Database that does nothing else, opened on the first
// listen(). Not a pool connection: a pooled connection goes back to other users, and its LISTENs
// with it. When the connection is lost it is opened again with backoff, and every subscriber hears
// `onReconnect` once it listens again: what was notified meanwhile is gone, so they read it back.
import { hostname } from "node:os";
import type pg from "pg";
import type { Logger } from "pino";

/** Who holds a listening connection, as pg_stat_activity.application_name shows it (63 bytes kept). */
export const listenerName = (pid = process.pid) => `chillbill-listener:${pid}@${hostname()}`.slice(0, 63);

export interface ListenerOptions {
  /** The first wait before reconnecting; it doubles on each failure, up to `maxRetryMs`. */
  retryMs: number;
  maxRetryMs: number;
  /** How often the idle connection is asked `SELECT 1`, so a silently dead one is noticed. */
  checkEveryMs: number;
  logger?: Logger;
}

interface Subscriber {
  onPayload: (payload: string) => void;
  onReconnect?: () => void;
}

interface Connection {
  client: pg.Client;
  /** LISTEN issued on this connection, by channel. */
  listened: Map<string, Promise<void>>;
  /** Notifications that arrived while it was being opened (undefined once it is live). */
  held: [channel: string, payload: string][] | undefined;
  /** It ended or failed (possibly while still being opened). */
  failed: boolean;
}

const closedError = () => new Error("The database listener is closed");

export class PgListener {
  private readonly channels = new Map<string, Set<Subscriber>>();
  private connection: Connection | undefined;
  /** The connection being opened (first time, or again after a loss). */
  private ready: Promise<Connection> | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private wakeRetry: (() => void) | undefined;
  private checkTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly newClient: () => pg.Client,
    private readonly options: ListenerOptions,
  ) {}

  /**
   * Calls `onPayload` with every notification on `channel`. Resolves once the channel is listened
   * to; rejects when the first connection cannot be opened. Returns the function that stops.
   */
  async listen(channel: string, onPayload: (payload: string) => void, onReconnect?: () => void): Promise<() => Promise<void>> {
    if (this.closed) throw closedError();
    const subscriber: Subscriber = { onPayload, onReconnect };
    const subscribers = this.channels.get(channel) ?? new Set<Subscriber>();
    this.channels.set(channel, subscribers);
    subscribers.add(subscriber);
    try {
      const connection = this.connection ?? (await (this.ready ?? this.opening(this.open())));
      await this.listenOn(connection, channel);
    } catch (err) {
      await this.unlisten(channel, subscriber);
      throw err;
    }
    return () => this.unlisten(channel, subscriber);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.checkTimer);
    this.wakeRetry?.();
    const connection = this.connection;
    this.connection = undefined;
    if (connection) await connection.client.end().catch(() => undefined);
  }

  private opening(open: Promise<Connection>): Promise<Connection> {
    this.ready = open;
    open.then(
      () => this.ready === open && (this.ready = undefined),
      () => this.ready === open && (this.ready = undefined),
    );
    return open;
  }

  /**
   * Connects and LISTENs on every channel. Notifications that arrive before it is done are held,
   * and handed on only after `beforeLive` ran: a subscriber told of a reconnect must get to start
   * its read-back before any new notification reaches it, or it would skip what it missed.
   */
  private async open(beforeLive?: () => void): Promise<Connection> {
    const client = this.newClient();
    const connection: Connection = { client, listened: new Map(), held: [], failed: false };
    // Attached before connecting: an error event without a listener would end the process.
    const failed = () => {
      connection.failed = true;
      this.lost(connection);
    };
    client.on("error", failed);
    client.on("end", failed);
    client.on("notification", (message) => {
      if (connection.failed) return; // its replacement reads back what it is owed
      if (connection.held) connection.held.push([message.channel, message.payload ?? ""]);
      else this.dispatch(message.channel, message.payload ?? "");
    });
    try {
      await client.connect();
      for (const channel of this.channels.keys()) await this.listenOn(connection, channel);
      if (this.closed) throw closedError();
      if (connection.failed) throw new Error("The listener connection was lost while it was being opened");
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.connection = connection;
    beforeLive?.();
    const held = connection.held ?? [];
    connection.held = undefined;
    for (const [channel, payload] of held) this.dispatch(channel, payload);
    if (!this.checkTimer) {
      this.checkTimer = setInterval(() => void this.connection?.client.query("SELECT 1").catch(() => undefined), this.options.checkEveryMs);
      this.checkTimer.unref();
    }
    return connection;
  }

  private listenOn(connection: Connection, channel: string): Promise<void> {
    let listening = connection.listened.get(channel);
    if (!listening) {
      listening = connection.client.query(`LISTEN ${connection.client.escapeIdentifier(channel)}`).then(() => undefined);
      connection.listened.set(channel, listening);
      listening.catch(() => connection.listened.delete(channel));
    }
    return listening;
  }

  private async unlisten(channel: string, subscriber: Subscriber): Promise<void> {
    const subscribers = this.channels.get(channel);
    subscribers?.delete(subscriber);
    if (!subscribers || subscribers.size > 0) return;
    this.channels.delete(channel);
    const connection = this.connection;
    if (connection?.listened.delete(channel)) {
      await connection.client.query(`UNLISTEN ${connection.client.escapeIdentifier(channel)}`).catch(() => undefined);
    }
  }

  private dispatch(channel: string, payload: string): void {
    for (const subscriber of [...(this.channels.get(channel) ?? [])]) {
      try {
        subscriber.onPayload(payload);
      } catch (err) {
        this.options.logger?.error({ err, channel }, "a notification handler failed");
      }
    }
  }

  /** The connection ended or failed (a query that timed out destroys it too): open another. */
  private lost(connection: Connection): void {
    if (this.connection !== connection || this.closed) return;
    this.connection = undefined;
    connection.client.end().catch(() => undefined);
    this.options.logger?.warn("The database listener connection was lost; reconnecting (open streams re-read what they missed)");
    this.opening(this.reconnect()).catch(() => undefined);
  }

  private async reconnect(): Promise<Connection> {
    for (let attempt = 0; ; attempt += 1) {
      // Jittered, so that every instance does not knock at once when the server comes back.
      const delay = Math.min(this.options.maxRetryMs, this.options.retryMs * 2 ** attempt) * (0.75 + Math.random() / 4);
      await new Promise<void>((resolve) => {
        this.wakeRetry = resolve;
        this.retryTimer = setTimeout(resolve, delay);
      });
      if (this.closed) throw closedError();
      try {
        const connection = await this.open(() => this.announceReconnect());
        this.options.logger?.info({ attempts: attempt + 1 }, "The database listener reconnected");
        return connection;
      } catch (err) {
        if (this.closed) throw closedError();
        if (attempt === 0) this.options.logger?.warn({ err }, "The database listener could not reconnect yet; retrying with backoff");
      }
    }
  }

  private announceReconnect(): void {
    for (const subscribers of this.channels.values()) {
      for (const s of [...subscribers]) {
        try {
          s.onReconnect?.();
        } catch (err) {
          this.options.logger?.error({ err }, "a reconnect handler failed");
        }
      }
    }
  }
}
