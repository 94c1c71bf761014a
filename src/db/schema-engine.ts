// Loads Prisma's schema engine (WebAssembly build) so migrations run offline, without the native
// binary that `prisma migrate` would download. The package is a wasm-bindgen "bundler" build: we
// instantiate the .wasm ourselves and hand it to the glue module instead of relying on
// --experimental-wasm-modules. Must run in plain Node (not inside Jest's module system).
import { readFile } from "node:fs/promises";
import path from "node:path";
import { bindMigrationAwareSqlAdapterFactory } from "@prisma/driver-adapter-utils";
import type { SqlMigrationAwareDriverAdapterFactory } from "@prisma/driver-adapter-utils";

type Glue = typeof import("@prisma/schema-engine-wasm");
type WasmExports = Record<string, unknown>;
// @types/node does not declare the WebAssembly global; this is the part we use.
declare const WebAssembly: {
  instantiate(bytes: Uint8Array, imports: Record<string, unknown>): Promise<{ instance: { exports: WasmExports } }>;
};
export type SchemaEngine = Awaited<ReturnType<Glue["SchemaEngine"]["new"]>>;

let gluePromise: Promise<Glue> | undefined;

async function loadGlue(): Promise<Glue> {
  const pkgDir = path.dirname(require.resolve("@prisma/schema-engine-wasm"));
  // The glue is ESM without top-level await; Node >= 20.19 can require() it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const glue = require(path.join(pkgDir, "schema_engine_bg.js")) as Glue & {
    __wbg_set_wasm(exports: WasmExports): void;
  };
  const bytes = await readFile(path.join(pkgDir, "schema_engine_bg.wasm"));
  const { instance } = await WebAssembly.instantiate(bytes, {
    "./schema_engine_bg.js": glue,
  });
  glue.__wbg_set_wasm(instance.exports);
  (instance.exports.__wbindgen_start as () => void)();
  return glue;
}

export async function openSchemaEngine(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  datamodel: { path: string; content: string },
): Promise<SchemaEngine> {
  gluePromise ??= loadGlue();
  const glue = await gluePromise;
  return glue.SchemaEngine.new(
    { datamodels: [[datamodel.path, datamodel.content]] },
    () => {},
    bindMigrationAwareSqlAdapterFactory(adapterFactory),
  );
}
