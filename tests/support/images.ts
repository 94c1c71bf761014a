// Image bytes and signed AI callbacks for the tests.
import request from "supertest";
import { AI_SIGNATURE_HEADER } from "../../src/adapters/ai/ai-service";
import { signPayload } from "../../src/domain/signature";
import { API } from "./http";
import { TEST_AI_SECRET, type TestApp } from "./test-app";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const PNG_IEND = Buffer.from([0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);

/** A file shaped like a whole PNG: its signature first and its IEND chunk last (what the checks read). */
export function pngBytes(size = 512): Buffer {
  return Buffer.concat([PNG_SIGNATURE, Buffer.alloc(Math.max(0, size - PNG_SIGNATURE.length - PNG_IEND.length), 7), PNG_IEND]);
}

/** A file shaped like a whole JPEG: start-of-image first, end-of-image last. */
export function jpegBytes(size = 512): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(Math.max(0, size - 6), 1), Buffer.from([0xff, 0xd9])]);
}

/** The signature header value the AI service sends with this raw callback body. */
export function aiCallbackSignature(raw: string, secret = TEST_AI_SECRET, at: Date = new Date()): string {
  return signPayload(secret, raw, Math.floor(at.getTime() / 1000));
}

export function signedCallback(t: TestApp, path: string, body: unknown, options: { secret?: string; at?: Date; header?: string | null } = {}) {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  const at = options.at ?? t.clock?.now() ?? new Date();
  const header = options.header === undefined ? aiCallbackSignature(raw, options.secret, at) : options.header;
  const req = request(t.app)
    .post(API + path)
    .set("Content-Type", "application/json");
  return (header === null ? req : req.set(AI_SIGNATURE_HEADER, header)).send(raw);
}
