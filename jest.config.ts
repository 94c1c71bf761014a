// Jest runs TypeScript through ts-jest (transpile only; `npm run typecheck` checks types).
// jose and uuid ship ESM only, so they are transpiled too. The database for the run is prepared
// once in globalSetup (migrations need Prisma's WebAssembly engine, which Jest's module system
// cannot load); see tests/support/database.ts.
import type { Config } from "jest";

const config: Config = {
  testEnvironment: "node",
  roots: ["<rootDir>/tests"],
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.[tj]s$": ["ts-jest", { tsconfig: "<rootDir>/tsconfig.test.json" }],
  },
  transformIgnorePatterns: ["/node_modules/(?!(jose|uuid)/)"],
  globalSetup: "<rootDir>/tests/support/global-setup.ts",
  globalTeardown: "<rootDir>/tests/support/global-teardown.ts",
  testTimeout: 30_000,
  maxWorkers: 2,
};

export default config;
