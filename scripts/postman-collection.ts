// The Postman collection and environment (docs/postman/, docs/postman.md), made from the two OpenAPI
// documents the app serves by the maintained converter (openapi-to-postmanv2), then completed with
// what a document cannot say: the bearer token, the signing scripts of the internal callbacks, and a
// "Flow" folder that chains the requests into the bill's story (newman runs it in CI).
// Deterministic: the same documents give the same bytes, so a test can tell when the files are stale.
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { convertV2, type Options } from "openapi-to-postmanv2";
import pino from "pino";
import { AI_SIGNATURE_HEADER } from "../src/adapters/ai/ai-service";
import { PAYMENT_SIGNATURE_HEADER } from "../src/adapters/payments/payment-system";
import { API_BASE, createApp } from "../src/app";
import { loadConfig } from "../src/config";
import { EXAMPLE_IDS } from "../src/http/common-schemas";
import type { Database } from "../src/db/database";
import type { OpenApiDocument } from "../src/http/docs";

export const POSTMAN_DIR = path.resolve(__dirname, "../docs/postman");
export const COLLECTION_FILE = "chillbill.postman_collection.json";
export const ENVIRONMENT_FILE = "chillbill-local.postman_environment.json";
export const FLOW_FOLDER = "Flow";

export interface OpenApiDocuments {
  publicDoc: OpenApiDocument;
  internalDoc: OpenApiDocument;
}

/**
 * The documents exactly as the app serves them at /openapi.json and /openapi.internal.json, from an
 * app built with the development defaults (not the caller's .env, so every machine gets the same
 * files). Nothing queries the database while the app is built and its documents are served, so
 * it gets one that fails loudly if used.
 */
