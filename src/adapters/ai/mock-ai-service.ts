// The AI service for development and tests: in-process, it "reads" the image after a delay and
// then calls our internal callback endpoint over HTTP with a signed body, exactly as the real
// service would. Its answers are the spec's dummy data unless a fixtures file replaces them.
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { signPayload } from "../../domain/signature";
import type { AiJobSubmission, AiService, ImageKind } from "./ai-service";

export const AI_SIGNATURE_HEADER = "x-ai-signature";

/** The spec's dummy response. */
export const DEFAULT_AI_FIXTURES: AiFixtures = {
  bill: {
    total_amount: 100,
    currency: "USD",
    merchant_name: "Test Restaurant",
    bill_date: "2026-11-20",
    line_items: [
      { name: "Pho bo", quantity: 2, unit_price: "30.00", amount: "60.00" },
      { name: "Spring rolls", quantity: 1, unit_price: "25.00", amount: "25.00" },
      { name: "Iced tea", quantity: 3, unit_price: "5.00", amount: "15.00" },
    ],
  },
  group: {
    participants: [
      { face_id: "face-alice", name: "Alice", phone: "+84901234567", confidence: 0.97 },
      { face_id: "face-bob", name: "Bob", confidence: 0.93 },
    ],
  },
};

export type AiFixtures = Record<ImageKind, Record<string, unknown>>;

export interface MockAiOptions {
  delayMs: number;
  secret: string;
  logger: Logger;
  fixtures?: AiFixtures;
  /** Answer every job with a failure (the AI "could not read the image"). */
  fail?: boolean;
  /** How many times a callback that got no 2xx (5xx or no answer) is sent again. */
  deliveryAttempts?: number;
}

export function loadAiFixtures(path: string | undefined): AiFixtures {
  if (!path) return DEFAULT_AI_FIXTURES;
  const parsed = JSON.parse(readFileSync(path, "utf8")) as Partial<AiFixtures>;
  return { bill: parsed.bill ?? DEFAULT_AI_FIXTURES.bill, group: parsed.group ?? DEFAULT_AI_FIXTURES.group };
}

export class MockAiService implements AiService {
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  fail: boolean;

  constructor(private readonly options: MockAiOptions) {
    this.fail = options.fail ?? false;
  }

  async submit(job: AiJobSubmission): Promise<{ aiJobId?: string }> {
    const aiJobId = `mock-${job.jobId}`;
    const body = this.fail
      ? { jobId: job.jobId, status: "failed", error: `The AI could not read the ${job.kind} image` }
      : { jobId: job.jobId, status: "completed", result: (this.options.fixtures ?? DEFAULT_AI_FIXTURES)[job.kind] };
    this.later(this.options.delayMs, () => this.deliver(job.callbackUrl, JSON.stringify(body), 1));
    return { aiJobId };
  }

  private later(ms: number, fn: () => Promise<void>): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn().catch((err) => this.options.logger.error({ err }, "mock AI: delivery crashed"));
    }, ms);
    this.timers.add(timer);
  }

  private async deliver(url: string, body: string, attempt: number): Promise<void> {
    const signature = signPayload(this.options.secret, body, Math.floor(Date.now() / 1000));
    let status: number | string;
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", [AI_SIGNATURE_HEADER]: signature },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      status = res.status;
      if (res.ok || (res.status >= 400 && res.status < 500 && res.status !== 429)) {
        this.options.logger.info({ url, status }, "mock AI: callback delivered");
        return;
      }
    } catch (err) {
      status = (err as Error).message;
    }
    const maxAttempts = this.options.deliveryAttempts ?? 5;
    if (attempt >= maxAttempts) {
      this.options.logger.warn({ url, status, attempt }, "mock AI: callback not accepted; giving up");
      return;
    }
    const backoff = Math.min(1000 * 2 ** (attempt - 1), 30_000);
    this.options.logger.warn({ url, status, attempt, backoff }, "mock AI: callback not accepted; retrying");
    this.later(backoff, () => this.deliver(url, body, attempt + 1));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
