import { assertEditable, assertTransition, canTransition, type BillStatus } from "../../src/domain/bill-status";
import { Conflict } from "../../src/domain/errors";

const all: BillStatus[] = ["created", "active", "completed", "cancelled"];
const allowed = new Set(["created>active", "created>cancelled", "active>completed", "active>cancelled"]);

describe("bill status machine", () => {
  it.each(all.flatMap((from) => all.map((to) => [from, to] as const)))("%s -> %s", (from, to) => {
    const legal = allowed.has(`${from}>${to}`);
    expect(canTransition(from, to)).toBe(legal);
    if (legal) expect(() => assertTransition(from, to)).not.toThrow();
    else expect(() => assertTransition(from, to)).toThrow(Conflict);
  });

  it("closes completed and cancelled bills to changes", () => {
    expect(() => assertEditable("created")).not.toThrow();
    expect(() => assertEditable("active")).not.toThrow();
    expect(() => assertEditable("completed")).toThrow(/completed/);
    expect(() => assertEditable("cancelled")).toThrow(/cancelled/);
  });
});
