import { OutageLog } from "../../src/http/rate-limit-store";
import { recordingLogger } from "../support/redis";

describe("OutageLog", () => {
  it("logs the first failure of an outage at once, then at most once a minute with the failures since, and once when it is over", () => {
    const { logger, lines } = recordingLogger();
    let now = 0;
    const outage = new OutageLog(logger, 60_000, () => now);
    for (let i = 0; i < 100; i += 1) outage.failed(new Error("ECONNREFUSED"));
    now = 59_999;
    outage.failed(new Error("ECONNREFUSED"));
    now = 60_000;
    outage.failed(new Error("ECONNREFUSED"));
    expect(lines.map((l) => [l.level, l.failures])).toEqual([
      [50, 1],
      [50, 101],
    ]);
    outage.recovered();
    outage.recovered();
    now = 60_001;
    outage.failed(new Error("ECONNREFUSED"));
    expect(lines.slice(2).map((l) => [l.level, l.msg, l.failures])).toEqual([
      [30, "Rate limit store answers again: requests are counted", undefined],
      [50, "Rate limit store unavailable: requests pass without a limit until it answers", 1],
    ]);
  });
});
