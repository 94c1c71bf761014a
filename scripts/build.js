// Compiles src/ into dist/ with tsc. With --if-stale (what `npm start` runs) it skips the compile
// when dist/ was built from exactly the inputs there are now, because a full tsc run costs several
// seconds on every start and the service itself is ready in about one.
//
// Why a content stamp and not tsc's own incremental mode: `tsc -b`/tsbuildinfo only look at file
// times of the project's own sources, need a TypeScript start-up (~1 s) just to decide, and with a
// tsbuildinfo kept outside dist/ a deleted dist/ is not rebuilt. The stamp (dist/.build-stamp.json)
// lists the SHA-256 of every input; it lives inside dist/, so deleting dist/ deletes it too.
// Hashing contents, not times, means a `git checkout` or `npm ci` that rewrites identical files
// (the Prisma client is generated again on every install) costs nothing.
// Plain CommonJS without dependencies: it must run before anything is compiled.
"use strict";
const { createHash } = require("node:crypto");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const STAMP = ".build-stamp.json";
// Besides src/: the compiler settings, and the lockfile, which pins TypeScript and the @types
// packages that decide what tsc emits or refuses.
const CONFIG_INPUTS = ["tsconfig.json", "tsconfig.build.json", "package-lock.json"];

/** Every file whose content goes into dist/, relative to root, sorted. */
function buildInputs(root) {
  const files = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = path.posix.join(dir, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (entry.isFile()) files.push(rel);
    }
  };
  walk("src");
  for (const file of CONFIG_INPUTS) if (fs.existsSync(path.join(root, file))) files.push(file);
  return files.sort();
}

/** { path: sha256 } for every input. */
function hashInputs(root) {
  const hashes = {};
  for (const file of buildInputs(root)) {
    hashes[file] = createHash("sha256")
      .update(fs.readFileSync(path.join(root, file)))
      .digest("hex");
  }
  return hashes;
}

/** The dist/ file tsc writes for a source file, or null for files it does not emit (.d.ts, non-TS). */
function outputOf(sourceFile) {
  if (!sourceFile.startsWith("src/") || !/\.ts$/.test(sourceFile) || /\.d\.ts$/.test(sourceFile)) return null;
  return "dist/" + sourceFile.slice("src/".length).replace(/\.ts$/, ".js");
}

function readStamp(root) {
  try {
    return JSON.parse(fs.readFileSync(path.join(root, "dist", STAMP), "utf8")).inputs ?? null;
  } catch {
    return null;
  }
}

/**
 * Why dist/ must be rebuilt, or null when it was built from the current inputs and is complete.
 * `inputs` is hashInputs(root), passed in so that the caller stamps the same hashes it decided on.
 */
function whyRebuild(root, inputs = hashInputs(root)) {
  const built = readStamp(root);
  if (!built) return fs.existsSync(path.join(root, "dist")) ? "dist/ has no build stamp" : "dist/ is missing";
  for (const file of Object.keys(inputs)) {
    if (!(file in built)) return `${file} was added`;
    if (built[file] !== inputs[file]) return `${file} changed`;
  }
  for (const file of Object.keys(built)) if (!(file in inputs)) return `${file} was deleted`;
  for (const file of Object.keys(inputs)) {
    const output = outputOf(file);
    if (output && !fs.existsSync(path.join(root, output))) return `${output} is missing`;
  }
  return null;
}

/** Empties dist/ (so a deleted source leaves no stale output behind), compiles, then stamps. */
function build(root, inputs = hashInputs(root)) {
  fs.rmSync(path.join(root, "dist"), { recursive: true, force: true });
  const tsc = require.resolve("typescript/bin/tsc", { paths: [root] });
  execFileSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json")], { cwd: root, stdio: "inherit" });
  // Hashed before the compile: a file saved during it is seen as changed on the next start.
  fs.writeFileSync(path.join(root, "dist", STAMP), JSON.stringify({ inputs }, null, 1) + "\n");
}

module.exports = { buildInputs, hashInputs, whyRebuild, build, outputOf };

if (require.main === module) {
  const root = path.resolve(__dirname, "..");
  const inputs = hashInputs(root);
  if (process.argv.includes("--if-stale")) {
    const reason = whyRebuild(root, inputs);
    if (reason === null) process.exit(0);
    console.error(`Building dist/: ${reason}`);
  }
  try {
    build(root, inputs);
  } catch {
    process.exit(1); // tsc has printed its errors
  }
}
