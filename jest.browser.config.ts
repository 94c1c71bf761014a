// Browser tests (`npm run test:browser`): Debian's Chromium driven by playwright-core against the
// real server process. Not part of `npm test`, which needs no browser; CI runs both.
import type { Config } from "jest";
import base from "./jest.config";

const config: Config = {
  ...base,
  testMatch: ["**/*.browser.ts"],
  globalSetup: undefined,
  globalTeardown: undefined,
  testTimeout: 120_000,
  maxWorkers: 1,
};

export default config;
