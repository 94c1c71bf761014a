// Declares a route once: the same zod schemas validate the request and document it in OpenAPI.
// A route that is not declared here does not exist, so the API document cannot miss one.
import { OpenAPIRegistry, type RouteConfig } from "@asteasolutions/zod-to-openapi";
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from "express";
import { z, ZodError, type ZodType } from "zod";
import { MethodNotAllowed, UnsupportedMediaType, ValidationFailed } from "../domain/errors";
import type { AuthUser } from "./auth";
import { problems } from "./common-schemas";
import { zodIssues } from "./problem";

type Method = "get" | "post" | "put" | "patch" | "delete";
type AnyObject = z.ZodObject<z.ZodRawShape>;

export type Input<P, Q, B, H> = {
  params: P extends ZodType ? z.output<P> : Record<string, never>;
  query: Q extends ZodType ? z.output<Q> : Record<string, never>;
  body: B extends ZodType ? z.output<B> : undefined;
  headers: H extends ZodType ? z.output<H> : Record<string, never>;
  user: AuthUser;
};

export interface ResponseDoc {
  description: string;
  schema?: ZodType;
  contentType?: string;
  headers?: AnyObject;
}

export interface RouteSpec<P extends AnyObject | undefined, Q extends AnyObject | undefined, B extends ZodType | undefined, H extends AnyObject | undefined> {
  method: Method;
  /** Express-style path relative to the router's base, e.g. `/bills/:billId`. */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  /**
   * `user` (default) needs a bearer token; a signature scheme names the HMAC header the route's
   * `before` verifies (documented as the operation's security); `none` is public.
   */
  auth?: "user" | "none" | SignatureScheme;
  /** Public routes go in the main document; internal ones are documented in their own section. */
  audience?: "public" | "internal";
  params?: P;
  query?: Q;
  body?: B;
  bodyContentType?: string;
  headers?: H;
  /** Runs before validation (e.g. multer for multipart bodies). */
  before?: RequestHandler[];
  responses: Record<number, ResponseDoc>;
  /**
   * Input rules a JSON schema cannot state (they need the bill, or compare two fields), by the
   * issue code their 400 carries. Listed in the operation's description and in
   * `x-cross-field-rules`, so a client (and tests/api/openapi-honesty.test.ts) knows which 400s
   * a schema-valid request can still get.
   */
  crossFieldRules?: Record<string, string>;
  handler: (input: Input<P, Q, B, H>, req: Request, res: Response) => Promise<void> | void;
}

export interface BodyLimits {
  json: string;
  signed: string;
}

export interface DeclaredRoute {
  method: Method;
  path: string;
  audience: "public" | "internal";
}

/** The HMAC signature schemes of the internal callbacks, by the security scheme's name. */
export type SignatureScheme = "aiSignature" | "paymentSignature";

export const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, "{$1}");

export class ApiRouter {
  readonly router = Router();
  readonly declared: DeclaredRoute[] = [];

  constructor(
    private readonly registry: OpenAPIRegistry,
    private readonly basePath: string,
    /** Runs first on every route that needs a user: authentication, then the per-user limit. */
    private readonly authenticate: RequestHandler[],
    /** Reads a JSON body; only routes that take one run it, after authentication. */
    private readonly readJsonBody: RequestHandler,
    /** What the document says about the body limits (413): JSON bodies, and the signed callbacks' raw bodies. */
    private readonly limits: BodyLimits = { json: "the body limit", signed: "the body limit" },
  ) {}

  route<
    P extends AnyObject | undefined = undefined,
    Q extends AnyObject | undefined = undefined,
    B extends ZodType | undefined = undefined,
    H extends AnyObject | undefined = undefined,
  >(spec: RouteSpec<P, Q, B, H>): this {
    const audience = spec.audience ?? "public";
    const fullPath = this.basePath + spec.path;
    this.declared.push({ method: spec.method, path: fullPath, audience });
    this.registry.registerPath(toOpenApi(spec, fullPath, audience, this.limits));

    const chain: RequestHandler[] = [];
    if ((spec.auth ?? "user") === "user") chain.push(...this.authenticate);
    chain.push(...(spec.before ?? []));
    // The body is read only once the caller is known (and within their limit), and only where one is expected.
    if (spec.body && !spec.bodyContentType) chain.push(requireJsonBody, this.readJsonBody);
    chain.push(async (req: Request, res: Response, _next: NextFunction) => {
      const input = {
        params: parsePart(spec.params, req.params, "params"),
        query: parsePart(spec.query, req.query, "query"),
        body: spec.body ? parsePart(spec.body, req.body ?? {}, "body") : undefined,
        headers: parsePart(spec.headers, req.headers, "headers"),
        user: req.user as AuthUser,
      } as Input<P, Q, B, H>;
      await spec.handler(input, req, res);
    });
    this.router[spec.method](spec.path, ...chain);
    return this;
  }

