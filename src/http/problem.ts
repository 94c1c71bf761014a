// Maps anything thrown to one RFC 9457 problem-details body. The only place that writes error responses.
import type { NextFunction, Request, Response } from "express";
import { MulterError } from "multer";
import { ZodError } from "zod";
import { isDatabaseUnavailable } from "../db/unavailable";
import { AppError, describeIssues, type FieldIssue } from "../domain/errors";
import { NOT_A_DECIMAL_STRING } from "./common-schemas";

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  issues?: FieldIssue[];
  [extra: string]: unknown;
}

const PROBLEM_BASE = "https://chillbill.dev/problems/";

function problem(status: number, title: string, code: string, detail: string, more: Partial<Problem> = {}): Problem {
  return { type: PROBLEM_BASE + code.replace(/_/g, "-"), title, status, detail, code, ...more };
}

export function zodIssues(err: ZodError, prefix?: string): FieldIssue[] {
  const at = (path: PropertyKey[]) => [prefix, ...path.map(String)].filter(Boolean).join(".");
  return err.issues.flatMap((i): FieldIssue[] =>
    // One issue per unknown field, named, so a client sees which field it may not send.
    i.code === "unrecognized_keys"
      ? i.keys.map((key) => ({ path: at([...i.path, key]), message: "is not a field that can be set here", code: i.code }))
      : [{ path: at(i.path), message: messageFor(i, at(i.path)), code: ruleCode(i) }],
  );
}

/** A refinement names its rule with params.code (a route's crossFieldRules); zod's own code otherwise. */
function ruleCode(i: ZodError["issues"][number]): string {
  return i.code === "custom" && typeof i.params?.code === "string" ? i.params.code : i.code;
}

/**
 * Words a wrong type in the client's terms, not zod's ("Invalid input: expected string, received
 * undefined"): a missing field ("name is required"), a null where a value is needed ("name must
 * not be null"), an amount sent as a JSON number, and any other wrong type ("name must be a string").
 * Needs the issue's input (parsed with reportInput); without it, zod's message stands.
 */
function messageFor(i: ZodError["issues"][number], field: string): string {
  if (i.code !== "invalid_type" || !("input" in i)) return i.message;
  const name = field || "body";
  if (i.input === undefined) return `${name} is required`;
  if (i.input === null) return `${name} must not be null`;
  if (typeof i.input === "number" && i.message === NOT_A_DECIMAL_STRING) {
    return `${name} must be a decimal string, not a number: send amounts as decimal strings, e.g. "120.50"`;
  }
  const expected = TYPE_WORDS[i.expected];
  return expected ? `${name} must be ${expected}` : i.message;
}

const TYPE_WORDS: Partial<Record<string, string>> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  array: "an array",
  object: "an object",
};

interface HeaderCarrier {
  headers?: Record<string, string>;
}

/** Turns any error into a problem (and headers to send with it). Pure: unit-tested branch by branch. */
export function toProblem(err: unknown): Problem & HeaderCarrier {
  if (err instanceof AppError) {
    return {
      ...problem(err.status, err.title, err.code, err.message, { ...err.details.extra }),
      ...(err.details.issues ? { issues: err.details.issues } : {}),
      headers: err.details.headers,
    };
  }
  if (err instanceof ZodError) {
    const issues = zodIssues(err);
    return problem(400, "Validation Failed", "validation_failed", describeIssues(issues), { issues });
  }
  if (err instanceof MulterError) {
    if (err.code === "LIMIT_FILE_SIZE") {
      return problem(413, "Payload Too Large", "file_too_large", `The file in field "${err.field}" is larger than allowed`);
    }
    return problem(400, "Bad Request", "invalid_upload", `${err.message}${err.field ? ` (field "${err.field}")` : ""}`);
  }
  const e = err as { type?: string; status?: number; expose?: boolean; code?: string; name?: string; cause?: unknown } | undefined;
  // body-parser (express.json) errors carry a `type`.
  if (e?.type === "entity.parse.failed") {
    return problem(400, "Bad Request", "malformed_json", "The request body is not valid JSON");
  }
  if (e?.type === "entity.too.large") {
    return problem(413, "Payload Too Large", "body_too_large", "The request body is larger than allowed");
  }
  if (e?.type === "encoding.unsupported" || e?.type === "charset.unsupported") {
    return problem(415, "Unsupported Media Type", "unsupported_encoding", "The request body's encoding is not supported");
  }
  // Express could not percent-decode a path parameter (e.g. /bills/%): the client's URL is malformed.
  if (e?.name === "URIError" && e.status === 400) {
    return problem(400, "Bad Request", "malformed_url", "The request path is not valid percent-encoding");
  }
  // body-parser's other client errors (a gzip body that does not inflate, an aborted or mis-sized
  // body): their status, never their message.
  if (e?.expose === true && e.status === 400) {
    return problem(400, "Bad Request", "unreadable_body", "The request body could not be read");
  }
  // A unique violation, from either path: Prisma's P2002, or PostgreSQL's 23505 as node-postgres and
  // PGlite report it on the plain-SQL path (a server error carries its severity).
  const prismaUnique = e?.name === "PrismaClientKnownRequestError" && e.code === "P2002";
  const sqlUnique = e?.code === "23505" && typeof (e as { severity?: unknown }).severity === "string";
  if (prismaUnique || sqlUnique) {
    return problem(409, "Conflict", "already_exists", "A record with the same unique values already exists");
  }
  if (e?.name === "PrismaClientKnownRequestError" && e.code === "P2025") {
    return problem(404, "Not Found", "not_found", "The record does not exist");
  }
  if (isDatabaseUnavailable(err)) {
    return {
      ...problem(503, "Service Unavailable", "database_unavailable", "The database is unavailable; try again shortly"),
      headers: { "Retry-After": "5" },
    };
  }
  return problem(500, "Internal Server Error", "internal_error", "An unexpected error occurred");
}

export function problemHandler(err: unknown, req: Request, res: Response, _next: NextFunction): void {
  const { headers, ...body } = toProblem(err);
  if (body.status >= 500) req.log?.error({ err }, "request failed");
  else req.log?.debug({ err: { message: (err as Error)?.message } }, "request refused");
  if (res.headersSent) {
    res.end();
    return;
  }
  for (const [name, value] of Object.entries(headers ?? {})) res.setHeader(name, value);
  res
    .status(body.status)
    .type("application/problem+json")
    .json({ ...body, instance: req.originalUrl, requestId: req.id });
}
