// Request ids and one log line per request (pino-http). The id is taken from a well-formed
// X-Request-Id header, or generated, and is echoed in every response and every log line.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { pinoHttp } from "pino-http";
import { v7 as uuidv7 } from "uuid";

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export function requestLogging(logger: Logger) {
  return pinoHttp({
    logger,
    genReqId(req: IncomingMessage, res: ServerResponse) {
      const incoming = req.headers["x-request-id"];
      const id = typeof incoming === "string" && SAFE_REQUEST_ID.test(incoming) ? incoming : uuidv7();
      res.setHeader("X-Request-Id", id);
      return id;
    },
    customLogLevel(_req, res, err) {
      if (err || res.statusCode >= 500) return "error";
      if (res.statusCode >= 400) return "warn";
      return "info";
    },
    // Health probes would drown the log.
    autoLogging: { ignore: (req) => req.url === "/health" || req.url === "/ready" },
    serializers: {
      req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: redactPayToken(req.url) }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    customSuccessMessage: (req, res, time) => `${req.method} ${originalUrl(req)} ${res.statusCode} ${Math.round(time)}ms`,
    customErrorMessage: (req, res) => `${req.method} ${originalUrl(req)} ${res.statusCode}`,
  });
}

function originalUrl(req: IncomingMessage): string {
  return redactPayToken((req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? "");
}

/** Pay-page tokens are bearer secrets: they never reach the log. */
function redactPayToken(url: string): string {
  return url.replace(/\/pay\/[A-Za-z0-9_-]+/, "/pay/[token]");
}
