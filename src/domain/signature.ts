// Signed callbacks and webhooks, as Stripe signs them: a header `t=<unix seconds>,v1=<hex>` where
// the hex is HMAC-SHA256(secret, "<t>.<raw body>"). Verified on the raw bytes before any parsing,
// compared in constant time, and refused when the timestamp is outside the tolerance (replays).
import { createHmac, timingSafeEqual } from "node:crypto";

export const DEFAULT_TOLERANCE_SECONDS = 300;

export type SignatureFailure = "missing" | "malformed" | "stale" | "mismatch";

export class SignatureError extends Error {
  constructor(
    readonly reason: SignatureFailure,
    message: string,
  ) {
    super(message);
    this.name = "SignatureError";
  }
}

function hmac(secret: string, timestamp: number, body: Buffer | string): string {
  return createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest("hex");
}

export function signPayload(secret: string, body: Buffer | string, timestamp: number): string {
  return `t=${timestamp},v1=${hmac(secret, timestamp, body)}`;
}

/** Throws a SignatureError unless `header` signs `body` with `secret` within the tolerance of `now`. */
export function verifySignature(header: string | undefined, body: Buffer, secret: string, now: Date, toleranceSeconds = DEFAULT_TOLERANCE_SECONDS): void {
  if (!header) throw new SignatureError("missing", "The signature header is missing");
  let timestamp: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(",")) {
    const [key, value] = part.trim().split("=", 2);
    if (key === "t" && value && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === "v1" && value && /^[0-9a-f]{64}$/.test(value)) candidates.push(value);
  }
  if (timestamp === undefined || candidates.length === 0) {
    throw new SignatureError("malformed", "The signature header must look like t=<unix seconds>,v1=<hex HMAC-SHA256>");
  }
  if (Math.abs(now.getTime() / 1000 - timestamp) > toleranceSeconds) {
    throw new SignatureError("stale", `The signature timestamp is more than ${toleranceSeconds} seconds away from now`);
  }
  const expected = Buffer.from(hmac(secret, timestamp, body), "hex");
  const matches = candidates.some((c) => timingSafeEqual(Buffer.from(c, "hex"), expected));
  if (!matches) throw new SignatureError("mismatch", "The signature does not match the body");
}
