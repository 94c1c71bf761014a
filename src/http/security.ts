// Security headers (helmet) and rate limiting. The API answers JSON, so its policy forbids
// everything; the docs page needs Swagger UI's scripts and styles from this origin.
import { createHash } from "node:crypto";
import type { Request, RequestHandler } from "express";
import { ipKeyGenerator, rateLimit } from "express-rate-limit";
import helmet from "helmet";
import { TooManyRequests } from "../domain/errors";

export const apiHeaders: RequestHandler = helmet({
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  crossOriginResourcePolicy: { policy: "same-origin" },
});

export const docsHeaders: RequestHandler = helmet({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'", "'unsafe-inline'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", "data:"],
      frameAncestors: ["'none'"],
    },
  },
});

/**
 * Per client: the bearer token (hashed) when there is one, else the address. The AI callbacks and
 * payment webhooks are not limited here: they are signed, and the payment system may burst.
 */
export function apiRateLimit(perMinute: number): RequestHandler {
  if (perMinute <= 0) return (_req, _res, next) => next();
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: "draft-7",
    legacyHeaders: false,
    skip: (req: Request) => req.path.startsWith("/internal/") || req.path.startsWith("/webhook/"),
    keyGenerator: (req: Request) => {
      const auth = req.headers.authorization;
      return auth ? `t:${createHash("sha256").update(auth).digest("hex").slice(0, 32)}` : `ip:${ipKeyGenerator(req.ip ?? "unknown")}`;
    },
    handler: (req, _res, next, options) => {
      const resetTime = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const seconds = resetTime ? (resetTime.getTime() - Date.now()) / 1000 : options.windowMs / 1000;
      next(new TooManyRequests(`Too many requests: at most ${perMinute} a minute; try again shortly`, seconds));
    },
  });
}
