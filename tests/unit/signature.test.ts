import { signPayload, SignatureError, verifySignature } from "../../src/domain/signature";

const secret = "whsec_test_secret";
const body = Buffer.from('{"jobId":"j1","status":"completed"}');
const now = new Date("2026-11-20T12:00:00Z");
const t = Math.floor(now.getTime() / 1000);

function reason(fn: () => void): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof SignatureError) return err.reason;
    throw err;
  }
  return undefined;
}

describe("signed payloads", () => {
  it("accepts a good signature", () => {
    expect(reason(() => verifySignature(signPayload(secret, body, t), body, secret, now))).toBeUndefined();
  });

  it("accepts any one matching v1 among several (secret rotation)", () => {
    const header = `t=${t},v1=${"0".repeat(64)},v1=${signPayload(secret, body, t).split("v1=")[1]}`;
    expect(reason(() => verifySignature(header, body, secret, now))).toBeUndefined();
  });

  it("refuses a tampered body", () => {
    const header = signPayload(secret, body, t);
    expect(reason(() => verifySignature(header, Buffer.from(body.toString().replace("j1", "j2")), secret, now))).toBe("mismatch");
  });

  it("refuses the wrong secret", () => {
    expect(reason(() => verifySignature(signPayload("other", body, t), body, secret, now))).toBe("mismatch");
  });

  it("refuses a timestamp older or newer than the tolerance", () => {
    expect(reason(() => verifySignature(signPayload(secret, body, t - 301), body, secret, now))).toBe("stale");
    expect(reason(() => verifySignature(signPayload(secret, body, t + 301), body, secret, now))).toBe("stale");
    expect(reason(() => verifySignature(signPayload(secret, body, t - 299), body, secret, now))).toBeUndefined();
  });

  it("refuses a signature re-used with another timestamp", () => {
    const v1 = signPayload(secret, body, t - 10).split("v1=")[1];
    expect(reason(() => verifySignature(`t=${t},v1=${v1}`, body, secret, now))).toBe("mismatch");
  });

  it.each([
    [undefined, "missing"],
    ["", "missing"],
    ["v1=abc", "malformed"],
    [`t=${t}`, "malformed"],
    [`t=soon,v1=${"a".repeat(64)}`, "malformed"],
    [`t=${t},v1=${"z".repeat(64)}`, "malformed"],
    [`t=${t},v0=${"a".repeat(64)}`, "malformed"],
  ])("refuses the header %p as %s", (header, why) => {
    expect(reason(() => verifySignature(header, body, secret, now))).toBe(why);
  });
});
