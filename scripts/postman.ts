// `npm run postman`: writes the Postman collection and environment under docs/postman/ from the
// service's OpenAPI documents (scripts/postman-collection.ts; docs/postman.md). `-- --check` writes
// nothing and exits 1 when the files there are not what the documents give. `-- --token <userId>
// [expiresIn]` also writes .postman/ (git-ignored): the environment with a token for that user,
// signed as `npm run token` signs it, ready to import.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { loadConfig, readEnvironment } from "../src/config";
import { signDevelopmentToken } from "../src/http/auth";
import { buildPostmanFiles, ENVIRONMENT_FILE, environmentWithToken, POSTMAN_DIR, readOpenApiDocuments } from "./postman-collection";

const LOCAL_DIR = path.resolve(__dirname, "..", ".postman");

/** The generated environment with `token` set: never in docs/postman/, only in the git-ignored .postman/. */
async function writeEnvironmentWithToken(environmentText: string, userId: string, expiresIn: string | undefined): Promise<string> {
  const { auth } = loadConfig(readEnvironment());
  if (!auth.secret) throw new Error("JWT_SECRET is not set (tokens are verified against JWT_JWKS_URL); --token only signs HS256 tokens");
  const token = await signDevelopmentToken(auth.secret, userId, { expiresIn, issuer: auth.issuer, audience: auth.audience });
  mkdirSync(LOCAL_DIR, { recursive: true });
  const file = path.join(LOCAL_DIR, ENVIRONMENT_FILE);
  writeFileSync(file, environmentWithToken(environmentText, userId, token));
  return file;
}

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
  const tokenAt = process.argv.indexOf("--token");
  if (tokenAt !== -1) {
    const userId = process.argv[tokenAt + 1];
    if (!userId || userId.startsWith("--")) throw new Error("Usage: npm run postman -- --token <userId> [expiresIn, e.g. 12h]");
    const expiresIn = process.argv[tokenAt + 2];
    const file = await writeEnvironmentWithToken(files[ENVIRONMENT_FILE]!, userId, expiresIn && !expiresIn.startsWith("--") ? expiresIn : undefined);
    console.log(`wrote     ${path.relative(process.cwd(), file)} (token for ${userId}; git-ignored: import it into Postman)`);
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
