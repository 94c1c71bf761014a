// The AI service: reads receipts and recognises faces. It answers later, by calling our internal
// callback endpoints with a signed body (see modules/images/images.schemas.ts for the contract).
/** The header of the AI service's signed callbacks (HMAC, like the payment webhook's). */
export const AI_SIGNATURE_HEADER = "x-ai-signature";

export type ImageKind = "bill" | "group";

export interface AiJobSubmission {
  jobId: string;
  billId: string;
  kind: ImageKind;
  filePath: string;
  mimeType: string;
  /** Where the AI service must POST its result. */
  callbackUrl: string;
}

export interface AiService {
  /** Hands an image over; resolves once the AI service has accepted the job. */
  submit(job: AiJobSubmission): Promise<{ aiJobId?: string }>;
  /** Stops pending work (timers) on shutdown. */
  close(): Promise<void>;
}
