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

export interface OpenSchemaEngine {
  engine: SchemaEngine;
  /**
   * The engine reports an error thrown by the JavaScript driver (a refused or dropped connection)
   * only as "External error id#N". This gives the engine's error back with the driver's own error
   * as its cause, so that a database outage can be told from a failed migration (start-up tries
   * again after the one, not after the other).
   */
  withDriverCause(err: unknown): unknown;
}

export async function openSchemaEngine(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  datamodel: { path: string; content: string },
): Promise<OpenSchemaEngine> {
  gluePromise ??= loadGlue();
  const glue = await gluePromise;
  const bound = bindMigrationAwareSqlAdapterFactory(adapterFactory);
  const engine = await glue.SchemaEngine.new({ datamodels: [[datamodel.path, datamodel.content]] }, () => {}, bound);
  const withDriverCause = (err: unknown) => {
    const id = err instanceof Error ? /External error id#(\d+)/.exec(err.message)?.[1] : undefined;
    const driverError = id === undefined ? undefined : bound.errorRegistry.consumeError(Number(id))?.error;
    if (driverError !== undefined && err instanceof Error && err.cause === undefined) err.cause = driverError;
    return err;
  };
  return { engine, withDriverCause };
}
