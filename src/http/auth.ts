// Bearer-token authentication. The banking app issues the JWT; `sub` is the bank user's id.
// Development verifies HS256 with a shared secret; production verifies against the bank's JWKS.
// Algorithms are pinned per key type, so `none` and HS/RS confusion are refused by construction.
import { createHash } from "node:crypto";
import type { NextFunction, Request, Response } from "express";
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from "jose";
import { Unauthorized } from "../domain/errors";

export interface AuthUser {
  id: string;
}

export interface TokenVerifier {
  verify(token: string): Promise<AuthUser>;
}

export interface AuthOptions {
  secret?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
}

const ASYMMETRIC_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"];
const MAX_TOKEN_LENGTH = 8192;
const REMEMBER_MS = 60_000;
const MAX_REMEMBERED_TOKENS = 10_000;

export function createTokenVerifier(options: AuthOptions): TokenVerifier {
  const secret = options.secret ? new TextEncoder().encode(options.secret) : undefined;
  const jwks = options.jwksUrl ? createRemoteJWKSet(new URL(options.jwksUrl)) : undefined;
  if (!secret && !jwks) throw new Error("Token verification needs a JWT secret or a JWKS URL");
  // A token without an expiry would be valid forever: exp is required.
  const claims = { issuer: options.issuer, audience: options.audience, clockTolerance: 5, requiredClaims: ["exp", "sub"] };

  // A verified token is remembered until it expires, for a minute at most: a client's next calls
  // with the same token skip the signature check (14 µs for HS256, several times that for RS256).
  // Refusals are not remembered. A key the bank withdraws stops being trusted within that minute.
  // Keyed by the token's hash: a token may be kilobytes long.
  const verified = new Map<string, { user: AuthUser; until: number }>();

  return {
    async verify(token) {
      const now = Date.now();
      const key = createHash("sha256").update(token).digest("base64url");
      const known = verified.get(key);
      if (known && known.until > now) return known.user;
      if (known) verified.delete(key);
      const user = await verifyToken(token);
      if (verified.size >= MAX_REMEMBERED_TOKENS) verified.delete(verified.keys().next().value!);
      verified.set(key, { user: { id: user.id }, until: Math.min(now + REMEMBER_MS, user.expiresAt) });
      return { id: user.id };
    },
  };

  async function verifyToken(token: string): Promise<AuthUser & { expiresAt: number }> {
    if (token.length > MAX_TOKEN_LENGTH) throw new Unauthorized("The bearer token is too long", "invalid_token");
    let payload: JWTPayload;
    try {
      const alg = readAlgorithm(token);
      if (alg === "HS256" && secret) {
        ({ payload } = await jwtVerify(token, secret, { ...claims, algorithms: ["HS256"] }));
      } else if (jwks && ASYMMETRIC_ALGORITHMS.includes(alg)) {
        ({ payload } = await jwtVerify(token, jwks, { ...claims, algorithms: ASYMMETRIC_ALGORITHMS }));
      } else {
        throw new Unauthorized(`Tokens signed with "${alg}" are not accepted`, "invalid_token");
      }
    } catch (err) {
      if (err instanceof Unauthorized) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new Unauthorized("The bearer token has expired", "token_expired");
      throw new Unauthorized("The bearer token is invalid", "invalid_token");
    }
    if (typeof payload.sub !== "string" || payload.sub.length === 0 || payload.sub.length > 128) {
      throw new Unauthorized("The bearer token has no valid subject (sub)", "invalid_token");
    }
    // exp is required, so it is there; the cache never outlives it.
    return { id: payload.sub, expiresAt: (payload.exp as number) * 1000 };
  }
}

function readAlgorithm(token: string): string {
  const [header] = token.split(".");
  try {
    const alg = JSON.parse(Buffer.from(header, "base64url").toString("utf8")).alg;
    if (typeof alg === "string") return alg;
  } catch {
    // fall through
  }
  throw new Unauthorized("The bearer token is malformed", "invalid_token");
}

/**
 * Express middleware: requires a valid bearer token and sets req.user. A refused request first
 * passes `limitRefusals` (a rate limit on refusals), which may answer 429 instead of 401.
 */
export function requireUser(verifier: TokenVerifier, options: { limitRefusals?: (req: Request, res: Response, next: NextFunction) => unknown } = {}) {
  const authenticate = async (req: Request): Promise<AuthUser> => {
    const header = req.headers.authorization;
    if (!header) throw new Unauthorized("An Authorization: Bearer token is required", "missing_token");
    const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/.exec(header.trim());
    if (!match) throw new Unauthorized("The Authorization header must be 'Bearer <JWT>'", "invalid_token");
    return verifier.verify(match[1]);
  };
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      req.user = await authenticate(req);
    } catch (refused) {
      if (!options.limitRefusals) throw refused;
      await options.limitRefusals(req, res, (limited?: unknown) => next(limited ?? refused));
      return;
    }
    next();
  };
}

/** Signs a development token (HS256). Used by `npm run token` and the tests. */
export async function signDevelopmentToken(
  secret: string,
  userId: string,
  options: { expiresIn?: string; issuer?: string; audience?: string } = {},
): Promise<string> {
  let jwt = new SignJWT({})
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? "12h");
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
