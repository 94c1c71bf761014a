// Request ids and one log line per request. The id is taken from a well-formed X-Request-Id
// header, or generated, and is echoed in every response and carried by every log line of the
// request. These few lines replace pino-http, which builds a child logger with the serialized
// request for every request even when nothing is logged: 40 µs of CPU per request, an eighth of
// reading a bill (docs/performance.md). Here the request's logger is made only when something logs.
import { performance } from "node:perf_hooks";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { Logger } from "pino";
import { v7 as uuidv7 } from "uuid";

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;
// Health probes would drown the log.
const QUIET_PATHS = new Set(["/health", "/ready"]);

export function requestLogging(logger: Logger): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const incoming = req.headers["x-request-id"];
    const id = typeof incoming === "string" && SAFE_REQUEST_ID.test(incoming) ? incoming : uuidv7();
    res.setHeader("X-Request-Id", id);
    req.id = id;
    let requestLogger: Logger | undefined;
    Object.defineProperty(req, "log", {
      configurable: true,
      get: () => (requestLogger ??= logger.child({ req: { id, method: req.method, url: redactPayToken(req.originalUrl) } })),
    });
    if (QUIET_PATHS.has(req.path)) {
      next();
      return;
    }
    const started = performance.now();
    const finished = () => {
      res.off("finish", finished);
      res.off("close", finished);
      const status = res.statusCode;
      const level = status >= 500 ? "error" : status >= 400 ? "warn" : "info";
      if (!logger.isLevelEnabled(level)) return;
      const ms = Math.round(performance.now() - started);
      const ending = res.writableFinished ? `${ms}ms` : "(the connection closed before the answer was complete)";
      req.log[level]({ res: { statusCode: status }, responseTime: ms }, `${req.method} ${redactPayToken(req.originalUrl)} ${status} ${ending}`);
    };
    res.on("finish", finished);
    res.on("close", finished);
    next();
  };
}

/** Pay-page tokens are bearer secrets: they never reach the log. */
function redactPayToken(url: string): string {
  return url.replace(/\/pay\/[A-Za-z0-9_-]+/, "/pay/[token]");
}
