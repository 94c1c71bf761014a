// The README and docs/*.md point at each other and at the code. Since the README was split into
// docs/ by topic, a moved section or a renamed file silently leaves a dead link; this test reads
// every relative link ([text](path#anchor)) and every file path quoted in backticks, and fails on
// any that does not resolve. Headings are turned into anchors as GitHub does.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../..");

// Pages other branches are writing. A link to one of them is accepted only while it does not
// exist yet; once it does, its links and anchors are checked like any other.
// Backticked text that is checked as a path: it starts with one of these folders and holds no
// placeholder (`src/modules/<name>/`), wildcard (`tests/api/security*.test.ts`) or space.
const CHECKED_FOLDERS = /^(src|tests|docs|prisma|scripts|bench|samples|\.ci)\/[\w./-]*$/;

const documents = [
  "README.md",
  ...readdirSync(path.join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** The Markdown without fenced code blocks, which hold shell comments and output, not links. */
function withoutFences(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "");
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const [, text] of withoutFences(markdown).matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const plain = text.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/[`*]/g, "");
    const slug = plain
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, "")
      .replace(/ /g, "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

interface Reference {
  document: string;
  target: string;
}

function linksIn(document: string): Reference[] {
  const text = withoutFences(readFileSync(path.join(ROOT, document), "utf8")).replace(/`[^`\n]*`/g, "``");
  return [...text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
    .map(([, target]) => ({ document, target }))
    .filter(({ target }) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

function quotedPathsIn(document: string): Reference[] {
  const text = withoutFences(readFileSync(path.join(ROOT, document), "utf8"));
  return [...text.matchAll(/`([^`\n]+)`/g)]
    .map(([, quoted]) => quoted)
    .filter((quoted) => CHECKED_FOLDERS.test(quoted))
    .map((target) => ({ document, target }));
}

/** Why the link does not resolve, or undefined when it does. */
function brokenLink({ document, target }: Reference): string | undefined {
  const [file, anchor] = target.split("#", 2) as [string, string | undefined];
  const resolved = file === "" ? document : path.posix.normalize(path.posix.join(path.posix.dirname(document), decodeURI(file)));
  if (resolved.startsWith("../")) return "points outside the repository";
  if (!existsSync(path.join(ROOT, resolved))) {
    return `${resolved} does not exist`;
  }
  if (anchor === undefined || !resolved.endsWith(".md")) return undefined;
  const anchors = anchorsOf(readFileSync(path.join(ROOT, resolved), "utf8"));
  return anchors.has(anchor) ? undefined : `${resolved} has no heading #${anchor} (it has: ${[...anchors].join(", ")})`;
}

describe("links in the README and docs/", () => {
  it("finds the documents and their links", () => {
    expect(documents).toContain("README.md");
    expect(documents).toContain("docs/api.md");
    expect(linksIn("README.md").length).toBeGreaterThan(5);
  });

  it.each(documents)("every relative link in %s resolves, anchors included", (document) => {
    const broken = linksIn(document)
      .map((link) => ({ ...link, problem: brokenLink(link) }))
      .filter((link) => link.problem)
      .map(({ target, problem }) => `(${target}): ${problem}`);
    expect(broken).toEqual([]);
  });

  it.each(documents)("every repository path quoted in %s exists", (document) => {
    const missing = quotedPathsIn(document)
      .filter(({ target }) => !existsSync(path.join(ROOT, target)))
      .map(({ target }) => target);
    expect(missing).toEqual([]);
  });

  it("makes anchors as GitHub does", () => {
    const anchors = anchorsOf(
      [
        "# Deployment: events",
        "### Several processes: `WEB_CONCURRENCY`",
        "## The service's own endpoints",
        "## Notes",
        "## Notes",
        "```sh",
        "# not a heading",
        "```",
      ].join("\n"),
    );
    expect([...anchors]).toEqual(["deployment-events", "several-processes-web_concurrency", "the-services-own-endpoints", "notes", "notes-1"]);
  });

  it("reports a page that does not exist", () => {
    expect(brokenLink({ document: "README.md", target: "docs/nowhere.md" })).toBe("docs/nowhere.md does not exist");
  });
});
