import { WriteCoalescer } from "../../src/db/write-coalescer";

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

describe("WriteCoalescer", () => {
  it("writes at once when idle, and groups what arrives during a write into the next one", async () => {
    const writes: number[][] = [];
    let hold = gate();
    const coalescer = new WriteCoalescer<number>(async (items) => {
      writes.push(items);
      await hold.opened;
    });
    const first = coalescer.add([1]);
    const second = coalescer.add([2, 3]);
    const third = coalescer.add([4]);
    expect(writes).toEqual([[1]]);
    const firstHold = hold;
    hold = gate();
    firstHold.open();
    await first;
    await new Promise((r) => setImmediate(r));
    expect(writes).toEqual([[1], [2, 3, 4]]);
    hold.open();
    await Promise.all([second, third]);
    expect(writes).toEqual([[1], [2, 3, 4]]);
  });

  it("rejects every add() of a failed write, and keeps going with later ones", async () => {
    let fail = true;
    const written: number[] = [];
    const coalescer = new WriteCoalescer<number>(async (items) => {
      if (fail) throw new Error("database unavailable");
      written.push(...items);
    });
    await expect(coalescer.add([1])).rejects.toThrow("database unavailable");
    fail = false;
    await coalescer.add([2]);
    expect(written).toEqual([2]);
  });

  it("does not write for an empty add()", async () => {
    const write = jest.fn(async () => undefined);
    await new WriteCoalescer<number>(write).add([]);
    expect(write).not.toHaveBeenCalled();
  });
});
