// Start-up steps (src/startup.ts): a database outage is waited out with a capped, doubling backoff
// and one log line per failed attempt; anything else ends the start at once; a signal ends a wait
// at once and an attempt in flight at the shutdown deadline. And what counts as an outage.
import pino from "pino";
import { isDatabaseUnavailable } from "../../src/db/unavailable";
import { reasonOf, startRetryDelayMs, Startup, StartupGaveUp, StartupStopped } from "../../src/startup";

function recordingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines, messages: () => lines.map((l) => String(l.msg)) };
}

const refused = () => Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
const never = () => new Promise<never>(() => undefined);

function startup(options: { limit?: number; shutdownTimeoutMs?: number } = {}) {
  const log = recordingLogger();
  const s = new Startup({
    retry: { firstDelayMs: 100, maxDelayMs: 1_000, limit: options.limit ?? 0 },
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? 5_000,
    logger: log.logger,
  });
  return { startup: s, ...log };
}

/** A step's work that fails `times` times with `error`, then answers "done". */
function failing(times: number, error: () => unknown = refused) {
  let calls = 0;
  const work = jest.fn(async () => {
    calls += 1;
    if (calls <= times) throw error();
    return "done";
  });
  return work;
}

describe("the wait between attempts", () => {
  it("starts at START_RETRY_DELAY_MS, doubles after each failure in a row, and never exceeds START_RETRY_MAX_DELAY_MS", () => {
    const policy = { firstDelayMs: 500, maxDelayMs: 30_000, limit: 0 };
    expect([1, 2, 3, 4, 5, 6, 7, 8, 100].map((n) => startRetryDelayMs(policy, n))).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });
});

describe("a start-up step", () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it("when the database is unavailable, then it logs one line per attempt naming the step, the error and the wait, and tries again until it succeeds", async () => {
    const { startup: s, lines, messages } = startup();
    const work = failing(4);
    const result = s.step("starting the job queue", work);
    await jest.advanceTimersByTimeAsync(100 + 200 + 400 + 800);
    await expect(result).resolves.toBe("done");
    expect(work).toHaveBeenCalledTimes(5);
    expect(messages()).toEqual([
      "Start-up: starting the job queue failed (attempt 1, the database is unavailable): connect ECONNREFUSED 127.0.0.1:5432; trying again in 100 ms",
      "Start-up: starting the job queue failed (attempt 2, the database is unavailable): connect ECONNREFUSED 127.0.0.1:5432; trying again in 200 ms",
      "Start-up: starting the job queue failed (attempt 3, the database is unavailable): connect ECONNREFUSED 127.0.0.1:5432; trying again in 400 ms",
      "Start-up: starting the job queue failed (attempt 4, the database is unavailable): connect ECONNREFUSED 127.0.0.1:5432; trying again in 800 ms",
      "Start-up: starting the job queue succeeded after 4 failed attempt(s)",
    ]);
    expect(lines[0]).toMatchObject({
      level: 40,
      step: "starting the job queue",
      attempt: 1,
      retryInMs: 100,
      retryAt: expect.any(String),
      error: "connect ECONNREFUSED 127.0.0.1:5432",
    });
  });

  it("waits the whole backoff before the next attempt, not less", async () => {
    const { startup: s } = startup();
    const work = failing(2);
    const result = s.step("connecting to the database", work);
    await jest.advanceTimersByTimeAsync(99);
    expect(work).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(work).toHaveBeenCalledTimes(2);
    await jest.advanceTimersByTimeAsync(199);
    expect(work).toHaveBeenCalledTimes(2);
    await jest.advanceTimersByTimeAsync(1);
    await expect(result).resolves.toBe("done");
  });

  it("when the error is not a database outage (a failed migration, a folder it cannot create), then it throws at once without trying again", async () => {
    const { startup: s, lines } = startup();
    const failedMigration = Object.assign(new Error("migrate found failed migrations in the target database"), { code: "P3009" });
    const work = jest.fn(async () => {
      throw failedMigration;
    });
    await expect(s.step("applying the migrations", work)).rejects.toBe(failedMigration);
    expect(work).toHaveBeenCalledTimes(1);
    expect(s.failedStep).toBe("applying the migrations");
    expect(lines).toEqual([]);
  });

  it("with START_RETRY_LIMIT, gives up after that many retries in a row, saying why", async () => {
    const { startup: s, lines } = startup({ limit: 2 });
    const work = failing(10);
    const result = s.step("connecting to the database", work);
    const outcome = result.catch((err: unknown) => err);
    await jest.advanceTimersByTimeAsync(100 + 200);
    const err = await outcome;
    expect(err).toBeInstanceOf(StartupGaveUp);
    expect((err as Error).message).toBe(
      "connecting to the database failed 3 times in a row, the database being unavailable (START_RETRY_LIMIT=2); giving up. Last error: connect ECONNREFUSED 127.0.0.1:5432",
    );
    expect(work).toHaveBeenCalledTimes(3);
    expect(lines).toHaveLength(2);
    expect(s.failedStep).toBe("connecting to the database");
  });

  it("when stopped during a wait, then it ends at once and tries nothing more", async () => {
    const { startup: s, messages } = startup();
    const work = failing(10);
    const outcome = s.step("connecting to the database", work).catch((err: unknown) => err);
    await jest.advanceTimersByTimeAsync(50); // inside the first 100 ms wait
    expect(s.stop("SIGTERM")).toBe(true);
    await jest.advanceTimersByTimeAsync(0);
    expect(await outcome).toBeInstanceOf(StartupStopped);
    expect(work).toHaveBeenCalledTimes(1);
    expect(messages()).toContain("Stopping start-up: SIGTERM");
  });

  it("when stopped during an attempt, then the attempt may finish within the shutdown deadline, and the next step does not start", async () => {
    const { startup: s } = startup({ shutdownTimeoutMs: 1_000 });
    let finish!: (value: string) => void;
    const result = s.step("applying the migrations", () => new Promise<string>((resolve) => (finish = resolve)));
    s.stop("SIGTERM");
    await jest.advanceTimersByTimeAsync(500);
    finish("applied");
    // What it opened or did is returned, so that the caller can close it.
    await expect(result).resolves.toBe("applied");
    const next = jest.fn(async () => "never");
    await expect(s.step("starting the job queue", next)).rejects.toBeInstanceOf(StartupStopped);
    expect(next).not.toHaveBeenCalled();
  });

  it("when stopped during an attempt that never ends, then it gives up on it at the shutdown deadline", async () => {
    const { startup: s, messages } = startup({ shutdownTimeoutMs: 1_000 });
    const outcome = s.step("starting the job queue", never).catch((err: unknown) => err);
    s.stop("SIGTERM");
    await jest.advanceTimersByTimeAsync(1_000);
    expect(await outcome).toBeInstanceOf(StartupStopped);
    expect(messages()).toContain('Start-up step "starting the job queue" did not finish before the shutdown deadline; leaving it');
  });

  it("once start-up is done, a signal is no longer its to handle", () => {
    const { startup: s } = startup();
    s.finish();
    expect(s.stop("SIGTERM")).toBe(false);
    expect(s.stoppedBy).toBeUndefined();
  });
});

