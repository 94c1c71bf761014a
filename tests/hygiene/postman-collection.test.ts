// The Postman files in docs/postman/ are what `npm run postman` makes from the app's OpenAPI
// documents today: a route, schema or summary changed without regenerating them fails here.
import { readFileSync } from "node:fs";
import path from "node:path";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import {
  buildPostmanFiles,
  COLLECTION_FILE,
  ENVIRONMENT_FILE,
  environmentWithToken,
  FLOW_FOLDER,
  operationOf,
  POSTMAN_DIR,
  readOpenApiDocuments,
  type OpenApiDocuments,
  type PostmanCollection,
  type PostmanEnvironment,
  type PostmanItem,
} from "../../scripts/postman-collection";
import { loadConfig } from "../../src/config";
import { createTokenVerifier, signDevelopmentToken } from "../../src/http/auth";
import { parametersSchema, toJsonSchema, type ApiDocument, type Operation } from "../support/openapi-samples";

let docs: OpenApiDocuments;
let files: Record<string, string>;
beforeAll(async () => {
  docs = await readOpenApiDocuments();
  files = await buildPostmanFiles(docs);
});

const checkedIn = (name: string) => readFileSync(path.join(POSTMAN_DIR, name), "utf8");
const leaves = (items: PostmanItem[]): PostmanItem[] => items.flatMap((i) => (i.item ? leaves(i.item) : [i]));

it("the checked-in collection and environment are up to date (else: npm run postman, and commit them)", () => {
  expect(Object.keys(files).sort()).toEqual([COLLECTION_FILE, ENVIRONMENT_FILE].sort());
  for (const name of Object.keys(files)) expect({ name, text: files[name] }).toEqual({ name, text: checkedIn(name) });
});

it("when the API document changes, the checked-in collection is stale", async () => {
  const changed = structuredClone(docs);
  changed.publicDoc.paths["/api/chillbill/bills"].post!.summary = "Create a bill (renamed)";
  const regenerated = await buildPostmanFiles(changed);
  expect(regenerated[COLLECTION_FILE]).not.toEqual(checkedIn(COLLECTION_FILE));
  expect(regenerated[COLLECTION_FILE]).toContain('"name": "Create a bill (renamed)"');
});

it("makes the same bytes every time (no random ids or example values)", async () => {
  expect(await buildPostmanFiles(docs)).toEqual(files);
});

it("has one request per documented operation, and the internal ones sign their bodies", () => {
  const collection = JSON.parse(files[COLLECTION_FILE]) as PostmanCollection;
  const [publicFolder, internalFolder] = collection.item;
  const operations = (doc: OpenApiDocuments["publicDoc"]) => Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops ?? {}).length, 0);
  expect(leaves(publicFolder.item!)).toHaveLength(operations(docs.publicDoc));
  expect(leaves(internalFolder.item!)).toHaveLength(operations(docs.internalDoc));
  expect(collection.auth).toEqual({ type: "bearer", bearer: [{ key: "token", value: "{{token}}", type: "string" }] });
  for (const item of leaves(internalFolder.item!)) {
    const script = item.event!.find((e) => e.listen === "prerequest")!.script.exec.join("\n");
    const [header, secret] = item.request!.url.path.includes("webhook")
      ? ["x-payment-signature", "paymentWebhookSecret"]
      : ["x-ai-signature", "aiCallbackSecret"];
    expect(script).toContain(`key: "${header}"`);
    expect(script).toContain(`pm.variables.get("${secret}")`);
    expect(item.request!.auth).toEqual({ type: "noauth" });
  }
});

it("the Flow runs the story in order, from the generated requests", () => {
  const collection = JSON.parse(files[COLLECTION_FILE]) as PostmanCollection;
  const flow = collection.item.find((i) => i.name === FLOW_FOLDER)!;
  expect(flow.item!.map((i) => `${i.request!.method} /${i.request!.url.path.join("/")}`)).toEqual([
    "POST /api/chillbill/bills",
    "PUT /api/chillbill/bills/:billId",
    "POST /api/chillbill/bills/:billId/participants",
    "POST /api/chillbill/bills/:billId/participants",
    "POST /api/chillbill/bills/:billId/split/equal",
    "POST /api/chillbill/bills/:billId/request-payments",
    "POST /api/chillbill/webhook/payment-callback",
    "GET /api/chillbill/bills/:billId/status",
    "GET /api/chillbill/notifications",
  ]);
  for (const step of flow.item!) expect(step.event!.some((e) => e.listen === "test")).toBe(true);
});

it("the environment holds no token, and only the service's development secrets", () => {
  const environment = JSON.parse(files[ENVIRONMENT_FILE]) as PostmanEnvironment;
  expect(environment.name).toMatch(/development/);
  const values = Object.fromEntries(environment.values.map((v) => [v.key, v.value]));
  expect(values.token).toBe("");
  expect(values.paymentWebhookSecret).toMatch(/^chillbill-development-/);
  expect(values.aiCallbackSecret).toMatch(/^chillbill-development-/);
});

it("npm run postman -- --token writes the environment with a token the service accepts, for the user named", async () => {
  const { auth } = loadConfig({});
  const token = await signDevelopmentToken(auth.secret!, "bank-user-alice", { issuer: auth.issuer, audience: auth.audience });
  const environment = JSON.parse(environmentWithToken(files[ENVIRONMENT_FILE], "bank-user-alice", token)) as PostmanEnvironment;
  expect(environment.name).toMatch(/as bank-user-alice$/);
  const values = Object.fromEntries(environment.values.map((v) => [v.key, v.value]));
  expect(await createTokenVerifier(auth).verify(values.token!)).toMatchObject({ id: "bank-user-alice" });
  expect(values.baseUrl).toBe(JSON.parse(files[ENVIRONMENT_FILE]).values.find((v: { key: string }) => v.key === "baseUrl").value);
});