  /**
   * Mounted before the routes: a request whose path is a declared one but whose method is not
   * answers 405 with `Allow`, instead of falling through to 404 or to a parameter route that
   * happens to match (PUT .../participants/unpaid is not a rename of participant "unpaid").
   * HEAD goes where GET goes, and OPTIONS is left to Express, as before.
   */
  readonly rejectUndeclaredMethods: RequestHandler = (req, _res, next) => {
    const method = req.method.toLowerCase();
    if (method === "options") return next();
    const known = this.knownPath(req.baseUrl + req.path);
    if (!known) return next();
    const allowed = this.paths().methods.get(known)!;
    if (allowed.has.has(method)) return next();
    throw new MethodNotAllowed(req.method, req.baseUrl + req.path, allowed.names);
  };

  /**
   * The declared paths split into segments, and each one's methods, built once per set of routes:
   * every request asks (rejectUndeclaredMethods), and routes are only added at start-up.
   */
  private pathTable: { size: number; patterns: string[][]; methods: Map<string, { has: Set<string>; names: string[] }> } | undefined;

  private paths() {
    if (this.pathTable?.size === this.declared.length) return this.pathTable;
    const methods = new Map<string, { has: Set<string>; names: string[] }>();
    for (const path of new Set(this.declared.map((r) => r.path))) {
      // HEAD is allowed wherever GET is (Express answers it with the GET route); Allow is in one fixed order.
      const has = new Set<string>(this.declared.filter((r) => r.path === path).map((r) => r.method));
      if (has.has("get")) has.add("head");
      methods.set(path, { has, names: ALLOW_ORDER.filter((m) => has.has(m)).map((m) => m.toUpperCase()) });
    }
    this.pathTable = { size: this.declared.length, patterns: [...methods.keys()].map((p) => p.split("/")), methods };
    return this.pathTable;
  }

  /**
   * The declared path a request path is, when it is one: of those that match, the one whose first
   * differing segment is a literal (`/participants/unpaid` over `/participants/:participantId`).
   */
  knownPath(requestPath: string): string | undefined {
    const segments = requestPath.replace(/\/+$/, "").split("/");
    let best: string[] | undefined;
    for (const pattern of this.paths().patterns) {
      if (pattern.length !== segments.length) continue;
      if (!pattern.every((p, i) => (p.startsWith(":") ? segments[i] !== "" : p.toLowerCase() === segments[i].toLowerCase()))) continue;
      if (!best || moreLiteral(pattern, best)) best = pattern;
    }
    return best?.join("/");
  }
}

const ALLOW_ORDER = ["get", "head", "post", "put", "patch", "delete"] as const;

/**
 * For the paths outside the API (health, documents, pay page): mounted after a path's own routes,
 * with app.all, it answers any other method 405 with `Allow`, as the API's paths do. HEAD goes
 * where GET goes; OPTIONS is left to Express.
 */
export function allowOnly(...methods: Method[]): RequestHandler {
  const has = new Set<string>(methods);
  if (has.has("get")) has.add("head");
  const names = ALLOW_ORDER.filter((m) => has.has(m)).map((m) => m.toUpperCase());
  return (req, _res, next) => {
    const method = req.method.toLowerCase();
    if (method === "options" || has.has(method)) return next();
    throw new MethodNotAllowed(req.method, req.baseUrl + req.path, names);
  };
}

/** Whether pattern a has a literal where b has a parameter, at the first segment where they differ in kind. */
function moreLiteral(a: string[], b: string[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const aParam = a[i].startsWith(":");
    const bParam = b[i].startsWith(":");
    if (aParam !== bParam) return !aParam;
  }
  return false;
}

