import { hashRequest } from "../../src/modules/idempotency/idempotency.service";

describe("hashRequest", () => {
  it("does not depend on key order or on undefined fields", () => {
    expect(hashRequest({ a: 1, b: { c: "x", d: [1, 2] } })).toBe(hashRequest({ b: { d: [1, 2], c: "x" }, a: 1, e: undefined }));
  });

  it("differs when a value differs", () => {
    expect(hashRequest({ totalAmount: "10.00" })).not.toBe(hashRequest({ totalAmount: "10.01" }));
    expect(hashRequest({ list: [1, 2] })).not.toBe(hashRequest({ list: [2, 1] }));
    expect(hashRequest({ a: "1" })).not.toBe(hashRequest({ a: 1 }));
  });
});
