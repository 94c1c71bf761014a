// Security headers (helmet) and rate limiting. The API answers JSON, so its policy forbids
// everything; the docs page needs Swagger UI's scripts and styles from this origin.
import type { Request, RequestHandler } from "express";
import { ipKeyGenerator, rateLimit } from "express-rate-limit";
import helmet from "helmet";
import { TooManyRequests } from "../domain/errors";
import type { RateLimitStores } from "./rate-limit-store";

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
 * Per user, once the bearer token is verified: RATE_LIMIT_PER_MINUTE requests a minute each. It
 * runs after authentication so that only a verified subject is a key: keyed on the raw header, a
 * client could mint a new made-up token for every request and never be limited. The AI callbacks
 * and payment webhooks have no user and are not limited: they are signed, and the payment system
 * may burst.
 */
export function userRateLimit(perMinute: number, stores: RateLimitStores): RequestHandler {
  if (perMinute <= 0) return (_req, _res, next) => next();
  return limiter(perMinute, stores, "users", {
    keyGenerator: (req: Request) => `user:${req.user?.id ?? "?"}`,
  });
}

/**
 * Per address, for refused credentials only (requireUser's limitRefusals): a flood of made-up or
 * expired tokens from one address gets 429 at the same rate, while users behind the same address
 * (a bank's gateway) who present valid tokens never meet this limit. The address is req.ip: behind
 * a load balancer, what TRUST_PROXY lets Express read from X-Forwarded-For.
 */
export function refusedAuthRateLimit(perMinute: number, stores: RateLimitStores): RequestHandler | undefined {
  if (perMinute <= 0) return undefined;
  return limiter(perMinute, stores, "refused-credentials", { keyGenerator: (req: Request) => `ip:${ipKeyGenerator(req.ip ?? "unknown")}` });
}

/**
 * `name` gives the limiter its own counters in a shared store. A store that fails (Redis away) lets
 * the request pass unlimited: fail open, logged by the stores (see rate-limit-store.ts).
 */
function limiter(perMinute: number, stores: RateLimitStores, name: string, options: Partial<Parameters<typeof rateLimit>[0]>): RequestHandler {
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: "draft-7",
    legacyHeaders: false,
    store: stores.storeFor(name),
    passOnStoreError: true,
    logger: stores.log,
    ...options,
    handler: (req, _res, next, opts) => {
      const resetTime = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const seconds = resetTime ? (resetTime.getTime() - Date.now()) / 1000 : opts.windowMs / 1000;
      next(new TooManyRequests(`Too many requests: at most ${perMinute} a minute; try again shortly`, seconds));
    },
  });
}
