// `npm run check:docker`: static checks of the Dockerfile and docker-compose.yml, which CI cannot
// build or start (there is no Docker engine). Prints one line per finding and exits 1 on any.
//
// - Dockerfile: dockerfile-utils' validate() (the checks behind VS Code's Docker extension), then
//   ours: every `FROM node:` pins one exact version (CI runs the test suite on that version), the
//   image's Node satisfies package.json's engines, and the last stage runs as a non-root USER.
// - docker-compose.yml: dclint, which validates against the Compose Specification's JSON schema
//   (the official one, vendored and kept current by dclint) and adds correctness rules; its
//   ordering and quoting style rules are off. Then ours: the service built from this repository
//   sets only variables that src/config.ts reads, because the service ignores any other name, so
//   a misspelt setting would silently keep its default.
//
// npm run check:docker -- [--dockerfile PATH] [--compose PATH]
import { readFileSync } from "node:fs";
import path from "node:path";
import { DCLinter } from "dclint";
import { validate } from "dockerfile-utils";
import { parse } from "yaml";
import { ENVIRONMENT_VARIABLES } from "../src/config";

export interface Finding {
  file: string;
  line: number;
  message: string;
}

const ROOT = path.resolve(__dirname, "..");

/** Instructions with their 1-based line, continuation lines joined and comments dropped. */
function instructions(text: string): { line: number; keyword: string; args: string }[] {
  const result: { line: number; keyword: string; args: string }[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let current = lines[i];
    if (/^\s*(#|$)/.test(current)) continue;
    while (/\\\s*$/.test(current) && i + 1 < lines.length) current = current.replace(/\\\s*$/, " ") + lines[++i];
    const match = /^\s*(\w+)\s*(.*)$/.exec(current);
    if (match) result.push({ line: start + 1, keyword: match[1].toUpperCase(), args: match[2].trim() });
  }
  return result;
}

/** The Node version `X.Y.Z` from `node:X.Y.Z-...` in a FROM line, or null. */
export function nodeVersionOfImage(image: string): string | null {
  return /^node:(\d+\.\d+\.\d+)(-|$)/.exec(image)?.[1] ?? null;
}

function satisfiesFloor(version: string, floor: string): boolean {
  const [a, b] = [version, floor].map((v) => v.split(".").map(Number));
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  return true;
}

export function checkDockerfile(file: string, engines: string): Finding[] {
  const text = readFileSync(file, "utf8");
  const findings: Finding[] = validate(text).map((d) => ({ file, line: d.range.start.line + 1, message: `${d.message} (dockerfile-utils)` }));

  const all = instructions(text);
  const froms = all.filter((i) => i.keyword === "FROM");
  const stages = new Set(froms.map((f) => /\bAS\s+(\S+)/i.exec(f.args)?.[1]?.toLowerCase()).filter(Boolean));
  const nodeVersions = new Set<string>();
  const floor = /^>=\s*(\d+(?:\.\d+){0,2})$/.exec(engines.trim())?.[1];
  for (const from of froms) {
    const image = from.args.split(/\s+/).find((a) => !a.startsWith("--")) ?? "";
    if (stages.has(image.toLowerCase())) continue;
    const version = nodeVersionOfImage(image);
    if (!version) {
      findings.push({ file, line: from.line, message: `FROM ${image}: use node:X.Y.Z-<variant>, one exact Node version (CI tests on it)` });
      continue;
    }
    nodeVersions.add(version);
    if (floor && !satisfiesFloor(version, floor)) {
      findings.push({ file, line: from.line, message: `FROM ${image}: Node ${version} is below package.json's engines (${engines})` });
    }
  }
  if (nodeVersions.size > 1) {
    findings.push({
      file,
      line: froms[0]?.line ?? 1,
      message: `the stages use different Node versions (${[...nodeVersions].join(", ")}): build and run on one`,
    });
  }

  const lastFrom = froms.at(-1)?.line ?? 0;
  const users = all.filter((i) => i.keyword === "USER" && i.line > lastFrom);
  const user = users.at(-1)?.args.split(":")[0];
  if (!user || user === "root" || user === "0") {
    findings.push({ file, line: users.at(-1)?.line ?? lastFrom, message: "the last stage must switch to a non-root USER" });
  }
  return findings;
}

/** `environment:` as a map or as a list of NAME=value, reduced to the names. */
function environmentNames(environment: unknown): string[] {
  if (Array.isArray(environment)) return environment.map((e) => String(e).split("=")[0]);
  if (environment && typeof environment === "object") return Object.keys(environment);
  return [];
}

export function checkCompose(file: string): Finding[] {
  const findings: Finding[] = [];
  const linter = new DCLinter({
    rules: {
      "services-alphabetical-order": 0,
      "service-keys-order": 0,
      "top-level-properties-order": 0,
      "service-dependencies-alphabetical-order": 0,
      "service-ports-alphabetical-order": 0,
      "require-quotes-in-ports": 0,
      "require-project-name-field": 0,
      // The service is meant to be reached from other machines (a load balancer, a phone).
      "no-unbound-port-interfaces": 0,
    },
    quiet: false,
    debug: false,
    exclude: [],
  });
  for (const result of linter.lintFiles([file], false)) {
    for (const m of result.messages) findings.push({ file, line: m.line, message: `${m.message} (dclint ${m.rule})` });
  }

  const text = readFileSync(file, "utf8");
  let document: { services?: Record<string, { build?: unknown; environment?: unknown }> } | undefined;
  try {
    document = parse(text);
  } catch {
    return findings; // dclint has reported the YAML error
  }
  const known = new Set(ENVIRONMENT_VARIABLES);
  for (const [name, service] of Object.entries(document?.services ?? {})) {
    if (!service?.build) continue; // images from elsewhere (postgres, redis) have their own variables
    for (const variable of environmentNames(service.environment)) {
      if (!known.has(variable)) {
        const line = 1 + text.split("\n").findIndex((l) => new RegExp(`^\\s*-?\\s*["']?${variable}["']?\\s*[:=]`).test(l));
        findings.push({ file, line: Math.max(line, 1), message: `service ${name} sets ${variable}, which src/config.ts does not read (misspelt?)` });
      }
    }
  }
  return findings;
}

function main(): void {
  const argument = (name: string, fallback: string) => {
    const at = process.argv.indexOf(name);
    return path.resolve(at >= 0 ? process.argv[at + 1] : path.join(ROOT, fallback));
  };
  const dockerfile = argument("--dockerfile", "Dockerfile");
  const compose = argument("--compose", "docker-compose.yml");
  const engines = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { engines: { node: string } }).engines.node;

  const findings = [...checkDockerfile(dockerfile, engines), ...checkCompose(compose)];
  for (const f of findings) console.log(`${path.relative(process.cwd(), f.file)}:${f.line}: ${f.message}`);
  if (findings.length > 0) {
    console.log(`${findings.length} finding(s)`);
    process.exitCode = 1;
  } else {
    console.log(`${path.relative(process.cwd(), dockerfile)} and ${path.relative(process.cwd(), compose)}: no findings`);
  }
}

if (require.main === module) main();
