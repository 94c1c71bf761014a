// The AI service for development and tests: in-process, it "reads" the image after a delay and
// then calls our internal callback endpoint over HTTP with a signed body, exactly as the real
// service would. Its answers are the spec's dummy data unless a fixtures file replaces them.
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { SignedSender } from "../signed-sender";
import type { AiJobSubmission, AiService, ImageKind } from "./ai-service";
import { AI_SIGNATURE_HEADER } from "./ai-service";

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
  private readonly sender: SignedSender;
  fail: boolean;

  constructor(private readonly options: MockAiOptions) {
    this.fail = options.fail ?? false;
    this.sender = new SignedSender({
      secret: options.secret,
      header: AI_SIGNATURE_HEADER,
      logger: options.logger,
      maxAttempts: options.deliveryAttempts,
    });
  }

  async submit(job: AiJobSubmission): Promise<{ aiJobId?: string }> {
    const body = this.fail
      ? { jobId: job.jobId, status: "failed", error: `The AI could not read the ${job.kind} image` }
      : { jobId: job.jobId, status: "completed", result: (this.options.fixtures ?? DEFAULT_AI_FIXTURES)[job.kind] };
    this.sender.sendLater(job.callbackUrl, JSON.stringify(body), this.options.delayMs);
    return { aiJobId: `mock-${job.jobId}` };
  }

  close(): Promise<void> {
    return this.sender.close();
  }
}