export async function readOpenApiDocuments(): Promise<OpenApiDocuments> {
  const dir = mkdtempSync(path.join(tmpdir(), "chillbill-postman-"));
  try {
    const config = loadConfig({ NODE_ENV: "development", LOG_LEVEL: "silent", UPLOAD_DIR: dir });
    const app = createApp({ config, db: unusable("database") as Database, logger: pino({ level: "silent" }) });
    const server = app.listen(0, "127.0.0.1");
    try {
      await new Promise<void>((resolve, reject) => server.once("listening", resolve).once("error", reject));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const read = async (url: string) => {
        const res = await fetch(base + url);
        if (!res.ok) throw new Error(`GET ${url} -> ${res.status}`);
        return (await res.json()) as OpenApiDocument;
      };
      return { publicDoc: await read("/openapi.json"), internalDoc: await read("/openapi.internal.json") };
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Anything reached through it (at any depth) throws when called. */
function unusable(what: string): unknown {
  return new Proxy(() => undefined, {
    get: (_target, key) => (key === "then" ? undefined : unusable(`${what}.${String(key)}`)),
    apply: () => {
      throw new Error(`${what}() was called while building the app for its OpenAPI documents`);
    },
  });
}

// ---- The Postman collection format (v2.1), as much of it as we touch.

interface Script {
  listen: "prerequest" | "test";
  script: { type: "text/javascript"; exec: string[] };
}
interface KeyValue {
  key: string;
  value: string;
  description?: unknown;
  disabled?: boolean;
  type?: string;
}
export interface PostmanRequest {
  name?: string;
  method: string;
  url: { path: string[]; host: string[]; query: KeyValue[]; variable: KeyValue[] };
  header: KeyValue[];
  body?: { mode: string; raw?: string; options?: unknown };
  auth?: unknown;
  description?: unknown;
}
export interface PostmanItem {
  name: string;
  request?: PostmanRequest;
  item?: PostmanItem[];
  event?: Script[];
  response?: unknown[];
  description?: unknown;
  protocolProfileBehavior?: unknown;
}
export interface PostmanCollection {
  info: { name: string; description: string; schema: string };
  item: PostmanItem[];
  auth: unknown;
  event: Script[];
  variable: KeyValue[];
}
export interface PostmanEnvironment {
  name: string;
  values: Array<{ key: string; value: string; type: "default" | "secret"; enabled: boolean }>;
}

/** The generated environment with `token` set, for one user (npm run postman -- --token; never checked in). */
export function environmentWithToken(environmentText: string, userId: string, token: string): string {
  const environment = JSON.parse(environmentText) as PostmanEnvironment;
  environment.name = `${environment.name}, as ${userId}`;
  const slot = environment.values.find((value) => value.key === "token");
  if (!slot) throw new Error("The environment has no token variable");
  slot.value = token;
  return toFileText(environment);
}

/** The secrets the service checks the internal callbacks with, by where the callback is sent. */
const SIGNED_CALLBACKS = [
  { pathStart: `${API_BASE}/webhook/`, header: PAYMENT_SIGNATURE_HEADER, secretVariable: "paymentWebhookSecret", env: "PAYMENT_WEBHOOK_SECRET" },
  { pathStart: `${API_BASE}/internal/`, header: AI_SIGNATURE_HEADER, secretVariable: "aiCallbackSecret", env: "AI_CALLBACK_SECRET" },
] as const;

/** The Postman files as they are written to docs/postman/, by file name. */
export async function buildPostmanFiles(docs: OpenApiDocuments): Promise<Record<string, string>> {
  const publicPart = await convert(docs.publicDoc);
  const internalPart = await convert(docs.internalDoc);
  for (const request of requestsIn(publicPart.item)) useCollectionAuth(request);
  for (const [part, doc] of [
    [publicPart, docs.publicDoc],
    [internalPart, docs.internalDoc],
  ] as const) {
    for (const request of requestsIn(part.item)) sendOnlyWhatIsKnown(request, doc);
  }
  for (const item of itemsIn(internalPart.item)) signLikeTheService(item);
  const collection: PostmanCollection = {
    info: {
      name: "ChillBill",
      description: [
        "Generated by `npm run postman` from the service's OpenAPI documents (/openapi.json, /openapi.internal.json); do not edit by hand.",
        "Use it with the environment in the same folder: set `token` to the output of `npm run -s token -- bank-user-alice` (docs/postman.md).",
        `The "${FLOW_FOLDER}" folder runs the bill's story in order: create, set the total, add people, split, ask them to pay, one signed payment webhook, status.`,
      ].join("\n\n"),
      schema: "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
    },
    auth: { type: "bearer", bearer: [{ key: "token", value: "{{token}}", type: "string" }] },
    event: [],
    variable: [
      { key: "baseUrl", value: docs.publicDoc.servers?.[0]?.url ?? "http://localhost:3000" },
      // Filled by the Flow's tests; the single requests use them too (their path variables).
      ...["billId", "participantId", "otherParticipantId", "notificationId", "paymentId", "paymentReference", "paymentAmount", "paymentCurrency"].map(
        (key) => ({ key, value: "" }),
      ),
    ],
    item: [
      { name: docs.publicDoc.info.title, description: docs.publicDoc.info.description, item: publicPart.item },
      {
        name: docs.internalDoc.info.title,
        description: `${docs.internalDoc.info.description ?? ""} Each request here signs its body in its pre-request script.`,
        item: internalPart.item,
      },
      flowFolder([...itemsIn(publicPart.item), ...itemsIn(internalPart.item)]),
    ],
  };
  const environment: PostmanEnvironment = {
    name: "ChillBill local development (development secrets only)",
    values: [
      { key: "baseUrl", value: docs.publicDoc.servers?.[0]?.url ?? "http://localhost:3000", type: "default", enabled: true },
      // Never a token here: tokens are minted when needed (npm run token; the CI step passes one).
      { key: "token", value: "", type: "secret", enabled: true },
      ...developmentSecrets(),
    ],
  };
  return { [COLLECTION_FILE]: toFileText(collection), [ENVIRONMENT_FILE]: toFileText(environment) };
}

/** The service's own development defaults (what it uses without PAYMENT_WEBHOOK_SECRET / AI_CALLBACK_SECRET), never production ones. */
function developmentSecrets(): PostmanEnvironment["values"] {
  const config = loadConfig({ NODE_ENV: "development" });
  const values: Record<(typeof SIGNED_CALLBACKS)[number]["secretVariable"], string> = {
    paymentWebhookSecret: config.payments.webhookSecret,
    aiCallbackSecret: config.ai.callbackSecret,
  };
  return SIGNED_CALLBACKS.map((c) => ({ key: c.secretVariable, value: values[c.secretVariable], type: "secret", enabled: true }));
}

function toFileText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * One document through openapi-to-postmanv2, folders by tag. Bodies and parameters are the
 * document's examples (every request body schema has one, so nothing is made up from a pattern);
 * what has none is drawn by its schema faker, given a seeded generator for each conversion, so the
 * output depends on the document only. The random ids it gives items, and the response examples it makes
 * up (a Postman "example" per status, large, and said better by /docs), are left out.
 */
async function convert(doc: OpenApiDocument): Promise<{ item: PostmanItem[] }> {
  // The converter's own copy of json-schema-faker (its option registry holds the random source).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const faker = require(path.join(path.dirname(require.resolve("openapi-to-postmanv2/package.json")), "assets/json-schema-faker.js")) as {
    option(options: { random: () => number }): void;
  };
  faker.option({ random: seededRandom(1) });
  const options: Options = { folderStrategy: "Tags", parametersResolution: "Example", requestNameSource: "Fallback", includeAuthInfoInExample: false };
  const data = await new Promise<unknown>((resolve, reject) => {
    convertV2({ type: "json", data: structuredClone(doc) }, options, (err, result) => {
      if (err || !result?.result || !result.output?.[0]) reject(new Error(`openapi-to-postmanv2: ${err?.message ?? result?.reason ?? "no collection"}`));
      else resolve(result.output[0].data);
    });
  });
  const { item } = withoutIds(data) as { item: PostmanItem[] };
  for (const i of itemsIn(item)) i.response = [];
  return { item };
}

/** mulberry32: a small seeded generator, enough for example values. */
function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function withoutIds(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutIds);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => k !== "id" && k !== "_postman_id")
        .map(([k, v]) => [k, withoutIds(v)]),
    );
  }
  return value;
}

