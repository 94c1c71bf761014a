// Generates the Prisma client without network access. `prisma generate` only checks that a
// schema-engine binary exists (it would try to download one from Prisma's CDN); it never runs it,
// so any existing file will do. Runs on `npm ci` (postinstall).
const { execFileSync } = require("node:child_process");
const path = require("node:path");

const prismaCli = require.resolve("prisma/build/index.js");
execFileSync(process.execPath, [prismaCli, "generate", "--schema", path.join(__dirname, "..", "prisma", "schema.prisma")], {
  stdio: "inherit",
  env: {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || process.execPath,
    PRISMA_HIDE_UPDATE_MESSAGE: "1",
    CHECKPOINT_DISABLE: "1",
  },
});
