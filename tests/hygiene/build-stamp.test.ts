// When `npm start` compiles and when it starts at once (scripts/build.js). One tiny project is
// compiled with the real tsc once; each case gets a copy of it and changes one thing.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { build, whyRebuild } from "../../scripts/build";

const REPO = path.resolve(__dirname, "../..");
let scratch: string;
let template: string;

function write(root: string, file: string, text: string) {
  mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
  writeFileSync(path.join(root, file), text);
}

/** A fresh copy of the built template project. */
function builtProject(): string {
  const root = mkdtempSync(path.join(scratch, "case-"));
  cpSync(template, root, { recursive: true, verbatimSymlinks: true });
  return root;
}

beforeAll(() => {
  scratch = mkdtempSync(path.join(os.tmpdir(), "chillbill-build-"));
  template = path.join(scratch, "template");
  write(
    template,
    "tsconfig.json",
    JSON.stringify({ compilerOptions: { module: "commonjs", target: "ES2022", outDir: "dist", rootDir: "src", strict: true, types: [] } }),
  );
  write(template, "tsconfig.build.json", JSON.stringify({ extends: "./tsconfig.json", include: ["src"] }));
  write(template, "package-lock.json", '{ "lockfileVersion": 3 }\n');
  write(template, "src/server.ts", 'import { greeting } from "./greeting";\nconsole.log(greeting);\n');
  write(template, "src/greeting.ts", 'export const greeting = "hello";\n');
  write(template, "src/types.d.ts", "declare const marker: string;\n");
  mkdirSync(path.join(template, "scripts"));
  cpSync(path.join(REPO, "scripts/build.js"), path.join(template, "scripts/build.js"));
  symlinkSync(path.join(REPO, "node_modules"), path.join(template, "node_modules"), "dir");
  build(template);
}, 60_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("deciding whether dist/ must be rebuilt", () => {
  it("starts at once when nothing changed since the last build", () => {
    expect(whyRebuild(builtProject())).toBeNull();
  });

  it("starts at once when a file was rewritten with the same content (git checkout, npm ci)", () => {
    const root = builtProject();
    write(root, "src/greeting.ts", 'export const greeting = "hello";\n');
    expect(whyRebuild(root)).toBeNull();
  });

  it("rebuilds a fresh clone, which has no dist/", () => {
    const root = builtProject();
    rmSync(path.join(root, "dist"), { recursive: true });
    expect(whyRebuild(root)).toBe("dist/ is missing");
  });

  it("rebuilds a dist/ that no build of this script stamped (an older `tsc` run)", () => {
    const root = builtProject();
    rmSync(path.join(root, "dist/.build-stamp.json"));
    expect(whyRebuild(root)).toBe("dist/ has no build stamp");
  });

  it("rebuilds when a compiled file was deleted from dist/", () => {
    const root = builtProject();
    rmSync(path.join(root, "dist/greeting.js"));
    expect(whyRebuild(root)).toBe("dist/greeting.js is missing");
  });

  it("rebuilds when a source file changed", () => {
    const root = builtProject();
    write(root, "src/greeting.ts", 'export const greeting = "hi";\n');
    expect(whyRebuild(root)).toBe("src/greeting.ts changed");
  });

  it("rebuilds when a declaration file changed, though it has no output of its own", () => {
    const root = builtProject();
    write(root, "src/types.d.ts", "declare const marker: number;\n");
    expect(whyRebuild(root)).toBe("src/types.d.ts changed");
  });

  it("rebuilds when a source file was added or deleted", () => {
    const added = builtProject();
    write(added, "src/extra.ts", "export {};\n");
    expect(whyRebuild(added)).toBe("src/extra.ts was added");

    const deleted = builtProject();
    rmSync(path.join(deleted, "src/types.d.ts"));
    expect(whyRebuild(deleted)).toBe("src/types.d.ts was deleted");
  });

  it.each(["tsconfig.json", "tsconfig.build.json", "package-lock.json"])("rebuilds when %s changed", (file) => {
    const root = builtProject();
    write(root, file, readFileSync(path.join(root, file), "utf8") + "\n");
    expect(whyRebuild(root)).toBe(`${file} changed`);
  });
});

describe("node scripts/build.js --if-stale, as npm start runs it", () => {
  const run = (root: string) =>
    execFileSync(process.execPath, [path.join(root, "scripts/build.js"), "--if-stale"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

  it("compiles nothing when dist/ is current, and leaves no output of a deleted source after a rebuild", () => {
    const root = builtProject();
    const stampBefore = readFileSync(path.join(root, "dist/.build-stamp.json"), "utf8");
    run(root);
    expect(readFileSync(path.join(root, "dist/.build-stamp.json"), "utf8")).toBe(stampBefore);

    write(root, "src/server.ts", 'console.log("standalone");\n');
    rmSync(path.join(root, "src/greeting.ts"));
    run(root);
    expect(existsSync(path.join(root, "dist/greeting.js"))).toBe(false);
    expect(execFileSync(process.execPath, [path.join(root, "dist/server.js")], { encoding: "utf8" })).toBe("standalone\n");
    expect(whyRebuild(root)).toBeNull();
  }, 60_000);

  it("fails, and stamps nothing, when the sources do not compile", () => {
    const root = builtProject();
    write(root, "src/greeting.ts", "export const greeting: number = 'not a number';\n");
    expect(() => run(root)).toThrow();
    expect(existsSync(path.join(root, "dist/.build-stamp.json"))).toBe(false);
    expect(whyRebuild(root)).not.toBeNull();
  }, 60_000);
});
