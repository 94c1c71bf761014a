// Multi-instance tests (`npm run test:multi`): three real server processes on one PostgreSQL
// database (TEST_DATABASE_URL) behind a round-robin proxy, with the outside services (SMTP, the
// payment system, Redis) they share; instances are killed mid-job. One file at a time: each test
// boots its own instances, and scheduled jobs run on the wall clock (a test spans minutes).
import type { Config } from "jest";
import base from "./jest.config";

const config: Config = {
  ...base,
  testMatch: ["**/*.multi.ts"],
  globalSetup: undefined,
  globalTeardown: undefined,
  testTimeout: 240_000,
  maxWorkers: 1,
};

export default config;
