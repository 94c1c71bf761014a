// `npm run token -- <userId> [expiresIn]`: prints a development bearer token (HS256, JWT_SECRET).
import { loadConfig, readEnvironment } from "../config";
import { signDevelopmentToken } from "../http/auth";

async function main() {
  const userId = process.argv[2];
  if (!userId) {
    console.error("Usage: npm run token -- <userId> [expiresIn, e.g. 12h]");
    process.exit(2);
  }
  const { auth } = loadConfig(readEnvironment());
  if (!auth.secret) {
    console.error("JWT_SECRET is not set (tokens are verified against JWT_JWKS_URL); this script only signs HS256 tokens.");
    process.exit(1);
  }
  process.stdout.write(`${await signDevelopmentToken(auth.secret, userId, { expiresIn: process.argv[3], issuer: auth.issuer, audience: auth.audience })}\n`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
