// Image bytes and signed AI callbacks for the tests.
import request from "supertest";
import { AI_SIGNATURE_HEADER } from "../../src/adapters/ai/mock-ai-service";
import { signPayload } from "../../src/domain/signature";
import { API } from "./http";
import { TEST_AI_SECRET, type TestApp } from "./test-app";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A file that starts like a PNG (the type check reads the first bytes only). */
export function pngBytes(size = 512): Buffer {
  return Buffer.concat([PNG_SIGNATURE, Buffer.alloc(Math.max(0, size - PNG_SIGNATURE.length), 7)]);
}

export function jpegBytes(size = 512): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(Math.max(0, size - 4), 1)]);
}

export function signedCallback(
  t: TestApp,
  path: string,
  body: unknown,
  options: { secret?: string; at?: Date; header?: string | null } = {},
) {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  const at = options.at ?? t.clock?.now() ?? new Date();
  const header = options.header === undefined ? signPayload(options.secret ?? TEST_AI_SECRET, raw, Math.floor(at.getTime() / 1000)) : options.header;
  const req = request(t.app).post(API + path).set("Content-Type", "application/json");
  return (header === null ? req : req.set(AI_SIGNATURE_HEADER, header)).send(raw);
}