describe("what counts as the database being unavailable", () => {
  it.each([
    ["a refused connection", refused()],
    ["a dropped connection", new Error("Connection terminated unexpectedly")],
    ["a connect timeout", new Error("timeout exceeded when trying to connect")],
    ["a host name that does not resolve (yet)", Object.assign(new Error("getaddrinfo ENOTFOUND db"), { code: "ENOTFOUND" })],
    ["a server that is starting up (57P03)", Object.assign(new Error("the database system is starting up"), { code: "57P03" })],
    ["a server that is shutting down (57P01)", { code: "57P01" }],
    ["too many connections (53300)", { code: "53300" }],
    [
      "the schema engine that cannot reach the server",
      new Error("Can't reach database server at `127.0.0.1:5432`\n\nPlease make sure your database server is running"),
    ],
    [
      "the schema engine's external error with the driver's error as its cause",
      new Error("External error id#1", { cause: new Error("Connection terminated unexpectedly") }),
    ],
    ["Prisma's driver adapter error kind", { meta: { driverAdapterError: { cause: { kind: "DatabaseNotReachable" } } } }],
  ])("%s is", (_what, err) => {
    expect(isDatabaseUnavailable(err)).toBe(true);
  });

  it.each([
    ["a wrong password (28P01)", Object.assign(new Error('password authentication failed for user "chillbill"'), { code: "28P01" })],
    ["a database that does not exist (3D000)", Object.assign(new Error('database "chillbil" does not exist'), { code: "3D000" })],
    ["a failed migration (P3009)", Object.assign(new Error("migrate found failed migrations in the target database"), { code: "P3009" })],
    ["wrong SQL (42601)", { code: "42601" }],
    ["a folder it cannot create", Object.assign(new Error("ENOTDIR: not a directory, mkdir 'uploads'"), { code: "ENOTDIR" })],
    ["a port already taken", Object.assign(new Error("listen EADDRINUSE: address already in use"), { code: "EADDRINUSE" })],
  ])("%s is not", (_what, err) => {
    expect(isDatabaseUnavailable(err)).toBe(false);
  });

  it("reads as one line: the message's first line, its code, and its cause", () => {
    expect(reasonOf(new Error("External error id#1\n   0: schema_commands::apply", { cause: new Error("Connection terminated unexpectedly") }))).toBe(
      "External error id#1: Connection terminated unexpectedly",
    );
    expect(reasonOf(Object.assign(new Error("the database system is starting up"), { code: "57P03" }))).toBe("the database system is starting up (57P03)");
    expect(reasonOf(Object.assign(new AggregateError([]), { code: "ECONNREFUSED" }))).toBe("ECONNREFUSED");
  });
});