describe("the requests outside the Flow send what their operation accepts", () => {
  // What the Flow leaves in the collection variables (and the signing script sets), as sample values.
  const sampleVariables: Record<string, string> = {
    billId: "0190a6c4-8f3e-7000-8000-00000000b111",
    participantId: "0190a6c4-8f3e-7000-8000-00000000b222",
    otherParticipantId: "0190a6c4-8f3e-7000-8000-00000000c333",
    notificationId: "0190a6c4-8f3e-7000-8000-00000000d444",
    paymentId: "pay_mock_0001",
    paymentReference: "CB-SAMPLE-0001",
    paymentAmount: "45.00",
    paymentCurrency: "USD",
    eventId: "evt_postman_1",
    signedAt: "1790000000",
    $guid: "0190a6c4-8f3e-7000-8000-00000000e555",
  };
  const resolve = (text: string) =>
    text.replace(/\{\{([$\w]+)\}\}/g, (whole, key: string) => {
      if (!(key in sampleVariables)) throw new Error(`${whole} is not a variable the Flow or the signing script sets`);
      return sampleVariables[key];
    });
  const bodies = new Ajv2020({ strict: false, allErrors: true });
  addFormats(bodies);
  // Query values are strings on the wire: "20" is the integer 20.
  const queries = new Ajv2020({ strict: false, allErrors: true, coerceTypes: true });
  addFormats(queries);

  /** What is wrong with each non-Flow request of a folder, checked against its operation in the served document. */
  function problemsIn(folder: PostmanItem, doc: ApiDocument): string[] {
    const found: string[] = [];
    for (const item of leaves(folder.item!)) {
      const r = item.request!;
      const name = `${r.method} /${r.url.path.join("/")}`;
      const op = operationOf(r, doc as never) as Operation | undefined;
      if (!op) {
        found.push(`${name}: no such operation in the document`);
        continue;
      }
      for (const v of r.url.variable)
        if (v.value !== `{{${v.key}}}` || !(v.key in sampleVariables)) found.push(`${name}: path variable ${v.key} is ${v.value}`);
      const query = Object.fromEntries(r.url.query.filter((q) => !q.disabled).map((q) => [q.key, resolve(q.value)]));
      const querySchema = parametersSchema(op, "query", doc);
      if (querySchema && !queries.validate(querySchema, query)) found.push(`${name}: query ${JSON.stringify(query)}: ${queries.errorsText(queries.errors)}`);
      const bodySchema = op.requestBody?.content["application/json"]?.schema;
      if (!bodySchema) continue;
      if (r.body?.mode !== "raw" || !r.body.raw) {
        if (op.requestBody?.required) found.push(`${name}: no body`);
        continue;
      }
      let body: unknown;
      try {
        body = JSON.parse(resolve(r.body.raw));
      } catch (err) {
        found.push(`${name}: the body is not JSON: ${String(err)}`);
        continue;
      }
      if (!bodies.validate(toJsonSchema(bodySchema, doc) as object, body))
        found.push(`${name}: body ${JSON.stringify(body)}: ${bodies.errorsText(bodies.errors)}`);
    }
    return found;
  }

  it("every body, query and path is valid for its operation's schemas once the collection variables are set", () => {
    const collection = JSON.parse(files[COLLECTION_FILE]) as PostmanCollection;
    const [publicFolder, internalFolder] = collection.item;
    expect(collection.variable.map((v) => v.key)).toEqual(
      expect.arrayContaining(Object.keys(sampleVariables).filter((k) => !["eventId", "signedAt", "$guid"].includes(k))),
    );
    expect([...problemsIn(publicFolder, docs.publicDoc as never), ...problemsIn(internalFolder, docs.internalDoc as never)]).toEqual([]);
  });

  it("would catch a made-up body: the converter's own values from the schemas", () => {
    const collection = JSON.parse(files[COLLECTION_FILE]) as PostmanCollection;
    const publicFolder = structuredClone(collection.item[0]);
    const itemized = leaves(publicFolder.item!).find((i) => i.request!.url.path.at(-1) === "itemized")!;
    itemized.request!.body!.raw = JSON.stringify({ items: [{ amount: 1956 }] });
    const listBills = leaves(publicFolder.item!).find((i) => i.request!.method === "GET" && i.request!.url.path.join("/") === "api/chillbill/bills")!;
    listBills.request!.url.query = listBills.request!.url.query.map((q) => ({ ...q, disabled: false, value: q.key === "limit" ? "0" : q.value }));
    const found = problemsIn(publicFolder, docs.publicDoc as never);
    expect(found).toEqual([expect.stringMatching(/^GET \/api\/chillbill\/bills: query/), expect.stringMatching(/^POST .*\/split\/itemized: body/)]);
  });

  it("sends the Flow's ids, not the examples' ids, and leaves optional values only the API hands out (cursor, last event id) unsent", () => {
    const text = files[COLLECTION_FILE];
    expect(text).not.toMatch(/0190a6c4-8f3e-7000-8000-0000000000(b0|c0)/);
    expect(text).not.toMatch(/<(string|number|uuid|integer|boolean)>/);
    const collection = JSON.parse(text) as PostmanCollection;
    const params = leaves(collection.item[0].item!).flatMap((i) => [...i.request!.url.query, ...i.request!.header]);
    for (const key of ["cursor", "lastEventId", "last-event-id"]) {
      const found = params.filter((p) => p.key === key);
      expect(found.length).toBeGreaterThan(0);
      for (const p of found) expect({ key, disabled: p.disabled }).toEqual({ key, disabled: true });
    }
  });
});
