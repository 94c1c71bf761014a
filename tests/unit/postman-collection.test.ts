// The Postman files in docs/postman/ are what `npm run postman` makes from the app's OpenAPI
// documents today: a route, schema or summary changed without regenerating them fails here.
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  buildPostmanFiles,
  COLLECTION_FILE,
  ENVIRONMENT_FILE,
  FLOW_FOLDER,
  POSTMAN_DIR,
  readOpenApiDocuments,
  type OpenApiDocuments,
  type PostmanCollection,
  type PostmanEnvironment,
  type PostmanItem,
} from "../../scripts/postman-collection";

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
    const [header, secret] = item.request!.url.path.includes("webhook") ? ["x-payment-signature", "paymentWebhookSecret"] : ["x-ai-signature", "aiCallbackSecret"];
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
