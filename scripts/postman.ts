// `npm run postman`: writes the Postman collection and environment under docs/postman/ from the
// service's OpenAPI documents (scripts/postman-collection.ts; docs/postman.md). `-- --check` writes
// nothing and exits 1 when the files there are not what the documents give.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { buildPostmanFiles, POSTMAN_DIR, readOpenApiDocuments } from "./postman-collection";

async function main(): Promise<number> {
  const check = process.argv.includes("--check");
  const files = await buildPostmanFiles(await readOpenApiDocuments());
  const stale = Object.keys(files).filter((name) => {
    const file = path.join(POSTMAN_DIR, name);
    return !existsSync(file) || readFileSync(file, "utf8") !== files[name];
  });
  const shown = (name: string) => path.relative(process.cwd(), path.join(POSTMAN_DIR, name));
  if (check) {
    if (stale.length === 0) console.log("docs/postman/ is up to date");
    else console.error(`Stale: ${stale.map(shown).join(", ")}. Run npm run postman and commit the result.`);
    return stale.length === 0 ? 0 : 1;
  }
  mkdirSync(POSTMAN_DIR, { recursive: true });
  for (const name of Object.keys(files)) {
    writeFileSync(path.join(POSTMAN_DIR, name), files[name]);
    console.log(`${stale.includes(name) ? "wrote    " : "unchanged"} ${shown(name)}`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