/** The requests (leaves) under some folders, in order. */
function itemsIn(items: PostmanItem[]): PostmanItem[] {
  return items.flatMap((i) => (i.item ? itemsIn(i.item) : i.request ? [i] : []));
}

function requestsIn(items: PostmanItem[]): PostmanRequest[] {
  return itemsIn(items).map((i) => i.request as PostmanRequest);
}

/**
 * The token is set once, on the collection (`{{token}}`), and inherited; a path variable takes the
 * collection variable of its name (filled by the Flow, or by hand), and an idempotency key is new
 * on every send.
 */
function useCollectionAuth(request: PostmanRequest): void {
  delete request.auth;
  for (const v of request.url.variable) v.value = `{{${v.key}}}`;
  for (const h of request.header) if (h.key.toLowerCase() === "idempotency-key") h.value = "{{$guid}}";
}

/** Where the examples' ids (EXAMPLE_IDS) are, the collection variables the Flow fills. */
const EXAMPLE_ID_VARIABLES: ReadonlyArray<readonly [string, string]> = [
  [EXAMPLE_IDS.participantId, "{{participantId}}"],
  [EXAMPLE_IDS.otherParticipantId, "{{otherParticipantId}}"],
];

type DocSchema = { $ref?: string; example?: unknown; default?: unknown };
type DocOperation = {
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: DocSchema }>;
  requestBody?: { content: Record<string, { schema?: DocSchema; example?: unknown }> };
};

/** The document's operation for a generated request. */
export function operationOf(request: PostmanRequest, doc: OpenApiDocument): DocOperation | undefined {
  const docPath = `/${request.url.path.map((p) => (p.startsWith(":") ? `{${p.slice(1)}}` : p)).join("/")}`;
  return (doc.paths[docPath] as Record<string, DocOperation> | undefined)?.[request.method.toLowerCase()];
}

/**
 * A request sends the document's examples, with the Flow's ids in place of the examples' ids; an
 * optional parameter with neither an example nor a default in the document (a cursor, a last event
 * id: values only the API hands out) is left in the request for reference but disabled, rather
 * than sent with a made-up value.
 */
function sendOnlyWhatIsKnown(request: PostmanRequest, doc: OpenApiDocument): void {
  const operation = operationOf(request, doc);
  // The body schema's own example, whole: the converter does not use an example given on a oneOf
  // (the discriminated unions: calculate, the AI results), and draws those bodies from the schema.
  const example = jsonBodyExample(operation, doc);
  if (example !== undefined && request.body) request.body.raw = JSON.stringify(example, null, 2);
  if (request.body?.raw) for (const [id, variable] of EXAMPLE_ID_VARIABLES) request.body.raw = request.body.raw.split(`"${id}"`).join(`"${variable}"`);
  const params = operation?.parameters ?? [];
  const unknown = (where: "query" | "header", key: string) => {
    const p = params.find((x) => x.in === where && x.name.toLowerCase() === key.toLowerCase());
    return p !== undefined && !p.required && p.schema?.example === undefined && p.schema?.default === undefined;
  };
  for (const q of request.url.query) if (unknown("query", q.key)) q.disabled = true;
  for (const h of request.header) if (h.key.toLowerCase() !== "idempotency-key" && unknown("header", h.key)) h.disabled = true;
}

