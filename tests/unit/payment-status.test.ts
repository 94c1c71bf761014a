// The bill's completion steps; the rules that apply payments, and the request state machine, are
// the ledger's (tests/unit/ledger-decide.test.ts).
import { completionSteps } from "../../src/domain/payment-status";

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
