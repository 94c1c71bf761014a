// Prepares the database for the whole run, once:
// - default (PGlite): applies the migrations to an in-memory PGlite and saves it as a template
//   that every test file loads into its own in-memory PGlite (fast, isolated);
// - with TEST_DATABASE_URL (a PostgreSQL server URL): creates a fresh database chillbill_test_<run>,
//   applies the migrations, and hands its URL to the test workers.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { TEMPLATE_PATH, TMP_DIR } from "./paths";

export default async function globalSetup(): Promise<void> {
  mkdirSync(TMP_DIR, { recursive: true });
  const serverUrl = process.env.TEST_DATABASE_URL;
  const script = path.join(__dirname, "prepare-database.ts");
  const tsx = require.resolve("tsx/cli");
  if (serverUrl) {
    const name = `chillbill_test_${Date.now().toString(36)}_${process.pid}`;
    execFileSync(process.execPath, [tsx, script, "postgres", serverUrl, name], { stdio: "inherit" });
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    process.env.CHILLBILL_TEST_DATABASE_URL = url.toString();
  } else {
    execFileSync(process.execPath, [tsx, script, "pglite", TEMPLATE_PATH], { stdio: "inherit" });
  }
}
