// WEB_CONCURRENCY > 1: this process is the primary of a node:cluster and serves nothing itself. It
// applies the migrations once (waiting out a database outage, as every start-up step does), then
// forks the workers; each runs startServer, and node:cluster shares the port between them. A worker that dies is started again after a backoff; SIGTERM or
// SIGINT is passed on to every worker, and the primary exits once all of them have exited.
import cluster, { type Worker } from "node:cluster";
import type { Logger } from "pino";
import type { Config } from "./config";
import { migrateBeforeServing } from "./db/migration-step";
import type { Startup } from "./startup";

/** What the workers get beyond their own shutdown deadline before they are killed. */
export const SHUTDOWN_MARGIN_MS = 5_000;
/** A worker that ran this long before dying was healthy: its restart starts the backoff over. */
const HEALTHY_RUN_MS = 60_000;

/** The wait before a dead worker is started again; `deathsInARow` counts this death (>= 1). */
export function restartDelayMs(deathsInARow: number): number {
  return Math.min(30_000, 500 * 2 ** (deathsInARow - 1));
}

/** One of the WEB_CONCURRENCY places a worker runs in; a restarted worker takes its place. */
interface Slot {
  n: number;
  worker?: Worker;
  startedAt: number;
  listening: boolean;
  deathsInARow: number;
  restartTimer?: NodeJS.Timeout;
}

/**
 * Runs the cluster until it is stopped; resolves with the exit code for the primary. A signal
 * during the migration step stops `startup` (StartupStopped is thrown); once the workers are
 * forked, the primary handles the signals itself.
 */
export async function runPrimary(config: Config, logger: Logger, startup: Startup): Promise<number> {
  if (config.migrateOnStart) await startup.step("applying the migrations", () => migrateBeforeServing(config.database, logger));
  startup.throwIfStopped();
  startup.finish();

  const slots: Slot[] = Array.from({ length: config.webConcurrency }, (_, i) => ({ n: i + 1, startedAt: 0, listening: false, deathsInARow: 0 }));
  // Until every worker has listened once, a worker that dies means the start failed (an upload
  // folder it cannot create, a port in use): stop, as a single process would, not retry forever.
  let started = false;
  let stopping: { signal: NodeJS.Signals; exitCode: number; killTimer?: NodeJS.Timeout } | undefined;
  let exited!: (code: number) => void;
  const done = new Promise<number>((resolve) => (exited = resolve));

  const fork = (slot: Slot) => {
    const worker = cluster.fork();
    const pid = worker.process.pid;
    Object.assign(slot, { worker, startedAt: Date.now(), listening: false });
    logger.info({ worker: slot.n, workerPid: pid }, `Worker ${slot.n} started (pid ${pid})`);
    worker.once("listening", () => {
      slot.listening = true;
      started ||= slots.every((s) => s.listening);
    });
    worker.once("exit", (code, signal) => onExit(slot, pid, code, signal));
  };

  const onExit = (slot: Slot, pid: number | undefined, code: number | null, signal: string | null) => {
    slot.worker = undefined;
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    const fields = { worker: slot.n, workerPid: pid, code, signal };
    if (stopping) {
      // A worker still starting has no handler yet: the forwarded signal ends it, which is fine.
      const clean = code === 0 || signal === stopping.signal;
      if (!clean) stopping.exitCode = 1;
      logger[clean ? "info" : "warn"](fields, `Worker ${slot.n} (pid ${pid}) ${how}`);
      if (slots.every((s) => !s.worker)) {
        clearTimeout(stopping.killTimer);
        logger.info("All workers have exited");
        exited(stopping.exitCode);
      }
      return;
    }
    if (!started) {
      logger.error(fields, `Worker ${slot.n} (pid ${pid}) ${how} before the cluster was up; stopping the others`);
      stop("SIGTERM", 1);
      return;
    }
    slot.deathsInARow = Date.now() - slot.startedAt >= HEALTHY_RUN_MS ? 1 : slot.deathsInARow + 1;
    const delay = restartDelayMs(slot.deathsInARow);
    logger.error({ ...fields, restartInMs: delay }, `Worker ${slot.n} (pid ${pid}) ${how}; starting it again in ${delay} ms`);
    slot.restartTimer = setTimeout(() => fork(slot), delay);
  };

  const stop = (signal: NodeJS.Signals, exitCode: number) => {
    if (stopping) return; // a repeated signal: the workers already have theirs
    stopping = { signal, exitCode };
    const running = slots.filter((s) => s.worker);
    logger.info(`Stopping ${running.length} worker(s): ${signal}`);
    for (const slot of slots) clearTimeout(slot.restartTimer);
    if (running.length === 0) {
      exited(exitCode);
      return;
    }
    for (const slot of running) slot.worker!.process.kill(signal);
    // Each worker keeps its own SHUTDOWN_TIMEOUT_MS; the margin covers its exit after that.
    stopping.killTimer = setTimeout(() => {
      for (const slot of slots.filter((s) => s.worker)) {
        logger.warn({ worker: slot.n, workerPid: slot.worker!.process.pid }, `Worker ${slot.n} did not exit in time; killing it`);
        slot.worker!.process.kill("SIGKILL");
      }
    }, config.shutdownTimeoutMs + SHUTDOWN_MARGIN_MS);
  };

  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => stop(signal, 0));
  for (const slot of slots) fork(slot);
  return done;
}