function jsonBodyExample(operation: DocOperation | undefined, doc: OpenApiDocument): unknown {
  const content = operation?.requestBody?.content["application/json"];
  if (!content) return undefined;
  if (content.example !== undefined) return content.example;
  let schema = content.schema;
  if (schema?.$ref) schema = (doc.components?.schemas as Record<string, DocSchema> | undefined)?.[schema.$ref.replace("#/components/schemas/", "")];
  return schema?.example;
}

/**
 * An internal callback has no user: its body is signed as the service verifies it
 * (src/domain/signature.ts), in a pre-request script with the secret from the environment.
 */
function signLikeTheService(item: PostmanItem): void {
  const request = item.request as PostmanRequest;
  const urlPath = `/${request.url.path.join("/")}`;
  const signed = SIGNED_CALLBACKS.find((c) => urlPath.startsWith(c.pathStart));
  if (!signed) throw new Error(`${request.method} ${urlPath} is internal but no signing secret is known for it: add it to SIGNED_CALLBACKS`);
  request.auth = { type: "noauth" };
  request.header = request.header.filter((h) => h.key.toLowerCase() !== signed.header);
  for (const v of request.url.variable) v.value = `{{${v.key}}}`;
  if (signed.header === PAYMENT_SIGNATURE_HEADER && request.body) {
    // A payment event for the collection's payment (the Flow saves it from request-payments), with
    // a new event id each send: the service applies each event id once.
    request.body.raw = JSON.stringify(
      {
        id: "{{eventId}}",
        type: "payment.succeeded",
        created: "{{signedAt}}",
        data: { paymentId: "{{paymentId}}", reference: "{{paymentReference}}", amount: "{{paymentAmount}}", currency: "{{paymentCurrency}}" },
      },
      null,
      2,
    ).replace('"{{signedAt}}"', "{{signedAt}}");
  }
  item.event = [prerequest(signingScript(signed.header, signed.secretVariable, signed.env))];
}

function signingScript(header: string, secretVariable: string, env: string): string[] {
  return [
    `// Signs the body as ChillBill verifies it: header ${header}: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>.`,
    `// The secret is the environment's ${secretVariable}: the service's ${env} (the environment holds its development default).`,
    `const cryptoJs = require("crypto-js"); // the sandbox's crypto-js (the CryptoJS global is deprecated)`,
    `const secret = pm.variables.get("${secretVariable}");`,
    `if (!secret) throw new Error("Set ${secretVariable} in the environment to the service's ${env}");`,
    `const t = Math.floor(Date.now() / 1000);`,
    `pm.variables.set("signedAt", String(t));`,
    `pm.variables.set("eventId", "evt_postman_" + t + "_" + Math.random().toString(36).slice(2, 10));`,
    `// Variables are resolved here and the body is sent exactly as signed.`,
    `const body = pm.variables.replaceIn(pm.request.body ? pm.request.body.raw || "" : "");`,
    `pm.request.body.update(body);`,
    `pm.request.headers.upsert({ key: "${header}", value: "t=" + t + ",v1=" + cryptoJs.HmacSHA256(t + "." + body, secret).toString(cryptoJs.enc.Hex) });`,
  ];
}

function prerequest(exec: string[]): Script {
  return { listen: "prerequest", script: { type: "text/javascript", exec } };
}

function test(exec: string[]): Script {
  return { listen: "test", script: { type: "text/javascript", exec } };
}

/** One step of the Flow: a copy of the generated request for an operation, with its body and checks. */
interface FlowStep {
  name: string;
  operation: string;
  body?: unknown;
  tests: string[];
}

