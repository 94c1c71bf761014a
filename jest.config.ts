// Jest runs TypeScript through ts-jest (transpile only; `npm run typecheck` checks types), with
// --experimental-vm-modules because PGlite loads itself with import(). Under that flag Jest treats
// "type: module" packages as ESM it cannot require, so dependencies used in tested code must ship
// a CommonJS build (hence jose 5 and uuid 11). The database for the run is prepared
// once in globalSetup (migrations need Prisma's WebAssembly engine, which Jest's module system
// cannot load); see tests/support/global-setup.ts.
import type { Config } from "jest";

const config: Config = {
  testEnvironment: "node",
  roots: ["<rootDir>/tests"],
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/tsconfig.test.json" }],
  },
  globalSetup: "<rootDir>/tests/support/global-setup.ts",
  globalTeardown: "<rootDir>/tests/support/global-teardown.ts",
  testTimeout: 30_000,
  maxWorkers: 2,
};

export default config;
