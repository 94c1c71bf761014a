// Start-up runs as named steps before anything is served (src/server.ts, src/cluster.ts). A step
// that meets a database outage (src/db/unavailable.ts: refused, dropped or silent connections, a
// server that is starting) is tried again after a capped exponential backoff, with one log line per
// failed attempt, instead of ending the process: a database that is late or restarting must not
// turn into a crash loop. Anything else (a failed migration, a folder that cannot be created) ends
// the start at once; bad settings never get this far (src/config.ts). SIGTERM/SIGINT during
// start-up stop it: a wait between attempts ends at once, an attempt in flight gets until the
// shutdown deadline (SHUTDOWN_TIMEOUT_MS), and what was opened is closed within that deadline.
import type { Logger } from "pino";
import type { Config } from "./config";
import { isDatabaseUnavailable } from "./db/unavailable";
import { ShutdownDeadline } from "./shutdown";

export type StartRetryPolicy = Config["startRetry"];

/** The wait after the `failures`-th failed attempt in a row of one step (>= 1): doubling, capped. */
export function startRetryDelayMs(policy: StartRetryPolicy, failures: number): number {
  return Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** Math.min(failures - 1, 30));
}

/** A signal stopped the start before it was done; nothing was served. */
export class StartupStopped extends Error {
  override name = "StartupStopped";

  constructor(readonly reason: string) {
    super(`Start-up stopped (${reason}) before anything was served`);
  }
}

/** A step still met a database outage after START_RETRY_LIMIT retries. */
export class StartupGaveUp extends Error {
  override name = "StartupGaveUp";

  constructor(step: string, failures: number, reason: string, cause: unknown) {
    super(`${step} failed ${failures} times in a row, the database being unavailable (START_RETRY_LIMIT=${failures - 1}); giving up. Last error: ${reason}`, {
      cause,
    });
  }
}

export interface StartupOptions {
  retry: StartRetryPolicy;
  shutdownTimeoutMs: number;
  logger: Logger;
  /** Which errors are worth another attempt (default: the database is unavailable). */
  isTransient?: (err: unknown) => boolean;
}

type Outcome<T> = { value: T } | { error: unknown };

export class Startup {
  private stopReason: string | undefined;
  private deadline: ShutdownDeadline | undefined;
  private finished = false;
  private readonly stopped: Promise<void>;
  private markStopped!: () => void;
  /** The step whose error ended the start (for the last words of a failed start). */
  failedStep: string | undefined;

  constructor(private readonly options: StartupOptions) {
    this.stopped = new Promise<void>((resolve) => (this.markStopped = resolve));
  }

  /**
   * Stops the start (a signal arrived). False when start-up is already done: stopping is then a
   * shutdown, the server's own.
   */
  stop(reason: string): boolean {
    if (this.finished) return false;
    if (this.stopReason === undefined) {
      this.stopReason = reason;
      this.deadline = new ShutdownDeadline(this.options.shutdownTimeoutMs, this.options.logger);
      this.options.logger.info(`Stopping start-up: ${reason}`);
      this.markStopped();
    }
    return true;
  }

  /** Start-up is done (the process listens): from now on a signal is the server's shutdown. */
  finish(): void {
    this.finished = true;
  }

  /** Why the start was stopped, if it was. */
  get stoppedBy(): string | undefined {
    return this.stopReason;
  }

  /** Throws StartupStopped once a signal stopped the start (between steps, and before listening). */
  throwIfStopped(): void {
    if (this.stopReason !== undefined) throw new StartupStopped(this.stopReason);
  }

  /**
   * Runs one step of the start. A database outage is logged and the step tried again after the
   * backoff (for ever, or START_RETRY_LIMIT times); any other error is thrown at once. Stopped
   * meanwhile: a wait ends at once; an attempt in flight (a migration is better finished than cut)
   * is waited for until the shutdown deadline, and what it opened is returned so that it is closed.
   */
  async step<T>(name: string, work: () => Promise<T>): Promise<T> {
    const { logger, retry } = this.options;
    const isTransient = this.options.isTransient ?? isDatabaseUnavailable;
    for (let failures = 0; ;) {
      this.throwIfStopped();
      const attempt: Promise<Outcome<T>> = work().then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      let outcome = await Promise.race([attempt, this.stopped.then(() => undefined)]);
      if (outcome === undefined) {
        if (!(await this.deadline!.within(`Start-up step "${name}"`, attempt))) this.throwIfStopped();
        outcome = await attempt;
      }
      if ("value" in outcome) {
        if (failures > 0) logger.info({ step: name, failedAttempts: failures }, `Start-up: ${name} succeeded after ${failures} failed attempt(s)`);
        return outcome.value;
      }
      const { error } = outcome;
      if (this.stopReason !== undefined) {
        logger.warn({ step: name, error: reasonOf(error) }, `Start-up: ${name} failed while stopping: ${reasonOf(error)}`);
        this.throwIfStopped();
      }
      if (!isTransient(error)) {
        this.failedStep = name;
        throw error;
      }
      failures += 1;
      const reason = reasonOf(error);
      if (retry.limit > 0 && failures > retry.limit) {
        this.failedStep = name;
        throw new StartupGaveUp(name, failures, reason, error);
      }
      const delayMs = startRetryDelayMs(retry, failures);
      const retryAt = new Date(Date.now() + delayMs).toISOString();
      logger.warn(
        { step: name, attempt: failures, retryInMs: delayMs, retryAt, error: reason },
        `Start-up: ${name} failed (attempt ${failures}, the database is unavailable): ${reason}; trying again in ${delayMs} ms`,
      );
      await this.sleep(delayMs);
    }
  }

  /**
   * Closes what a start that did not finish had opened, each within the shutdown deadline (the
   * signal's, or one of its own when the start failed), so the process always gets to exit.
   */
  async closeAll(closers: ReadonlyArray<readonly [what: string, close: (() => Promise<unknown>) | undefined]>): Promise<void> {
    const deadline = (this.deadline ??= new ShutdownDeadline(this.options.shutdownTimeoutMs, this.options.logger));
    for (const [what, close] of closers) if (close) await deadline.within(what, close());
  }

  private async sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))), this.stopped]);
    clearTimeout(timer);
  }
}

/** One line saying what went wrong: the first line of the message, its code, and what caused it. */
export function reasonOf(err: unknown, depth = 0): string {
  const e = err as { message?: unknown; code?: unknown; cause?: unknown } | null | undefined;
  const code = typeof e?.code === "string" ? e.code : undefined;
  const message = (typeof e?.message === "string" && e.message.split("\n")[0].trim()) || code || String(err);
  const withCode = code && !message.includes(code) ? `${message} (${code})` : message;
  return e?.cause !== undefined && depth < 2 ? `${withCode}: ${reasonOf(e.cause, depth + 1)}` : withCode;
}
