// The layers of src/ and which may import which (docs/architecture.md), read from the import
// statements of every source file with TypeScript's own pre-processor: a new import that breaks a
// rule, or closes a circle, fails here rather than in a review.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

const SRC = path.resolve(__dirname, "../../src");

interface SourceFile {
  /** Relative to src/, with forward slashes: "ledger/decide/split.ts". */
  file: string;
  /** Its relative imports resolved to files under src/, and its package imports by name. */
  local: string[];
  packages: string[];
}

function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "generated" ? [] : sourceFiles(full);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [full] : [];
  });
}

const rel = (full: string) => path.relative(SRC, full).split(path.sep).join("/");

function resolveLocal(from: string, specifier: string, known: Set<string>): string {
  const base = rel(path.resolve(path.dirname(path.join(SRC, from)), specifier));
  // Prisma's generated client is not read (it is built, and ignored by git): it is the layer "generated/".
  if (base.startsWith("generated/")) return base;
  const found = [`${base}.ts`, `${base}/index.ts`, base].find((f) => known.has(f));
  if (!found) throw new Error(`${from} imports ${specifier}, which is no source file`);
  return found;
}

function readGraph(): SourceFile[] {
  const files = sourceFiles().map(rel);
  const known = new Set(files);
  return files.map((file) => {
    const { importedFiles } = ts.preProcessFile(readFileSync(path.join(SRC, file), "utf8"), true, true);
    const specifiers = importedFiles.map((i) => i.fileName);
    return {
      file,
      local: specifiers.filter((s) => s.startsWith(".")).map((s) => resolveLocal(file, s, known)),
      packages: specifiers.filter((s) => !s.startsWith(".")),
    };
  });
}

/** Every import circle among the files (strongly connected components of more than one file, or a file importing itself). */
function circles(graph: SourceFile[]): string[][] {
  const edges = new Map(graph.map((f) => [f.file, f.local]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (edges.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return found;
}

const graph = readGraph();
const under = (prefix: string) => graph.filter((f) => f.file.startsWith(prefix));
/** The imports of the files under `prefix` that break `allowed`, as "file -> import". */
const breaking = (prefix: string, allowed: (local: string) => boolean) =>
  under(prefix).flatMap((f) => f.local.filter((l) => !allowed(l)).map((l) => `${f.file} -> ${l}`));
const packagesOf = (prefix: string) => [...new Set(under(prefix).flatMap((f) => f.packages))].sort();

describe("the layers of src/ (docs/architecture.md)", () => {
  it("reads every source file and its imports", () => {
    expect(graph.length).toBeGreaterThan(50);
    expect(graph.find((f) => f.file === "ledger/ledger.ts")?.local).toContain("ledger/store.ts");
  });

  it("has no import circle", () => {
    expect(circles(graph)).toEqual([]);
  });

  it("finds a circle when there is one (the check itself)", () => {
    const made: SourceFile[] = [
      { file: "a.ts", local: ["b.ts"], packages: [] },
      { file: "b.ts", local: ["c.ts"], packages: [] },
      { file: "c.ts", local: ["a.ts"], packages: [] },
      { file: "d.ts", local: ["a.ts"], packages: [] },
    ];
    expect(circles(made)).toEqual([["a.ts", "b.ts", "c.ts"]]);
  });

  it("domain/ is pure rules: it imports only domain/, and no framework, database or logger", () => {
    expect(breaking("domain/", (l) => l.startsWith("domain/"))).toEqual([]);
    expect(packagesOf("domain/")).toEqual(["decimal.js", "node:crypto"]);
  });

  it("the ledger's decide() is pure: it imports only the ledger's model, its own files and domain/", () => {
    expect(breaking("ledger/decide/", (l) => l.startsWith("ledger/decide/") || l === "ledger/model.ts" || l.startsWith("domain/"))).toEqual([]);
    expect(packagesOf("ledger/decide/")).toEqual(["decimal.js"]);
  });

  it("the ledger imports no module, no HTTP, no adapter and not Prisma: they depend on it, through its ports", () => {
    expect(breaking("ledger/", (l) => !/^(modules|http|adapters|generated)\//.test(l) && !["app.ts", "server.ts", "config.ts"].includes(l))).toEqual([]);
    expect(packagesOf("ledger/").filter((p) => /express|prisma|pg$|pglite/.test(p))).toEqual([]);
  });

  it("a module uses another only through that module's index.ts, its public surface", () => {
    const moduleOf = (file: string) => /^modules\/([^/]+)\//.exec(file)?.[1];
    const reachingIn = under("modules/").flatMap((f) =>
      f.local.filter((l) => moduleOf(l) && moduleOf(l) !== moduleOf(f.file) && l !== `modules/${moduleOf(l)}/index.ts`).map((l) => `${f.file} -> ${l}`),
    );
    expect(reachingIn).toEqual([]);
  });

  it("nothing below the composition root imports it (app.ts, server.ts, cluster.ts)", () => {
    const roots = ["app.ts", "server.ts", "cluster.ts"];
    const importers = graph.filter((f) => f.local.some((l) => roots.includes(l))).map((f) => f.file);
    expect(importers.filter((f) => !roots.includes(f) && !f.startsWith("cli/"))).toEqual([]);
  });
});
