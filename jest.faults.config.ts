// Fault tests (`npm run test:faults`): the real server process against a real PostgreSQL server
// (TEST_DATABASE_URL), killed, cut off from its database, and shut down mid-request.
import type { Config } from "jest";
import base from "./jest.config";

const config: Config = {
  ...base,
  testMatch: ["**/*.faults.ts"],
  globalSetup: undefined,
  globalTeardown: undefined,
  testTimeout: 180_000,
  maxWorkers: 1,
};

export default config;
