// Graceful shutdown has one deadline (SHUTDOWN_TIMEOUT_MS) that every wait shares: background work
// in flight, the adapters, in-flight requests, the database pool. A wait that outlives it is left
// behind, with a warning, so the process always exits within the deadline: an orchestrator's grace
// period must end in a clean exit, not a SIGKILL.
import type { Logger } from "pino";

export class ShutdownDeadline {
  private readonly endsAt: number;

  constructor(
    timeoutMs: number,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.endsAt = now() + timeoutMs;
  }

  /** Milliseconds left before the deadline (never negative). */
  remainingMs(): number {
    return Math.max(0, this.endsAt - this.now());
  }

  /**
   * Waits for `work` until the deadline. True when it settled in time (a failure is logged, not
   * thrown: shutdown goes on), false when the deadline came first.
   */
  async within(what: string, work: Promise<unknown>): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), this.remainingMs());
    });
    const settled = work.then(
      () => true as const,
      (err: unknown) => {
        this.logger.warn({ err }, `${what} failed during shutdown`);
        return true as const;
      },
    );
    try {
      const inTime = await Promise.race([settled, expired]);
      if (!inTime) this.logger.warn(`${what} did not finish before the shutdown deadline; leaving it`);
      return inTime;
    } finally {
      clearTimeout(timer);
    }
  }
}
