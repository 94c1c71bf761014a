// Requests generated from the served API document, for tests/api/openapi-honesty.test.ts: each
// operation's JSON schemas turned into plain JSON Schema and sampled with json-schema-faker
// (through tests/support/json-schema-samples.mjs, a plain Node process: the package is ESM only).
import { execFileSync } from "node:child_process";
import path from "node:path";

export type Schema = Record<string, unknown>;

export interface Parameter {
  name: string;
  in: "path" | "query" | "header";
  required?: boolean;
  schema: Schema;
}

export interface Operation {
  description?: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
  responses: Record<string, unknown>;
  security?: Record<string, string[]>[];
  "x-cross-field-rules"?: string[];
}

export interface ApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas?: Record<string, Schema> };
}

/**
 * An OpenAPI 3.0 schema as JSON Schema 2020-12 (what the sampler reads): references inlined,
 * `nullable` as a "null" type, boolean exclusive bounds as numbers, examples dropped.
 */
export function toJsonSchema(schema: unknown, doc: ApiDocument): unknown {
  if (Array.isArray(schema)) return schema.map((s) => toJsonSchema(s, doc));
  if (!schema || typeof schema !== "object") return schema;
  const s = schema as Schema;
  if (typeof s.$ref === "string") return toJsonSchema(doc.components.schemas?.[s.$ref.replace("#/components/schemas/", "")], doc);
  const out: Schema = {};
  for (const [key, value] of Object.entries(s)) {
    if (key === "example" || key === "nullable") continue;
    if (key === "properties") out.properties = Object.fromEntries(Object.entries(value as Schema).map(([k, v]) => [k, toJsonSchema(v, doc)]));
    else if (key === "exclusiveMinimum" || key === "exclusiveMaximum") {
      if (value === true) out[key] = s[key === "exclusiveMinimum" ? "minimum" : "maximum"];
    } else out[key] = typeof value === "object" ? toJsonSchema(value, doc) : value;
  }
  if (s.exclusiveMinimum === true) delete out.minimum;
  if (s.exclusiveMaximum === true) delete out.maximum;
  if (s.nullable === true && typeof out.type === "string") out.type = [out.type, "null"];
  return out;
}

/** The parameters of one kind as one object schema (so one sample is one set of them). */
export function parametersSchema(op: Operation, where: "query" | "header", doc: ApiDocument): Schema | undefined {
  const params = (op.parameters ?? []).filter((p) => p.in === where);
  if (params.length === 0) return undefined;
  return {
    type: "object",
    properties: Object.fromEntries(params.map((p) => [p.name, toJsonSchema(p.schema, doc)])),
    required: params.filter((p) => p.required).map((p) => p.name),
    additionalProperties: false,
  };
}

export interface SampleJob {
  key: string;
  schema: unknown;
  count: number;
  seed: number;
}

/** `count` samples of each job's schema, the same for the same seed. */
export function sampleAll(jobs: SampleJob[]): Record<string, unknown[]> {
  const script = path.join(__dirname, "json-schema-samples.mjs");
  const out = execFileSync(process.execPath, [script], { input: JSON.stringify(jobs), maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(out.toString("utf8"));
}

/** A small seeded generator (mulberry32), for choosing real ids repeatably. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The sample with every participantId (and participantIds entry) replaced by one of `ids`. */
export function withRealIds(value: unknown, ids: string[], random: () => number): unknown {
  const pick = () => ids[Math.floor(random() * ids.length)];
  if (Array.isArray(value)) return value.map((v) => withRealIds(v, ids, random));
  if (!value || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      k === "participantId" && typeof v === "string" ? pick() : k === "participantIds" && Array.isArray(v) ? v.map(pick) : withRealIds(v, ids, random),
    ]),
  );
}
