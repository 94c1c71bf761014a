// The API document says exactly what the service does: requests generated from the served
// documents themselves (json-schema-faker, seeded), with real ids filled in, are never refused with
// 400 unless they break a rule the operation lists as one a schema cannot express, and every status
// the service answers on an operation is documented there. Also: every JSON-body route answers
// 413 and 415 as documented.
import request from "supertest";
import { AI_SIGNATURE_HEADER } from "../../src/adapters/ai/ai-service";
import { PAYMENT_SIGNATURE_HEADER } from "../../src/adapters/payments/payment-system";
import { signPayload } from "../../src/domain/signature";
import { expectProblem } from "../support/http";
import { pngBytes } from "../support/images";
import {
  parametersSchema,
  sampleAll,
  seededRandom,
  toJsonSchema,
  withRealIds,
  type ApiDocument,
  type Operation,
  type SampleJob,
} from "../support/openapi-samples";
import { splitBill } from "../support/payments";
import { readAnswer } from "../support/routes";
import { createTestApp, TEST_AI_SECRET, TEST_PAYMENT_SECRET, type TestApp } from "../support/test-app";

/** Samples per operation: about 400 requests in all, well under a minute on PGlite. */
const SAMPLES = 12;
const SEED = 20261127;
const METHODS = ["get", "post", "put", "delete", "patch"] as const;

let t: TestApp;
let docs: ApiDocument[];

beforeAll(async () => {
  t = await createTestApp();
  docs = [(await request(t.app).get("/openapi.json")).body, (await request(t.app).get("/openapi.internal.json")).body];
});
afterAll(() => t.close());

interface Endpoint {
  key: string;
  method: (typeof METHODS)[number];
  path: string;
  op: Operation;
  doc: ApiDocument;
}

function endpoints(): Endpoint[] {
  return docs.flatMap((doc) =>
    Object.entries(doc.paths).flatMap(([path, item]) =>
      METHODS.filter((m) => item[m]).map((method) => ({ key: `${method} ${path}`, method, path, op: item[method]!, doc })),
    ),
  );
}

const jsonBodySchema = (op: Operation) => op.requestBody?.content["application/json"]?.schema;
const signedBy = (op: Operation) => (op.security ?? []).flatMap((s) => Object.keys(s)).find((k) => k.endsWith("Signature"));

/** One generated request: the operation's parameters and body, ids still to be filled in. */
interface Sample {
  query?: Record<string, unknown>;
  headers?: Record<string, unknown>;
  body?: unknown;
}

function samplesFor(list: Endpoint[], count: number, seed: number, schemaOf: (e: Endpoint) => unknown = (e) => jsonBodySchema(e.op)): Map<Endpoint, Sample[]> {
  const jobs: SampleJob[] = [];
  list.forEach((e, i) => {
    const query = parametersSchema(e.op, "query", e.doc);
    const headers = parametersSchema(e.op, "header", e.doc);
    const body = schemaOf(e);
    if (query) jobs.push({ key: `${e.key} query`, schema: query, count, seed: seed + i * 1000 });
    if (headers) jobs.push({ key: `${e.key} headers`, schema: headers, count, seed: seed + i * 1000 + 300 });
    if (body) jobs.push({ key: `${e.key} body`, schema: toJsonSchema(body, e.doc), count, seed: seed + i * 1000 + 600 });
  });
  const out = sampleAll(jobs);
  return new Map(
    list.map((e) => [
      e,
      Array.from({ length: count }, (_, i) => ({
        query: out[`${e.key} query`]?.[i] as Record<string, unknown> | undefined,
        headers: out[`${e.key} headers`]?.[i] as Record<string, unknown> | undefined,
        body: out[`${e.key} body`]?.[i],
      })),
    ]),
  );
}

/** The caller's own in-app notifications (GET /notifications, POST /notifications/{notificationId}/read). */
const isNotificationsRoute = (e: Endpoint) => e.path.startsWith("/api/chillbill/notifications");

/**
 * A bill of 100.00 USD split equally among its creator, Alice (a bank customer) and B. With
 * `asAlice` (the notifications routes), Alice has been asked to pay, which writes her a real in-app
 * notification, and the token is hers: a made-up notification id would only ever answer 404, and
 * the 200 would never be compared with the document.
 */
