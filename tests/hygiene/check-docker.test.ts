// `npm run check:docker` (scripts/check-docker.ts) run as CI runs it: passes on the repository's
// Dockerfile and docker-compose.yml, and fails, naming each problem, on broken ones.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const REPO = path.resolve(__dirname, "../..");
let scratch: string;

function checkDocker(...args: string[]) {
  const run = spawnSync(process.execPath, ["--import", "tsx", path.join(REPO, "scripts/check-docker.ts"), ...args], { cwd: REPO, encoding: "utf8" });
  return { status: run.status, output: run.stdout + run.stderr };
}

function scratchFile(name: string, text: string): string {
  const file = path.join(scratch, name);
  writeFileSync(file, text);
  return file;
}

beforeAll(() => {
  scratch = mkdtempSync(path.join(os.tmpdir(), "chillbill-check-docker-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

jest.setTimeout(30_000);

it("finds nothing in the repository's Dockerfile and docker-compose.yml", () => {
  const { status, output } = checkDocker();
  expect(output).toContain("no findings");
  expect(status).toBe(0);
});

it("fails on a broken Dockerfile, naming each problem with its line", () => {
  const dockerfile = scratchFile(
    "Dockerfile",
    [
      "FROM node:24-bookworm-slim AS build", // 1: a moving tag
      "RUN npm ci",
      "FROM node:18.20.0-bookworm-slim", // 3: below the engines floor
      "EXPOSE port3000", // 4: not a port
      'CMD ["node", "a.js"]',
      'CMD ["node", "b.js"]', // 6: only the last CMD counts
      "",
    ].join("\n"),
  );
  const { status, output } = checkDocker("--dockerfile", dockerfile);
  expect(status).toBe(1);
  expect(output).toMatch(/Dockerfile:1: FROM node:24-bookworm-slim: use node:X\.Y\.Z-<variant>/);
  expect(output).toMatch(/Dockerfile:3: FROM node:18\.20\.0-bookworm-slim: Node 18\.20\.0 is below package\.json's engines/);
  expect(output).toMatch(/Dockerfile:4: Invalid containerPort: port3000 \(dockerfile-utils\)/);
  expect(output).toMatch(/Dockerfile:\d: There can only be one CMD instruction/);
  expect(output).toMatch(/Dockerfile:3: the last stage must switch to a non-root USER/);
  expect(output).not.toMatch(/docker-compose\.yml:/);
});

it("fails when the stages run different Node versions", () => {
  const dockerfile = scratchFile("Dockerfile.versions", "FROM node:24.1.0-bookworm-slim AS build\nFROM node:24.2.0-bookworm-slim\nUSER node\n");
  const { status, output } = checkDocker("--dockerfile", dockerfile);
  expect(status).toBe(1);
  expect(output).toMatch(/the stages use different Node versions \(24\.1\.0, 24\.2\.0\)/);
});

it("fails on a compose file that breaks the Compose Specification", () => {
  const compose = scratchFile(
    "schema.yml",
    ["services:", "  app:", "    build: .", "    depends_on:", "      db:", "        condition: healthy", "  db:", "    image: postgres:17", ""].join("\n"),
  );
  const { status, output } = checkDocker("--compose", compose);
  expect(status).toBe(1);
  expect(output).toMatch(/schema\.yml:\d+: .*\/services\/app\/depends_on.*\(dclint invalid-schema\)/);
});

it("fails when the service built here sets a variable that src/config.ts does not read", () => {
  const compose = scratchFile(
    "misspelt.yml",
    [
      "services:",
      "  app:",
      "    build: .",
      "    environment:",
      "      DATABASE_URL: postgresql://db/chillbill",
      "      JWT_SECERT: not-read-by-anyone",
      "  db:",
      "    image: postgres:17",
      "    environment:",
      "      POSTGRES_PASSWORD: chillbill", // another image's variable: not ours to check
      "",
    ].join("\n"),
  );
  const { status, output } = checkDocker("--compose", compose);
  expect(status).toBe(1);
  expect(output).toContain("misspelt.yml:6: service app sets JWT_SECERT, which src/config.ts does not read");
  expect(output).not.toContain("POSTGRES_PASSWORD");
  expect(output).not.toContain("DATABASE_URL");
});
