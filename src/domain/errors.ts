// Typed errors that services throw. The HTTP layer maps each to one problem-details response;
// nothing here knows about HTTP beyond the status each kind stands for.

export interface FieldIssue {
  path: string;
  message: string;
  code?: string;
}

export abstract class AppError extends Error {
  abstract readonly status: number;
  abstract readonly code: string;
  abstract readonly title: string;
  constructor(
    message: string,
    readonly details: { issues?: FieldIssue[]; headers?: Record<string, string>; extra?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequest extends AppError {
  readonly status = 400;
  readonly title = "Bad Request";
  constructor(
    message: string,
    readonly code = "bad_request",
    details: AppError["details"] = {},
  ) {
    super(message, details);
  }
}

export class ValidationFailed extends AppError {
  readonly status = 400;
  readonly code = "validation_failed";
  readonly title = "Validation Failed";
  constructor(issues: FieldIssue[], message = describeIssues(issues)) {
    super(message, { issues });
  }
}

export class Unauthorized extends AppError {
  readonly status = 401;
  readonly title = "Unauthorized";
  constructor(
    message = "Authentication is required",
    readonly code = "unauthorized",
  ) {
    super(message, { headers: { "WWW-Authenticate": 'Bearer realm="chillbill"' } });
  }
}

export class NotFound extends AppError {
  readonly status = 404;
  readonly title = "Not Found";
  constructor(
    message: string,
    readonly code = "not_found",
  ) {
    super(message);
  }
}

/** A known path called with a method it does not have; `Allow` lists the methods it has (RFC 9110 §15.5.6). */
export class MethodNotAllowed extends AppError {
  readonly status = 405;
  readonly title = "Method Not Allowed";
  readonly code = "method_not_allowed";
  constructor(method: string, path: string, allowed: string[]) {
    super(`${path} does not accept ${method}; it accepts ${allowed.join(", ")}`, { headers: { Allow: allowed.join(", ") } });
  }
}

export class Conflict extends AppError {
  readonly status = 409;
  readonly title = "Conflict";
  constructor(
    message: string,
    readonly code = "conflict",
    extra?: Record<string, unknown>,
  ) {
    super(message, { extra });
  }
}

export class PayloadTooLarge extends AppError {
  readonly status = 413;
  readonly title = "Payload Too Large";
  constructor(
    message: string,
    readonly code = "payload_too_large",
  ) {
    super(message);
  }
}

export class UnsupportedMediaType extends AppError {
  readonly status = 415;
  readonly title = "Unsupported Media Type";
  constructor(
    message: string,
    readonly code = "unsupported_media_type",
  ) {
    super(message);
  }
}

/** Well-formed input that breaks a business rule (e.g. custom amounts that do not sum to the total). */
export class BusinessRule extends AppError {
  readonly status = 422;
  readonly title = "Unprocessable Content";
  constructor(
    message: string,
    readonly code = "business_rule_violated",
    extra?: Record<string, unknown>,
  ) {
    super(message, { extra });
  }
}

export class TooManyRequests extends AppError {
  readonly status = 429;
  readonly code = "rate_limited";
  readonly title = "Too Many Requests";
  constructor(message: string, retryAfterSeconds: number) {
    super(message, { headers: { "Retry-After": String(Math.max(1, Math.ceil(retryAfterSeconds))) } });
  }
}

export class ServiceUnavailable extends AppError {
  readonly status = 503;
  readonly title = "Service Unavailable";
  constructor(
    message: string,
    readonly code = "service_unavailable",
  ) {
    super(message, { headers: { "Retry-After": "5" } });
  }
}

export function describeIssues(issues: FieldIssue[]): string {
  if (issues.length === 0) return "The request is invalid";
  const first = issues[0];
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
  // A message that already names its field ("name is required") is not prefixed with it again.
  const named = first.path !== "" && first.message.startsWith(`${first.path} `);
  return `${named ? first.message : `${first.path || "body"}: ${first.message}`}${more}`;
}

/** The one answer for a bill that does not exist or is not the caller's: 404, never 403 (no hint it exists). */
export const billNotFound = () => new NotFound("No bill with this id exists for you", "bill_not_found");
