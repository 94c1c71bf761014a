import { Writable } from "node:stream";
import express from "express";
import pino from "pino";
import request from "supertest";
import { requestLogging } from "../../src/http/request-logging";

function appWithLog() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const app = express();
  app.use(requestLogging(pino({ level: "info" }, sink)));
  app.get("/health", (_req, res) => void res.json({ status: "ok" }));
  app.get("/ok", (req, res) => {
    req.log.info("inside the handler");
    res.json({ id: req.id });
  });
  app.get("/pay/:token", (_req, res) => void res.status(404).send("no"));
  app.get("/boom", (_req, res) => void res.status(503).json({}));
  return { app, lines };
}

describe("request logging", () => {
  it("writes one line per request with its id, method, path, status and time; lines inside the request carry the id", async () => {
    const { app, lines } = appWithLog();
    const res = await request(app).get("/ok").set("X-Request-Id", "trace-12345678");
    expect(res.body).toEqual({ id: "trace-12345678" });
    expect(res.headers["x-request-id"]).toBe("trace-12345678");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 30, msg: "inside the handler", req: { id: "trace-12345678", method: "GET", url: "/ok" } });
    expect(lines[1]).toMatchObject({ level: 30, req: { id: "trace-12345678" }, res: { statusCode: 200 } });
    expect(String(lines[1].msg)).toMatch(/^GET \/ok 200 \d+ms$/);
  });

  it("logs 4xx as warnings and 5xx as errors, never a pay-page token, and not the health probes", async () => {
    const { app, lines } = appWithLog();
    await request(app).get("/health");
    await request(app).get("/pay/s3cretPayToken_abcdefghijklmnopqr");
    await request(app).get("/boom");
    expect(lines.map((l) => [l.level, String(l.msg).replace(/ \d+ms$/, "")])).toEqual([
      [40, "GET /pay/[token] 404"],
      [50, "GET /boom 503"],
    ]);
    expect(JSON.stringify(lines)).not.toContain("s3cretPayToken");
  });
});