const FLOW: FlowStep[] = [
  {
    name: "1. Create a bill",
    operation: "POST /api/chillbill/bills",
    body: { merchantName: "Pho & Co", note: "Postman flow" },
    tests: [`pm.test("201 Created", () => pm.response.to.have.status(201));`, `pm.collectionVariables.set("billId", pm.response.json().id);`],
  },
  {
    name: "2. Set the total",
    operation: "PUT /api/chillbill/bills/:billId",
    body: { totalAmount: "90.00", currency: "USD" },
    tests: [
      `pm.test("200 OK", () => pm.response.to.have.status(200));`,
      `pm.test("the total is set", () => pm.expect(pm.response.json().totalAmount).to.eql("90.00"));`,
    ],
  },
  {
    name: "3. Add Carol (a bank customer)",
    operation: "POST /api/chillbill/bills/:billId/participants",
    body: { name: "Carol", userId: "bank-user-carol" },
    tests: [`pm.test("201 Created", () => pm.response.to.have.status(201));`, `pm.collectionVariables.set("otherParticipantId", pm.response.json().id);`],
  },
  {
    name: "4. Add Bob (pays by link)",
    operation: "POST /api/chillbill/bills/:billId/participants",
    body: { name: "Bob" },
    tests: [`pm.test("201 Created", () => pm.response.to.have.status(201));`, `pm.collectionVariables.set("participantId", pm.response.json().id);`],
  },
  {
    name: "5. Split equally",
    operation: "POST /api/chillbill/bills/:billId/split/equal",
    body: {},
    tests: [`pm.test("200 OK", () => pm.response.to.have.status(200));`],
  },
  {
    name: "6. Ask everyone to pay",
    operation: "POST /api/chillbill/bills/:billId/request-payments",
    tests: [
      `pm.test("200 OK", () => pm.response.to.have.status(200));`,
      `const requests = pm.response.json().requests;`,
      `pm.test("both are asked, 45.00 each", () => pm.expect(requests.map((r) => [r.participantName, r.amount, r.status])).to.eql([["Carol", "45.00", "sent"], ["Bob", "45.00", "sent"]]));`,
      `// Bob's payment at the payment system: the webhook below reports it paid.`,
      `const bob = requests.find((r) => r.participantId === pm.collectionVariables.get("participantId"));`,
      `pm.collectionVariables.set("paymentId", bob.paymentId);`,
      `pm.collectionVariables.set("paymentReference", bob.reference);`,
      `pm.collectionVariables.set("paymentAmount", bob.amount);`,
      `pm.collectionVariables.set("paymentCurrency", bob.currency);`,
    ],
  },
  {
    name: "7. The payment system reports Bob's payment (signed webhook)",
    operation: "POST /api/chillbill/webhook/payment-callback",
    tests: [
      `pm.test("200 OK", () => pm.response.to.have.status(200));`,
      `pm.test("the payment is applied", () => pm.expect(pm.response.json().outcome).to.eql("applied"));`,
    ],
  },
  {
    name: "8. Bill status",
    operation: "GET /api/chillbill/bills/:billId/status",
    tests: [
      `pm.test("200 OK", () => pm.response.to.have.status(200));`,
      `const status = pm.response.json();`,
      `pm.test("Bob has paid, Carol has not", () => pm.expect(status.participants.map((p) => [p.name, p.paymentStatus])).to.eql([["Carol", "requested"], ["Bob", "paid"]]));`,
      `pm.test("45.00 of 90.00 is paid; the bill stays active", () => pm.expect([status.status, status.totals.paidAmount]).to.eql(["active", "45.00"]));`,
    ],
  },
  {
    name: "9. Your in-app notifications (the creator is told Bob paid)",
    operation: "GET /api/chillbill/notifications",
    tests: [
      `pm.test("200 OK", () => pm.response.to.have.status(200));`,
      `const notice = pm.response.json().items.find((n) => n.billId === pm.collectionVariables.get("billId") && n.type === "payment_received");`,
      `pm.test("a payment_received notice for this bill", () => pm.expect(notice).to.be.an("object"));`,
      `// "Mark an in-app notification read" uses it.`,
      `pm.collectionVariables.set("notificationId", notice.id);`,
    ],
  },
];

/** The Flow folder: each step is the generated request for its operation (`METHOD /path`), so a changed document changes the Flow too. */
function flowFolder(generated: PostmanItem[]): PostmanItem {
  const byOperation = new Map(generated.map((i) => [`${i.request!.method} /${i.request!.url.path.join("/")}`, i]));
  return {
    name: FLOW_FOLDER,
    description:
      "Run in order (newman --folder Flow, or the Collection Runner): each step saves what the next needs in collection variables and checks the answer.",
    item: FLOW.map((step) => {
      const source = byOperation.get(step.operation);
      if (!source) throw new Error(`The Flow step "${step.name}" needs ${step.operation}, which the OpenAPI documents no longer have`);
      const item = structuredClone(source);
      item.name = step.name;
      delete item.request!.name;
      if (step.body !== undefined) item.request!.body = { ...item.request!.body, mode: "raw", raw: JSON.stringify(step.body, null, 2) };
      item.request!.header = item.request!.header.filter((h) => h.key.toLowerCase() !== "idempotency-key");
      item.event = [...(item.event ?? []).filter((e) => e.listen === "prerequest"), test(step.tests)];
      return item;
    }),
  };
}
