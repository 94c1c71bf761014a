// The notifications outbox: a row per send is written, with its delivery job, in the transaction of
// the change that causes it, and the job sends it (src/jobs). A failed channel is recorded and
// retried with backoff, and never fails the request or the other channels. The ledger writes its
// notices through this (ledger/ports.ts Outbox).
import type { Logger } from "pino";
import type { ChannelName, Channels } from "../../adapters/notify/channels";
import type { Clock } from "../../clock";
import type { Sql, SqlClient } from "../../db/sql";
import { QUEUES, type Job, type Jobs } from "../../jobs/jobs";
import type { Outbox } from "../../ledger/ports";
import { insertPendingStatement, markFailed, markSent, type PlannedNotification } from "./notifications.repository";

/** The notification job: the rows one transaction wrote. */
export interface DeliveryJob {
  ids: string[];
}

/** What NotificationOutbox is built from (the composition root, app.ts, passes them by name). */
export interface NotificationOutboxDeps {
  sql: Sql;
  channels: Channels;
  clock: Clock;
  logger: Logger;
  jobs: Jobs;
}

export class NotificationOutbox implements Outbox {
  constructor(private readonly deps: NotificationOutboxDeps) {}

  /**
   * Writes the rows as pending, with their delivery job, in the caller's transaction. The rows
   * exist exactly when the change that caused them does; call wake() after the commit.
   */
  async enqueue(tx: SqlClient, rows: readonly PlannedNotification[]): Promise<void> {
    if (rows.length === 0) return;
    const insert = insertPendingStatement(rows);
    await tx.query(insert.text, insert.values);
    await this.enqueueDelivery(tx, rows);
  }

  /** The delivery job for rows the caller writes itself (the ledger writes them in its one statement). */
  async enqueueDelivery(tx: SqlClient, rows: readonly PlannedNotification[]): Promise<void> {
    if (rows.length) await this.deps.jobs.enqueue(tx, QUEUES.notification, { ids: rows.map((r) => r.id) } satisfies DeliveryJob);
  }

  /** After a commit that enqueued notifications: deliver now rather than at the next poll. */
  wake(): void {
    this.deps.jobs.wake(QUEUES.notification);
  }

  /**
   * The notification job: sends each row of the batch not sent yet, and records each result. Rows
   * already sent (a job run again after its process died) are not sent again. Throws when a send
   * failed, so pg-boss retries the job with backoff: only the rows still unsent go out then.
   */
  async deliver(jobs: readonly Job<DeliveryJob>[]): Promise<void> {
    const ids = jobs.flatMap((j) => j.data.ids);
    const rows = await this.deps.sql.query<{ id: string; bill_id: string | null; channel: ChannelName; recipient: string | null; message: string }>(
      "UPDATE notifications SET attempts = attempts + 1, updated_at = $2::timestamptz WHERE id = ANY($1::uuid[]) AND status <> 'sent' RETURNING id, bill_id, channel::text AS channel, recipient, message",
      [ids, this.deps.clock.now()],
    );
    const sent: string[] = [];
    let failed = 0;
    for (const n of rows) {
      try {
        if (n.recipient) await this.deps.channels[n.channel].send({ to: n.recipient, subject: "ChillBill", text: n.message });
        sent.push(n.id);
      } catch (err) {
        failed += 1;
        this.deps.logger.warn({ err, billId: n.bill_id, channel: n.channel }, "notification failed; it is retried with backoff");
        await markFailed(this.deps.sql, n.id, (err as Error).message, this.deps.clock.now());
      }
    }
    await markSent(this.deps.sql, sent, this.deps.clock.now());
    if (failed) throw new Error(`${failed} of ${rows.length} notification(s) could not be sent`);
  }
}
