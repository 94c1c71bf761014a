import multer from "multer";
import { z } from "zod";
import {
  BadRequest,
  BusinessRule,
  Conflict,
  NotFound,
  PayloadTooLarge,
  ServiceUnavailable,
  Unauthorized,
  UnsupportedMediaType,
  ValidationFailed,
} from "../../src/domain/errors";
import { toProblem } from "../../src/http/problem";

describe("toProblem maps every kind of error to one problem shape", () => {
  it.each([
    [new BadRequest("bad"), 400, "bad_request"],
    [new ValidationFailed([{ path: "totalAmount", message: "must be positive" }]), 400, "validation_failed"],
    [new Unauthorized(), 401, "unauthorized"],
    [new NotFound("gone", "bill_not_found"), 404, "bill_not_found"],
    [new Conflict("closed", "bill_closed"), 409, "bill_closed"],
    [new PayloadTooLarge("big"), 413, "payload_too_large"],
    [new UnsupportedMediaType("gif"), 415, "unsupported_media_type"],
    [new BusinessRule("sum", "split_sum_mismatch"), 422, "split_sum_mismatch"],
    [new ServiceUnavailable("down"), 503, "service_unavailable"],
  ])("%s -> %i %s", (err, status, code) => {
    const p = toProblem(err);
    expect(p).toMatchObject({ status, code, detail: err.message, type: expect.stringContaining(code.replace(/_/g, "-")) });
    expect(typeof p.title).toBe("string");
  });

  it("keeps field issues and names the field in the detail", () => {
    const p = toProblem(
      new ValidationFailed([
        { path: "currency", message: "is required" },
        { path: "note", message: "too long" },
      ]),
    );
    expect(p.detail).toBe("currency: is required (and 1 more)");
    expect(p.issues).toHaveLength(2);
  });

  it("sends WWW-Authenticate with 401 and Retry-After with 503", () => {
    expect(toProblem(new Unauthorized()).headers).toEqual({ "WWW-Authenticate": 'Bearer realm="chillbill"' });
    expect(toProblem(new ServiceUnavailable("x")).headers).toEqual({ "Retry-After": "5" });
  });

  it("maps a ZodError to 400 with one issue per field, unknown keys named", () => {
    const result = z.strictObject({ a: z.string() }).safeParse({ a: 1, status: "paid" });
    const p = toProblem(result.error);
    expect(p.status).toBe(400);
    expect(p.issues).toEqual([
      expect.objectContaining({ path: "a" }),
      expect.objectContaining({ path: "status", message: "is not a field that can be set here" }),
    ]);
  });

  it("maps multer's file-size error to 413 and other multer errors to 400", () => {
    expect(toProblem(new multer.MulterError("LIMIT_FILE_SIZE", "image"))).toMatchObject({ status: 413, code: "file_too_large" });
    expect(toProblem(new multer.MulterError("LIMIT_UNEXPECTED_FILE", "photo"))).toMatchObject({ status: 400, code: "invalid_upload" });
  });

  it("maps body-parser errors: malformed JSON 400, too large 413, bad encoding 415", () => {
    expect(toProblem({ type: "entity.parse.failed" })).toMatchObject({ status: 400, code: "malformed_json" });
    expect(toProblem({ type: "entity.too.large" })).toMatchObject({ status: 413, code: "body_too_large" });
    expect(toProblem({ type: "encoding.unsupported" })).toMatchObject({ status: 415, code: "unsupported_encoding" });
    expect(toProblem({ type: "charset.unsupported" })).toMatchObject({ status: 415 });
  });

  it("maps Prisma's unique violation to 409 and record-not-found to 404, and nothing else of Prisma's", () => {
    expect(toProblem({ name: "PrismaClientKnownRequestError", code: "P2002" })).toMatchObject({ status: 409, code: "already_exists" });
    expect(toProblem({ name: "PrismaClientKnownRequestError", code: "P2025" })).toMatchObject({ status: 404 });
    expect(toProblem({ name: "PrismaClientKnownRequestError", code: "P2003" })).toMatchObject({ status: 500 });
    expect(toProblem({ name: "SomethingElse", code: "P2002" })).toMatchObject({ status: 500 });
  });

  it("maps an unreachable database (also when wrapped as a cause) to 503 with Retry-After", () => {
    expect(toProblem({ code: "ECONNREFUSED" })).toMatchObject({ status: 503, code: "database_unavailable" });
    expect(toProblem(new Error("wrapped", { cause: { code: "P1001" } }))).toMatchObject({ status: 503 });
    expect(toProblem({ name: "PrismaClientInitializationError" })).toMatchObject({ status: 503, headers: { "Retry-After": "5" } });
    expect(toProblem(new Error("Connection terminated unexpectedly"))).toMatchObject({ status: 503 });
    expect(toProblem(new Error("timeout exceeded when trying to connect"))).toMatchObject({ status: 503 });
    // The pool's query guard destroys a silent connection with ETIMEDOUT; Prisma gives up starting a transaction with P2028.
    expect(toProblem(Object.assign(new Error("Query read timeout: the database did not answer within 15000 ms"), { code: "ETIMEDOUT" }))).toMatchObject({
      status: 503,
    });
    expect(toProblem({ name: "PrismaClientKnownRequestError", code: "P2028" })).toMatchObject({ status: 503, code: "database_unavailable" });
    // A statement the server cancelled (statement_timeout) inside a Prisma raw query: PostgreSQL's code under meta.
    const cancelled = (originalCode: string) => ({
      name: "PrismaClientKnownRequestError",
      code: "P2010",
      meta: { driverAdapterError: { name: "DriverAdapterError", cause: { kind: "postgres", originalCode } } },
    });
    expect(toProblem(cancelled("57014"))).toMatchObject({ status: 503, code: "database_unavailable" });
    expect(toProblem(cancelled("22P02"))).toMatchObject({ status: 500, code: "internal_error" });
    expect(toProblem(new Error("Connection to the database was fine"))).toMatchObject({ status: 500 });
  });

  it("maps anything else to a 500 that says nothing about the error", () => {
    const p = toProblem(new TypeError("cannot read secret of undefined at /srv/app.js:12"));
    expect(p).toMatchObject({ status: 500, code: "internal_error", detail: "An unexpected error occurred" });
    expect(JSON.stringify(p)).not.toMatch(/secret|app\.js/);
    expect(toProblem(undefined).status).toBe(500);
    expect(toProblem("a string").status).toBe(500);
  });
});

describe("validation messages in the client's terms", () => {
  const schema = z.strictObject({ name: z.string(), count: z.number().optional(), tags: z.array(z.string()).optional(), on: z.boolean().optional() });
  const messages = (input: unknown) => {
    const result = schema.safeParse(input, { reportInput: true });
    if (result.success) throw new Error("expected a validation failure");
    return toProblem(result.error).issues?.map((i) => i.message);
  };

  it.each([
    [{}, ["name is required"]],
    [{ name: null }, ["name must not be null"]],
    [{ name: 5 }, ["name must be a string"]],
    [{ name: "x", count: "3" }, ["count must be a number"]],
    [{ name: "x", tags: "a" }, ["tags must be an array"]],
    [{ name: "x", on: "yes" }, ["on must be true or false"]],
    [[], ["body must be an object"]],
  ])("%j -> %j", (input, expected) => {
    expect(messages(input)).toEqual(expected);
  });
});
