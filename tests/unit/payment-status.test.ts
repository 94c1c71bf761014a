// The payment request state machine and the bill's completion steps; the rules that apply payments
// are the ledger's (tests/unit/ledger-decide.test.ts).
import { canRequestTransition, completionSteps } from "../../src/domain/payment-status";

describe("payment request status", () => {
  it("lets an open request be paid, failed, expired or cancelled, and nothing leave paid", () => {
    expect(canRequestTransition("sent", "paid")).toBe(true);
    expect(canRequestTransition("pending", "cancelled")).toBe(true);
    expect(canRequestTransition("paid", "failed")).toBe(false);
    expect(canRequestTransition("expired", "paid")).toBe(false);
  });
});

describe("completing a bill", () => {
  it("goes active -> completed, passes through active from created, and does nothing to a closed bill", () => {
    expect(completionSteps("active").map((s) => [s.previousStatus, s.newStatus])).toEqual([["active", "completed"]]);
    expect(completionSteps("created").map((s) => [s.previousStatus, s.newStatus])).toEqual([
      ["created", "active"],
      ["active", "completed"],
    ]);
    expect(completionSteps("completed")).toEqual([]);
    expect(completionSteps("cancelled")).toEqual([]);
  });
});