async function fixture(asAlice = false) {
  const bill = await splitBill(t, ["me", "Alice", "B"]);
  const f = { ...bill, ids: bill.people.map((p) => p.id), participantId: bill.byName.B, notificationId: undefined as string | undefined };
  if (!asAlice) return f;
  const asked = await request(t.app)
    .post(`/api/chillbill/bills/${bill.billId}/participants/${bill.byName.Alice}/request-payment`)
    .set("Authorization", `Bearer ${bill.token}`);
  if (asked.status !== 200) throw new Error(`request-payment: ${asked.status} ${JSON.stringify(asked.body)}`);
  const alice = await t.db.prisma.participant.findUniqueOrThrow({ where: { id: bill.byName.Alice } });
  const notice = await t.db.prisma.notification.findFirstOrThrow({ where: { billId: bill.billId, recipientUserId: alice.userId!, channel: "in_app" } });
  return { ...f, token: await t.tokenFor(alice.userId!), notificationId: notice.id };
}
type Fixture = Awaited<ReturnType<typeof fixture>>;

/** The operation's path with the fixture's real ids; a path parameter it has no real id for is an error, never a made-up id. */
function pathFor(e: Endpoint, f: Fixture): string {
  const ids: Record<string, string | undefined> = { billId: f.billId, participantId: f.participantId, notificationId: f.notificationId };
  return e.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const id = ids[name];
    if (!id) throw new Error(`${e.key}: the fixture has no real ${name}; add one rather than a made-up id`);
    return id;
  });
}

/** Sends one generated request to the fixture's bill, as its creator (or signed, for callbacks; or as Alice, for her notifications). */
function send(e: Endpoint, sample: Sample, f: Fixture, random: () => number) {
  const url = pathFor(e, f);
  let req = request(t.app)[e.method](url);
  if (sample.query) req = req.query(sample.query as Record<string, string>);
  for (const [name, value] of Object.entries(sample.headers ?? {})) req = req.set(name, String(value));
  const scheme = signedBy(e.op);
  if (!scheme) req = req.set("Authorization", `Bearer ${f.token}`);
  if (e.path.endsWith("/events")) return req.buffer(true).parse(readAnswer as never);
  // The upload's file is filled in like an id: the document asks for a binary, the test has a real photo.
  if (e.op.requestBody?.content["multipart/form-data"]) return req.attach("image", pngBytes(), { filename: "receipt.png", contentType: "image/png" });
  if (sample.body === undefined) return req;
  const body = withRealIds(sample.body, f.ids, random);
  if (scheme) {
    const raw = JSON.stringify(body);
    const secret = scheme === "aiSignature" ? TEST_AI_SECRET : TEST_PAYMENT_SECRET;
    const header = scheme === "aiSignature" ? AI_SIGNATURE_HEADER : PAYMENT_SIGNATURE_HEADER;
    return req
      .set("Content-Type", "application/json")
      .set(header, signPayload(secret, raw, Math.floor(Date.now() / 1000)))
      .send(raw);
  }
  return req.send(body as object);
}

interface Finding {
  operation: string;
  status: number;
  why: string;
  sent: Sample;
  answer: unknown;
}

/** What is wrong with the answer to a schema-valid request, if anything. */
function findingFor(e: Endpoint, sample: Sample, res: request.Response): Finding | undefined {
  const finding = (why: string): Finding => ({ operation: e.key, status: res.status, why, sent: sample, answer: res.body });
  if (!(String(res.status) in e.op.responses)) return finding(`status ${res.status} is not documented on the operation`);
  if (res.status === 400) {
    const rules = new Set(e.op["x-cross-field-rules"] ?? []);
    const issues = (res.body?.issues ?? []) as { code?: string }[];
    const excused = issues.length > 0 && issues.every((i) => i.code !== undefined && rules.has(i.code));
    if (!excused) return finding("a schema-valid request was refused with 400 by a rule the operation does not list");
  }
  return undefined;
}

async function walk(list: Endpoint[], samples: Map<Endpoint, Sample[]>): Promise<{ findings: Finding[]; answered: Record<string, number[]> }> {
  const findings: Finding[] = [];
  const answered: Record<string, number[]> = {};
  const random = seededRandom(SEED);
  for (const e of list) {
    // Each operation gets a bill of its own: samples that cancel it or remove people change only theirs.
    const f = await fixture(isNotificationsRoute(e));
    const seen = new Set<number>();
    for (const sample of samples.get(e) ?? []) {
      const res = await send(e, sample, f, random);
      seen.add(res.status);
      const found = findingFor(e, sample, res);
      if (found) findings.push(found);
    }
    answered[e.key] = [...seen].sort();
  }
  return { findings, answered };
}

