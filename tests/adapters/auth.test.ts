import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK } from "jose";
import { Unauthorized } from "../../src/domain/errors";
import { createTokenVerifier, signDevelopmentToken } from "../../src/http/auth";

const secret = "a-development-secret-of-at-least-32-chars";
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");

async function expectRefused(promise: Promise<unknown>, code: string) {
  await expect(promise).rejects.toBeInstanceOf(Unauthorized);
  await expect(promise).rejects.toMatchObject({ code });
}

describe("token verification with the development secret (HS256)", () => {
  const verifier = createTokenVerifier({ secret });

  it("accepts a token it signed and reads the user id from sub", async () => {
    await expect(verifier.verify(await signDevelopmentToken(secret, "alice"))).resolves.toEqual({ id: "alice" });
  });

  it("refuses an expired token", async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("alice")
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(new TextEncoder().encode(secret));
    await expectRefused(verifier.verify(token), "token_expired");
  });

  describe("remembering verified tokens", () => {
    afterEach(() => jest.useRealTimers());

    it("does not answer from memory once the token has expired", async () => {
      const remembering = createTokenVerifier({ secret });
      const token = await signDevelopmentToken(secret, "alice", { expiresIn: "30s" });
      await expect(remembering.verify(token)).resolves.toEqual({ id: "alice" });
      jest.useFakeTimers({ now: Date.now() + 40_000, doNotFake: ["nextTick", "setImmediate", "queueMicrotask"] });
      await expectRefused(remembering.verify(token), "token_expired");
    });

    it("does not remember a refusal, nor let a remembered token vouch for a tampered copy", async () => {
      const remembering = createTokenVerifier({ secret });
      const token = await signDevelopmentToken(secret, "alice");
      await expect(remembering.verify(token)).resolves.toEqual({ id: "alice" });
      const [h, , sig] = token.split(".");
      await expectRefused(remembering.verify(`${h}.${b64({ sub: "mallory", exp: 4102444800 })}.${sig}`), "invalid_token");
      await expectRefused(remembering.verify(`${h}.${b64({ sub: "mallory", exp: 4102444800 })}.${sig}`), "invalid_token");
      await expect(remembering.verify(token)).resolves.toEqual({ id: "alice" });
    });
  });

  it("refuses a token signed with another secret", async () => {
    await expectRefused(verifier.verify(await signDevelopmentToken("another-secret-that-is-also-32-chars-long", "alice")), "invalid_token");
  });

  it("refuses a tampered payload", async () => {
    const [h, , s] = (await signDevelopmentToken(secret, "alice")).split(".");
    await expectRefused(verifier.verify(`${h}.${b64({ sub: "mallory", exp: 4102444800 })}.${s}`), "invalid_token");
  });

  it("refuses alg none", async () => {
    await expectRefused(verifier.verify(`${b64({ alg: "none" })}.${b64({ sub: "alice" })}.`), "invalid_token");
  });

  it("refuses a malformed token and a header that is not JSON", async () => {
    await expectRefused(verifier.verify("not-a-jwt"), "invalid_token");
    await expectRefused(verifier.verify("e30.e30.e30x"), "invalid_token");
    await expectRefused(verifier.verify("!!!.e30.e30"), "invalid_token");
  });

  it("refuses a token without an expiry", async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").sign(new TextEncoder().encode(secret));
    await expectRefused(verifier.verify(token), "invalid_token");
  });

  it("refuses a token without a subject", async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(new TextEncoder().encode(secret));
    await expectRefused(verifier.verify(token), "invalid_token");
  });

  it("refuses an RS256 token when only a secret is configured", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const token = await new SignJWT({}).setProtectedHeader({ alg: "RS256" }).setSubject("alice").setExpirationTime("1h").sign(privateKey);
    await expectRefused(verifier.verify(token), "invalid_token");
  });

  it("checks issuer and audience when configured", async () => {
    const strict = createTokenVerifier({ secret, issuer: "bank", audience: "chillbill" });
    await expect(strict.verify(await signDevelopmentToken(secret, "alice", { issuer: "bank", audience: "chillbill" }))).resolves.toEqual({ id: "alice" });
    await expectRefused(strict.verify(await signDevelopmentToken(secret, "alice", { issuer: "someone-else", audience: "chillbill" })), "invalid_token");
  });

  it("needs a secret or a JWKS URL", () => {
    expect(() => createTokenVerifier({})).toThrow(/secret or a JWKS URL/);
  });
});

describe("token verification against the bank's JWKS", () => {
  let server: Server;
  let jwksUrl: string;
  let keys: Awaited<ReturnType<typeof generateKeyPair>>;

  beforeAll(async () => {
    keys = await generateKeyPair("RS256");
    const jwk: JWK = { ...(await exportJWK(keys.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
    server = createServer((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("accepts a token signed by the bank's key", async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: "RS256", kid: "k1" }).setSubject("bob").setExpirationTime("1h").sign(keys.privateKey);
    await expect(createTokenVerifier({ jwksUrl }).verify(token)).resolves.toEqual({ id: "bob" });
  });

  it("refuses HS256 signed with the public key as the secret (algorithm confusion)", async () => {
    const pem = await exportSPKI(keys.publicKey);
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256", kid: "k1" })
      .setSubject("bob")
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode(pem));
    await expectRefused(createTokenVerifier({ jwksUrl }).verify(forged), "invalid_token");
  });

  it("refuses a token signed by another key", async () => {
    const other = await generateKeyPair("RS256");
    const token = await new SignJWT({}).setProtectedHeader({ alg: "RS256", kid: "k1" }).setSubject("bob").setExpirationTime("1h").sign(other.privateKey);
    await expectRefused(createTokenVerifier({ jwksUrl }).verify(token), "invalid_token");
  });
});
