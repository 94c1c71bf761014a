// The AI adapters against small local servers: the mock's signed callbacks (and its retries),
// and the HTTP adapter's multipart hand-over.
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import express from "express";
import multer from "multer";
import pino from "pino";
import { listen, until } from "../support/net";
import { HttpAiService } from "../../src/adapters/ai/http-ai-service";
import { AI_SIGNATURE_HEADER } from "../../src/adapters/ai/ai-service";
import { DEFAULT_AI_FIXTURES, loadAiFixtures, MockAiService } from "../../src/adapters/ai/mock-ai-service";
import { verifySignature } from "../../src/domain/signature";

const secret = "mock-ai-secret-for-tests";
const logger = pino({ level: "silent" });

interface Received {
  headers: IncomingMessage["headers"];
  raw: Buffer;
}

function callbackServer(statuses: number[]) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, raw: Buffer.concat(chunks) });
      res.statusCode = statuses[Math.min(received.length - 1, statuses.length - 1)];
      res.end("{}");
    });
  });
  return { server, received };
}

const job = (callbackUrl: string, kind: "bill" | "group" = "bill") => ({
  jobId: "01a207c9-a789-71bc-bab2-18da81c8123d",
  billId: "01a207c9-a789-71bc-bab2-18da81c8123e",
  kind,
  filePath: "/dev/null",
  mimeType: "image/png",
  callbackUrl,
});

describe("MockAiService", () => {
  it("after its delay, POSTs the spec's dummy result with a valid signature", async () => {
    const { server, received } = callbackServer([200]);
    const url = await listen(server);
    const ai = new MockAiService({ delayMs: 20, secret, logger });
    try {
      const { aiJobId } = await ai.submit(job(`${url}/cb`));
      expect(aiJobId).toMatch(/^mock-/);
      expect(received).toHaveLength(0);
      await until(() => received.length === 1);
      const { headers, raw } = received[0];
      expect(() => verifySignature(headers[AI_SIGNATURE_HEADER] as string, raw, secret, new Date())).not.toThrow();
      const body = JSON.parse(raw.toString());
      expect(body).toEqual({ jobId: job("").jobId, status: "completed", result: DEFAULT_AI_FIXTURES.bill });
      expect(body.result).toMatchObject({ total_amount: 100, merchant_name: "Test Restaurant" });
    } finally {
      await ai.close();
      server.close();
    }
  });

  it("answers the group photo with Alice and Bob, or a failure when told to fail", async () => {
    const { server, received } = callbackServer([200]);
    const url = await listen(server);
    const ai = new MockAiService({ delayMs: 0, secret, logger });
    try {
      await ai.submit(job(url, "group"));
      await until(() => received.length === 1);
      expect(JSON.parse(received[0].raw.toString()).result.participants.map((p: { name: string }) => p.name)).toEqual(["Alice", "Bob"]);
      ai.fail = true;
      await ai.submit(job(url, "group"));
      await until(() => received.length === 2);
      expect(JSON.parse(received[1].raw.toString())).toMatchObject({ status: "failed", error: expect.stringContaining("could not read") });
    } finally {
      await ai.close();
      server.close();
    }
  });

  it("sends again when the callback gets a 5xx, and stops at a final 4xx answer", async () => {
    const { server, received } = callbackServer([503, 409]);
    const url = await listen(server);
    const ai = new MockAiService({ delayMs: 0, secret, logger, deliveryAttempts: 4 });
    try {
      await ai.submit(job(url));
      await until(() => received.length === 2, 5000);
      await new Promise((r) => setTimeout(r, 2500));
      expect(received).toHaveLength(2);
    } finally {
      await ai.close();
      server.close();
    }
  });

  it("sends nothing after it is closed", async () => {
    const { server, received } = callbackServer([200]);
    const url = await listen(server);
    const ai = new MockAiService({ delayMs: 50, secret, logger });
    await ai.submit(job(url));
    await ai.close();
    await new Promise((r) => setTimeout(r, 150));
    expect(received).toHaveLength(0);
    server.close();
  });

  it("reads replacement answers from a fixtures file", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "fixtures-"));
    const file = path.join(dir, "ai.json");
    writeFileSync(file, JSON.stringify({ bill: { total_amount: "42.00", currency: "EUR" } }));
    const fixtures = loadAiFixtures(file);
    expect(fixtures.bill).toEqual({ total_amount: "42.00", currency: "EUR" });
    expect(fixtures.group).toEqual(DEFAULT_AI_FIXTURES.group);
  });
});

describe("HttpAiService", () => {
  it("posts the image, job id, kind and callback URL as multipart, and returns the AI's job id", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "img-"));
    const file = path.join(dir, "photo");
    writeFileSync(file, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
    let seen: { fields: Record<string, string>; file?: Express.Multer.File } | undefined;
    const fake = express();
    fake.post("/v1/jobs", multer({ storage: multer.memoryStorage() }).single("image"), (req, res) => {
      seen = { fields: { ...req.body }, file: req.file };
      res.status(202).json({ jobId: "ai-777" });
    });
    const server = createServer(fake);
    const url = await listen(server);
    try {
      const ai = new HttpAiService(`${url}/v1/`);
      const result = await ai.submit({ ...job("https://chillbill.example/cb"), filePath: file, mimeType: "image/jpeg" });
      expect(result).toEqual({ aiJobId: "ai-777" });
      expect(seen?.fields).toEqual({
        jobId: job("").jobId,
        billId: job("").billId,
        kind: "bill",
        callbackUrl: "https://chillbill.example/cb",
      });
      expect(seen?.file?.mimetype).toBe("image/jpeg");
      expect(seen?.file?.buffer).toEqual(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
    } finally {
      server.close();
    }
  });

  it("fails when the AI service refuses the job", async () => {
    const server = createServer((_req, res) => {
      res.statusCode = 500;
      res.end();
    });
    const url = await listen(server);
    try {
      await expect(new HttpAiService(url).submit({ ...job("x"), filePath: "/dev/null" })).rejects.toThrow(/HTTP 500/);
    } finally {
      server.close();
    }
  });
});
