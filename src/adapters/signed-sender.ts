// How the in-process mocks call us back, as the real services do: a signed POST, sent again with
// backoff while the answer is not 2xx (a 4xx other than 429 is a final answer), stopped on close().
import type { Logger } from "pino";
import { signPayload } from "../domain/signature";

export interface SignedSenderOptions {
  secret: string;
  header: string;
  logger: Logger;
  maxAttempts?: number;
  firstBackoffMs?: number;
}

export class SignedSender {
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly options: SignedSenderOptions) {}

  /** Sends `body` to `url` after `delayMs`, retrying as described above. */
  sendLater(url: string, body: string, delayMs: number): void {
    this.later(delayMs, () => this.deliver(url, body, 1));
  }

  private later(ms: number, fn: () => Promise<void>): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn().catch((err) => this.options.logger.error({ err }, "signed delivery crashed"));
    }, ms);
    this.timers.add(timer);
  }

  private async deliver(url: string, body: string, attempt: number): Promise<void> {
    if (this.closed) return;
    const signature = signPayload(this.options.secret, body, Math.floor(Date.now() / 1000));
    let status: number | string;
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", [this.options.header]: signature },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      status = res.status;
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok || (res.status >= 400 && res.status < 500 && res.status !== 429)) {
        this.options.logger.info({ url, status }, "callback delivered");
        return;
      }
    } catch (err) {
      status = (err as Error).message;
    }
    const maxAttempts = this.options.maxAttempts ?? 5;
    if (attempt >= maxAttempts) {
      this.options.logger.warn({ url, status, attempt }, "callback not accepted; giving up");
      return;
    }
    const backoff = Math.min((this.options.firstBackoffMs ?? 1000) * 2 ** (attempt - 1), 60_000);
    this.options.logger.warn({ url, status, attempt, backoff }, "callback not accepted; sending again later");
    this.later(backoff, () => this.deliver(url, body, attempt + 1));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
