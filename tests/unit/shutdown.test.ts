// Shutdown's one deadline: every wait shares it, and a wait that outlives it is left behind.
import pino from "pino";
import { ShutdownDeadline } from "../../src/shutdown";

function recordingLogger() {
  const lines: string[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line).msg) });
  return { logger, lines };
}

const never = () => new Promise<void>(() => undefined);

describe("ShutdownDeadline", () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it("waits for work that settles in time, and a failed wait does not stop shutdown", async () => {
    const { logger, lines } = recordingLogger();
    const deadline = new ShutdownDeadline(1_000, logger);
    await expect(deadline.within("quick", Promise.resolve())).resolves.toBe(true);
    await expect(deadline.within("broken", Promise.reject(new Error("boom")))).resolves.toBe(true);
    expect(lines).toEqual(["broken failed during shutdown"]);
  });

  it("gives up on work at the deadline and says what was left", async () => {
    const { logger, lines } = recordingLogger();
    const deadline = new ShutdownDeadline(1_000, logger);
    const waiting = deadline.within("Background work", never());
    await jest.advanceTimersByTimeAsync(999);
    let done: boolean | undefined;
    void waiting.then((v) => (done = v));
    await Promise.resolve();
    expect(done).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(await waiting).toBe(false);
    expect(lines).toEqual(["Background work did not finish before the shutdown deadline; leaving it"]);
  });

  it("shares one deadline between waits: the second gets only what the first left", async () => {
    const { logger } = recordingLogger();
    const deadline = new ShutdownDeadline(1_000, logger);
    const first = deadline.within("first", new Promise((r) => setTimeout(r, 700)));
    await jest.advanceTimersByTimeAsync(700);
    expect(await first).toBe(true);
    expect(deadline.remainingMs()).toBe(300);
    const second = deadline.within("second", never());
    await jest.advanceTimersByTimeAsync(300);
    expect(await second).toBe(false);
    expect(deadline.remainingMs()).toBe(0);
    // Past the deadline, a wait does not wait at all.
    const third = deadline.within("third", never());
    await jest.advanceTimersByTimeAsync(0);
    expect(await third).toBe(false);
  });
});