describe("the API document says exactly what the service does", () => {
  it("no schema-valid request is refused with 400 (but for the rules listed by name), and every status answered is documented", async () => {
    const list = endpoints();
    expect(list.length).toBeGreaterThan(30);
    const { findings, answered } = await walk(list, samplesFor(list, SAMPLES, SEED));
    expect(findings).toEqual([]);
    // Each path parameter is a real id: marking a real notification read answers its documented 200.
    expect(answered["post /api/chillbill/notifications/{notificationId}/read"]).toContain(200);
    expect(answered["get /api/chillbill/notifications"]).toContain(200);
    // The generated requests get through: most operations answer 2xx to some of them.
    const succeeded = Object.values(answered).filter((statuses) => statuses.some((s) => s < 300)).length;
    expect(succeeded).toBeGreaterThan(list.length / 2);
  }, 180_000);

  it("names each rule a schema cannot express in the operation's description", () => {
    for (const e of endpoints()) {
      for (const rule of e.op["x-cross-field-rules"] ?? [])
        expect({ operation: e.key, description: e.op.description }).toEqual({ operation: e.key, description: expect.stringContaining(`\`${rule}\``) });
    }
  });

  it("would catch a looser document: custom amounts without their pattern get 400s the document does not explain", async () => {
    const e = endpoints().find((x) => x.key === "post /api/chillbill/bills/{billId}/split/custom-amount")!;
    const loosened = JSON.parse(JSON.stringify(toJsonSchema(jsonBodySchema(e.op), e.doc)));
    delete loosened.properties.amounts.items.properties.amount.pattern;
    const { findings } = await walk(
      [e],
      samplesFor([e], SAMPLES, SEED, () => loosened),
    );
    expect(findings.length).toBeGreaterThan(0);
    expect(findings[0].why).toMatch(/refused with 400/);
  });

  it("the internal document declares the HMAC signature schemes its operations use", () => {
    const internal = docs[1] as ApiDocument & { components: { securitySchemes: Record<string, unknown> } };
    expect(internal.components.securitySchemes).toEqual({
      aiSignature: expect.objectContaining({ type: "apiKey", in: "header", name: AI_SIGNATURE_HEADER }),
      paymentSignature: expect.objectContaining({ type: "apiKey", in: "header", name: PAYMENT_SIGNATURE_HEADER }),
    });
    for (const e of endpoints().filter((x) => x.doc === internal)) {
      expect(signedBy(e.op)).toBeDefined();
      expect((e.op.responses["401"] as { description: string }).description).toMatch(/signature_missing/);
    }
  });
});

describe("413 and 415, on every route that takes a JSON body", () => {
  const bytes = (limit: string) => {
    const [, n, unit] = /^(\d+)(b|kb|mb)$/i.exec(limit)!;
    return Number(n) * { b: 1, kb: 1024, mb: 1024 * 1024 }[unit.toLowerCase() as "b" | "kb" | "mb"];
  };

  it("answers a body over the limit with 413 body_too_large, and a body that is not JSON with 415, both documented", async () => {
    const f = await fixture();
    const jsonRoutes = endpoints().filter((e) => jsonBodySchema(e.op));
    expect(jsonRoutes.filter((e) => !signedBy(e.op))).toHaveLength(12);
    for (const e of jsonRoutes) {
      const scheme = signedBy(e.op);
      const url = pathFor(e, f);
      const limit = scheme ? bytes("1mb") : bytes(t.config.bodyLimit);
      const tooLarge = JSON.stringify({ note: "x".repeat(limit + 1) });
      const big = request(t.app)[e.method](url).set("Content-Type", "application/json");
      const res = await (scheme ? big : big.set("Authorization", `Bearer ${f.token}`)).send(tooLarge);
      expect({ operation: e.key, status: res.status, documented: "413" in e.op.responses }).toEqual({ operation: e.key, status: 413, documented: true });
      expectProblem(res, 413, "body_too_large");
      if (scheme) continue; // signed bodies are read raw, whatever their type: no 415
      const text = await request(t.app)[e.method](url).set("Authorization", `Bearer ${f.token}`).set("Content-Type", "text/plain").send("total=10");
      expect({ operation: e.key, status: text.status, documented: "415" in e.op.responses }).toEqual({ operation: e.key, status: 415, documented: true });
      expectProblem(text, 415, "unsupported_content_type");
    }
  });
});