/** A JSON route with a body in another format gets 415, not a confusing validation error. */
function requireJsonBody(req: Request, _res: Response, next: NextFunction): void {
  const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
  if (hasBody && !req.is(["application/json", "application/*+json"])) {
    throw new UnsupportedMediaType("The request body must be JSON (Content-Type: application/json)", "unsupported_content_type");
  }
  next();
}

function parsePart(schema: ZodType | undefined, value: unknown, where: string): unknown {
  if (!schema) return {};
  // The input on each issue lets zodIssues tell a missing field from a number sent as an amount; it is never sent back.
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  throw new ValidationFailed(zodIssues(result.error as ZodError, where === "body" ? undefined : where));
}

function toOpenApi(
  spec: RouteSpec<AnyObject | undefined, AnyObject | undefined, ZodType | undefined, AnyObject | undefined>,
  path: string,
  audience: string,
  limits: BodyLimits,
): RouteConfig {
  const auth = spec.auth ?? "user";
  const responses: RouteConfig["responses"] = {};
  for (const [status, doc] of Object.entries({ ...spec.responses, ...answeredByEveryRoute(spec, limits) })) {
    responses[status] = {
      description: doc.description,
      ...(doc.headers ? { headers: doc.headers } : {}),
      ...(doc.schema ? { content: { [doc.contentType ?? "application/json"]: { schema: doc.schema } } } : {}),
    };
  }
  const rules = Object.entries(spec.crossFieldRules ?? {});
  const description = [
    spec.description,
    rules.length
      ? `Rules the schema cannot express (a request that breaks one gets 400, with the rule's name as the issue's code):\n${rules.map(([code, rule]) => `- \`${code}\`: ${rule}`).join("\n")}`
      : undefined,
  ]
    .filter(Boolean)
    .join("\n\n");
  return {
    method: spec.method,
    path: openApiPath(path),
    summary: spec.summary,
    ...(description ? { description } : {}),
    ...(rules.length ? { "x-cross-field-rules": rules.map(([code]) => code) } : {}),
    tags: [audience === "internal" ? `internal: ${spec.tag}` : spec.tag],
    security: auth === "user" ? [{ bearerAuth: [] }] : auth === "none" ? [] : [{ [auth]: [] }],
    request: {
      ...(spec.params ? { params: spec.params } : {}),
      ...(spec.query ? { query: spec.query } : {}),
      ...(spec.headers ? { headers: spec.headers } : {}),
      ...(spec.body
        ? { body: { required: !spec.body.safeParse(undefined).success, content: { [spec.bodyContentType ?? "application/json"]: { schema: spec.body } } } }
        : {}),
    },
    responses,
  };
}

/**
 * The answers that come from the chain around the handler, so no route can forget them: the
 * caller's credentials (401, 429), the JSON body's reader (413, 415), the signed body's reader
 * (413) and the database (503).
 */
function answeredByEveryRoute(
  spec: Pick<RouteSpec<undefined, undefined, ZodType | undefined, undefined>, "auth" | "body" | "bodyContentType">,
  limits: BodyLimits,
): Record<number, ResponseDoc> {
  const auth = spec.auth ?? "user";
  const answers: Record<number, ResponseDoc> = { ...problems(503) };
  if (auth === "user") Object.assign(answers, problems(401, 429));
  if (auth === "aiSignature" || auth === "paymentSignature") {
    Object.assign(answers, problems(401, 413));
    answers[401] = {
      ...answers[401],
      description:
        "The signature header is missing, malformed, stale or does not match the body (code signature_missing, signature_malformed, signature_stale or signature_mismatch)",
    };
    answers[413] = { ...answers[413], description: `The body is larger than ${limits.signed} (code body_too_large)` };
  } else if (spec.body && !spec.bodyContentType) {
    Object.assign(answers, problems(413, 415));
    answers[413] = { ...answers[413], description: `The body is larger than ${limits.json} (code body_too_large)` };
    answers[415] = { ...answers[415], description: "The body is not JSON: send Content-Type: application/json (code unsupported_content_type)" };
  }
  return answers;
}
