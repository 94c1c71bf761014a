// Background work as jobs in pg-boss (a maintained PostgreSQL job queue), on the service's own
// database and connections: PostgreSQL or PGlite, one engine for both. Its tables live in the
// `pgboss` schema (JOB_SCHEMA); docs/deployment.md says how to see and retry failed jobs.
//
// Two kinds of job:
// - caused by a change (a notification to deliver, a payment request to hand over): enqueued with
//   `enqueue(tx, ...)` inside the transaction that makes the change, so they exist exactly when
//   the change does; the process that committed wakes its worker at once;
// - scheduled (expiry, reconciliation, reminders, recovery, clean-ups): a cron schedule that
//   pg-boss fires once per tick across all instances, on a queue that holds at most one queued and
//   one running job (policy "stately").
// Every job is at least once: a job whose process dies is taken up again by another once its lease
// (expireInSeconds) has passed, so each handler is safe to run twice (docs/deployment.md lists how).
import type { Logger } from "pino";
import PgBoss from "pg-boss";
import type { SqlClient } from "../db/sql";
import type { SqlExecutor } from "../db/database";

export const QUEUES = {
  notification: "notification",
  paymentHandOver: "payment-hand-over",
  paymentCancel: "payment-cancel",
  aiRecovery: "ai-recovery",
  paymentExpiry: "payment-expiry",
  reconciliation: "payment-reconciliation",
  reminders: "reminders",
  idempotencyCleanup: "idempotency-cleanup",
  eventsPrune: "bill-events-prune",
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export interface Job<T> {
  id: string;
  data: T;
}

export interface JobSpec<T extends object = object> {
  queue: QueueName;
  /** Runs a batch of the queue's jobs. Throwing fails them all; each is retried by its policy. */
  run(jobs: readonly Job<T>[]): Promise<void>;
  batchSize?: number;
  retryLimit: number;
  /** First retry after this; each later one waits twice as long (pg-boss's backoff). */
  retryDelaySeconds: number;
  /** How long a worker may hold a job before pg-boss gives it to another (the job's lease). */
  leaseSeconds: number;
  /** A cron expression (UTC): the job fires once per tick across all instances. */
  cron?: string;
}

export interface JobsOptions {
  /** The schema of pg-boss's tables (created on start when missing). */
  schema: string;
  /** Run workers, schedules and pg-boss's maintenance here (a server); false: only enqueue (tests, CLIs). */
  work: boolean;
  /** How often an idle worker asks for jobs (a commit here wakes it at once). */
  pollingIntervalMs: number;
  /** How often leases that ran out are handed back (and other pg-boss upkeep). */
  maintenanceIntervalSeconds: number;
}

export interface QueueCounts {
  queue: string;
  queued: number;
  active: number;
  failed: number;
}

/** pg-boss's executor over one of our transactions: the job is inserted in it, or not at all. */
function inTransaction(tx: SqlClient): SqlExecutor {
  return { executeSql: async (text, values) => ({ rows: await tx.query(text, values ?? []) }) };
}

export class Jobs {
  private boss: PgBoss;
  private readonly specs = new Map<QueueName, JobSpec>();
  private readonly workers = new Map<QueueName, Worker>();
  private started = false;

  constructor(
    private readonly db: SqlExecutor,
    private readonly logger: Logger,
    private readonly options: JobsOptions,
  ) {
    this.boss = this.newBoss();
  }

  /** A pg-boss on our connections. */
  private newBoss(): PgBoss {
    const boss = new PgBoss({
      db: this.db,
      schema: this.options.schema,
      migrate: true,
      supervise: this.options.work,
      schedule: this.options.work,
      maintenanceIntervalSeconds: this.options.maintenanceIntervalSeconds,
      // Completed jobs are kept a day, failed ones a week: long enough to look into them.
      archiveCompletedAfterSeconds: 24 * 3_600,
      archiveFailedAfterSeconds: 7 * 24 * 3_600,
    });
    boss.on("error", (err) => this.logger.error({ err }, "job queue error"));
    return boss;
  }

  /** Declares a queue and its handler (before start()). */
  define<T extends object>(spec: JobSpec<T>): void {
    this.specs.set(spec.queue, spec as unknown as JobSpec);
  }

  /** The queue's declaration (its handler and policy). */
  spec(queue: QueueName): JobSpec | undefined {
    return this.specs.get(queue);
  }

  /** Installs or updates pg-boss's tables, the queues and their schedules, then starts the workers when `work`. */
  async start(): Promise<void> {
    await this.install();
    this.startWorkers();
  }

  /**
   * Installs or updates pg-boss's tables, the queues and their schedules. A failed install (the
   * database went away) can be tried again: every part of it is safe to repeat.
   */
  async install(): Promise<void> {
    if (!this.started) {
      try {
        await this.boss.start();
      } catch (err) {
        // A pg-boss whose start failed cannot be started again: it still believes it is starting
        // and returns at once. Its start fails only while installing its schema, before any timer
        // of its own runs, so a fresh one takes its place and the old one is simply dropped.
        this.boss = this.newBoss();
        throw err;
      }
      this.started = true;
    }
    for (const spec of this.specs.values()) await retryOnDeadlock(() => this.setUpQueue(spec));
  }

  /** Starts this process's workers (when `work`), after install(): a server does it once it listens. */
  startWorkers(): void {
    if (!this.options.work || !this.started) return;
    for (const spec of this.specs.values())
      if (!this.workers.has(spec.queue)) this.workers.set(spec.queue, new Worker(spec, this, this.options.pollingIntervalMs));
  }

  private async setUpQueue(spec: JobSpec): Promise<void> {
    const queue = {
      name: spec.queue,
      policy: spec.cron ? "stately" : "standard",
      retryLimit: spec.retryLimit,
      retryDelay: spec.retryDelaySeconds,
      retryBackoff: true,
      expireInSeconds: spec.leaseSeconds,
    } as const;
    // createQueue leaves an existing queue as it is; updateQueue brings its policy to this code's.
    await this.boss.createQueue(spec.queue, queue);
    await this.boss.updateQueue(spec.queue, queue);
    if (spec.cron) await this.boss.schedule(spec.queue, spec.cron, {}, { tz: "UTC" });
    else await this.boss.unschedule(spec.queue);
  }

  /**
   * Enqueues a job inside the caller's transaction (`tx`), or on its own (`tx` undefined). `id`
   * makes it keyed: a second job with the same id is not created. Returns the job id, or null
   * when a job with that id exists (or a stately queue already has one queued).
   */
  async enqueue(tx: SqlClient | undefined, queue: QueueName, data: object, options: { id?: string; startAfterSeconds?: number } = {}): Promise<string | null> {
    const spec = this.specs.get(queue);
    if (!spec) throw new Error(`No job queue ${queue}`);
    return this.boss.send(queue, data, {
      ...(options.id ? { id: options.id } : {}),
      ...(options.startAfterSeconds ? { startAfter: options.startAfterSeconds } : {}),
      ...(tx ? { db: inTransaction(tx) } : {}),
    });
  }

  /** Several jobs of one queue in one statement, inside the caller's transaction; an `id` already taken is skipped. */
  async enqueueMany(tx: SqlClient, queue: QueueName, jobs: readonly { id?: string; data: object; startAfterSeconds?: number }[]): Promise<void> {
    if (jobs.length === 0) return;
    if (!this.specs.has(queue)) throw new Error(`No job queue ${queue}`);
    await this.boss.insert(
      jobs.map((j) => ({
        name: queue,
        data: j.data,
        ...(j.id ? { id: j.id } : {}),
        ...(j.startAfterSeconds ? { startAfter: String(j.startAfterSeconds) } : {}),
      })) as PgBoss.JobInsert[],
      { db: inTransaction(tx) },
    );
  }

  /** Cancels keyed jobs (not yet running) inside the caller's transaction: their work was done another way. */
  async cancel(tx: SqlClient, queue: QueueName, ids: readonly string[]): Promise<void> {
    if (ids.length) await this.boss.cancel(queue, [...ids], { db: inTransaction(tx) });
  }

  /** After a commit that enqueued work: this process's worker asks for it now instead of at its next poll. */
  wake(queue: QueueName): void {
    this.workers.get(queue)?.wake();
  }

  /**
   * Runs, in this process and now, every job of these queues that is due (all of them with
   * `ignoreStartAfter`, retries included). For tests and operators' CLIs: a server's workers do
   * this on their own. Returns how many jobs ran and how many of them failed.
   */
  async drain(queues: readonly QueueName[] = [...this.specs.keys()], options: { ignoreStartAfter?: boolean } = {}): Promise<{ ran: number; failed: number }> {
    const total = { ran: 0, failed: 0 };
    for (;;) {
      let fetched = 0;
      for (const queue of queues) {
        const { ran, failed } = await this.runOnce(this.specs.get(queue)!, options.ignoreStartAfter ?? false);
        fetched += ran;
        total.ran += ran;
        total.failed += failed;
      }
      if (fetched === 0) return total;
    }
  }

  /**
   * Fetches one batch of the queue's due jobs (pg-boss locks them: no other worker gets them until
   * their lease runs out), runs it, and records the outcome. pg-boss's own work() is not used: it
   * records outcomes without awaiting them, so a database outage at that moment would be an
   * unhandled rejection; here a failed record is logged, and the lease hands the job back later.
   */
  async runOnce(spec: JobSpec, ignoreStartAfter = false): Promise<{ ran: number; failed: number }> {
    const jobs = await this.boss.fetch<object>(spec.queue, { batchSize: spec.batchSize ?? 1, ignoreStartAfter });
    if (jobs.length === 0) return { ran: 0, failed: 0 };
    const ids = jobs.map((j) => j.id);
    try {
      await spec.run(jobs.map((j) => ({ id: j.id, data: j.data })));
    } catch (err) {
      this.logger.warn({ err, queue: spec.queue, jobs: ids }, "job failed; it is retried with backoff");
      // pg-boss keeps `data` as the job's output: the error is visible with the failed job.
      const fail = this.boss.fail.bind(this.boss) as (queue: string, ids: string[], data: object) => Promise<unknown>;
      await fail(spec.queue, ids, { message: (err as Error).message }).catch((e) =>
        this.logger.error({ err: e, queue: spec.queue }, "could not record a failed job; its lease hands it back"),
      );
      return { ran: ids.length, failed: ids.length };
    }
    await this.boss
      .complete(spec.queue, ids)
      .catch((e) => this.logger.error({ err: e, queue: spec.queue }, "could not record a finished job; its lease hands it back and it runs again"));
    return { ran: ids.length, failed: 0 };
  }

  /** Jobs per queue by state, for /ready and operators. */
  async counts(): Promise<QueueCounts[]> {
    const rows = (
      await this.db.executeSql(
        `SELECT name, count(*) FILTER (WHERE state IN ('created', 'retry'))::int AS queued, count(*) FILTER (WHERE state = 'active')::int AS active,
                count(*) FILTER (WHERE state = 'failed')::int AS failed
           FROM ${this.options.schema}.job WHERE name = ANY($1::text[]) GROUP BY name ORDER BY name`,
        [Object.values(QUEUES)],
      )
    ).rows as { name: string; queued: number; active: number; failed: number }[];
    return Object.values(QUEUES).map((queue) => {
      const r = rows.find((x) => x.name === queue);
      return { queue, queued: r?.queued ?? 0, active: r?.active ?? 0, failed: r?.failed ?? 0 };
    });
  }

  /** The latest failed jobs with their last error, newest first (operators: npm run jobs). */
  async failed(limit = 20): Promise<{ queue: string; id: string; retries: number; error: string | null; failedAt: Date | null }[]> {
    const { rows } = await this.db.executeSql(
      `SELECT name AS queue, id, retry_count AS retries, output->>'message' AS error, completed_on AS "failedAt"
         FROM ${this.options.schema}.job WHERE state = 'failed' ORDER BY completed_on DESC NULLS LAST LIMIT $1`,
      [limit],
    );
    return rows;
  }

  /** Puts failed jobs back in their queue (pg-boss's retry: one more try each); returns how many. */
  async retry(queue: QueueName, ids: readonly string[]): Promise<number> {
    const result = (await this.boss.retry(queue, [...ids])) as unknown as { affected: number };
    return result.affected;
  }

  /** Stops asking for jobs and waits for those running (the caller bounds the wait); pg-boss's timers stop. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    const workers = [...this.workers.values()];
    this.workers.clear();
    await Promise.all(workers.map((w) => w.stop()));
    await this.boss.stop({ graceful: false, close: false });
  }
}

/**
 * Instances starting together create the same queues at once: pg-boss's create_queue makes a
 * partition per queue, and two of those can deadlock (PostgreSQL then cancels one) or collide in the
 * catalog. Both sides make the same queue, so trying again after a moment is all it takes.
 */
async function retryOnDeadlock<T>(work: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i += 1) {
    try {
      return await work();
    } catch (err) {
      // 40P01: deadlock; 23505: the same catalog row made by both at once.
      if (!["40P01", "23505"].includes((err as { code?: string }).code ?? "") || i >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 200 * i));
    }
  }
}

/** One loop per queue in a server process: run what is due, else sleep until the next poll or a wake(). */
class Worker {
  private stopping = false;
  private sleeper: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private readonly loop: Promise<void>;

  constructor(
    private readonly spec: JobSpec,
    private readonly jobs: Jobs,
    private readonly intervalMs: number,
  ) {
    this.loop = this.run();
  }

  wake(): void {
    if (!this.sleeper) return;
    clearTimeout(this.sleeper.timer);
    this.sleeper.resolve();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      // A fetch that fails (the database is away) is retried at the next poll.
      const { ran } = await this.jobs.runOnce(this.spec).catch(() => ({ ran: 0 }));
      if (ran > 0 || this.stopping) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.intervalMs);
        this.sleeper = { timer, resolve };
      });
      this.sleeper = undefined;
    }
  }
}
