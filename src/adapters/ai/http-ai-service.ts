// The real AI service over HTTP: POST <AI_SERVICE_URL>/jobs as multipart/form-data with the image,
// our job id, the image kind and the callback URL; the service answers 2xx with its own job id.
import { openAsBlob } from "node:fs";
import type { AiJobSubmission, AiService } from "./ai-service";

export class HttpAiService implements AiService {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 15_000,
  ) {}

  async submit(job: AiJobSubmission): Promise<{ aiJobId?: string }> {
    const form = new FormData();
    form.set("jobId", job.jobId);
    form.set("billId", job.billId);
    form.set("kind", job.kind);
    form.set("callbackUrl", job.callbackUrl);
    form.set("image", await openAsBlob(job.filePath, { type: job.mimeType }), `${job.jobId}`);
    const res = await fetch(`${this.baseUrl.replace(/\/$/, "")}/jobs`, {
      method: "POST",
      body: form,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!res.ok) throw new Error(`The AI service refused the job: HTTP ${res.status}`);
    const body = (await res.json().catch(() => ({}))) as { jobId?: unknown; id?: unknown };
    const aiJobId = typeof body.jobId === "string" ? body.jobId : typeof body.id === "string" ? body.id : undefined;
    return { aiJobId };
  }

  async close(): Promise<void> {}
}
