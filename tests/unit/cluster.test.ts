import { restartDelayMs } from "../../src/cluster";

describe("restarting a worker that died", () => {
  it("waits half a second after one death, doubles the wait with each death in a row, and never waits more than 30 s", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(restartDelayMs)).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });
});
