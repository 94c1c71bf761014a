// Live events of a bill (status changes, payments, AI results) for its Server-Sent Events streams,
// across every instance of the service (docs/deployment.md). Each event is a row of
// bill_events written, and sent with NOTIFY, in the transaction that makes the change
// (events.store.ts), so only committed changes are ever streamed, whichever instance made them.
// This class is the per-process fan-out: one LISTEN (Database.listen, one connection per process)
// hands each notification to the open streams of its bill. A stream is fed from the table first (a
// resume after its Last-Event-ID, or after its listener reconnected), holding the live events that
// arrive meanwhile, then live; it delivers ids in increasing order and each once.
import type { Logger } from "pino";
import type { Database } from "../db/database";
import { ServiceUnavailable } from "../domain/errors";
import { BILL_EVENTS_CHANNEL, type BillEvent, deleteEventsBefore, latestEventId, parseNotification, readEventsAfter } from "./events.store";

export type { BillEvent, BillEventType } from "./events.store";

interface Stream {
  billId: string;
  /** The id of the last event delivered: the stream's position. */
  lastId: number;
  send: (event: BillEvent) => void;
  onClose: () => void;
  /** While it reads from the table: the live events that arrived meanwhile. Undefined when live. */
  held: BillEvent[] | undefined;
  /** Read the table (again) before going live: something may be there that it did not get live. */
  readAgain: boolean;
  closed: boolean;
}

const REPLAY_PAGE = 500;
const PRUNE_BATCH = 5_000;

export class BillEvents {
  private readonly streams = new Map<string, Set<Stream>>();
  private listening: Promise<() => Promise<void>> | undefined;
  private closed = false;

  constructor(
    private readonly db: Pick<Database, "sql" | "listen">,
    private readonly logger: Logger,
  ) {}

  /** Starts this process's listener, once; a stream needs it before it subscribes. */
  async listen(): Promise<void> {
    if (this.closed) throw new ServiceUnavailable("The service is shutting down", "shutting_down");
    const listening = (this.listening ??= this.db.listen(
      BILL_EVENTS_CHANNEL,
      (payload) => this.onNotification(payload),
      () => this.onReconnect(),
    ));
    try {
      await listening;
    } catch (err) {
      if (this.listening === listening) this.listening = undefined; // the next stream tries again
      this.logger.error({ err }, "could not listen for bill events");
      throw new ServiceUnavailable("Live events are not available right now; try again shortly", "events_unavailable");
    }
  }

  /** The id of the bill's latest event (0 if none): a stream from here gets everything committed later. */
  position(billId: string): Promise<number> {
    return latestEventId(this.db.sql, billId);
  }

  /**
   * Streams the bill's events after `afterId` to `send`, in id order and each once: first those
   * already in the table, then live ones. Call `listen()` first. `onClose` runs when the stream is
   * ended from this side (shutdown, or the table could not be read); the returned function stops it
   * without that.
   */
  subscribe(billId: string, afterId: number, send: (event: BillEvent) => void, onClose: () => void): () => void {
    const stream: Stream = { billId, lastId: afterId, send, onClose, held: undefined, readAgain: false, closed: false };
    const streams = this.streams.get(billId) ?? new Set<Stream>();
    this.streams.set(billId, streams);
    streams.add(stream);
    // Registered first, so that every notification from now on is held; then the table is read.
    this.catchUp(stream);
    return () => this.remove(stream);
  }

  /** Ends every open stream (graceful shutdown). */
  closeAll(): void {
    for (const streams of [...this.streams.values()]) for (const s of [...streams]) this.end(s);
  }

  /** Ends every stream and stops listening (shutdown). Never rejects. */
  async close(): Promise<void> {
    this.closed = true;
    this.closeAll();
    const listening = this.listening;
    this.listening = undefined;
    try {
      const stop = await listening?.catch(() => undefined);
      await stop?.();
    } catch (err) {
      this.logger.warn({ err }, "could not stop listening for bill events");
    }
  }

  /**
   * Deletes the events written before `olderThan` (retention: a scheduled job calls this). A stream
   * that resumes from an id older than that gets only what is left, after its snapshot. Returns how
   * many were deleted; works in batches so that no one statement holds many rows.
   */
  async pruneEvents(olderThan: Date): Promise<number> {
    let total = 0;
    for (;;) {
      const deleted = await deleteEventsBefore(this.db.sql, olderThan, PRUNE_BATCH);
      total += deleted;
      if (deleted < PRUNE_BATCH) return total;
    }
  }

  private onNotification(payload: string): void {
    const notified = parseNotification(payload);
    if (!notified) {
      this.logger.warn({ payload: payload.slice(0, 200) }, "ignored a bill event notification that is not one");
      return;
    }
    const billId = notified.kind === "event" ? notified.event.billId : notified.billId;
    for (const stream of this.streams.get(billId) ?? []) {
      // An event too big for a notification comes as its id: read from the table, in its place.
      if (notified.kind === "id") this.catchUp(stream);
      else if (stream.held) stream.held.push(notified.event);
      else this.deliver(stream, notified.event);
    }
  }

  /** The listener was away: what was notified meanwhile is only in the table. */
  private onReconnect(): void {
    for (const streams of this.streams.values()) for (const s of streams) this.catchUp(s);
  }

  private deliver(stream: Stream, event: BillEvent): void {
    if (stream.closed || event.id <= stream.lastId) return;
    stream.lastId = event.id;
    stream.send(event);
  }

  /** Reads the table after the stream's position, holding live events meanwhile, then goes live. */
  private catchUp(stream: Stream): void {
    stream.readAgain = true;
    if (stream.held) return; // a read is under way: it reads once more before going live
    stream.held = [];
    void this.readBack(stream);
  }

  private async readBack(stream: Stream): Promise<void> {
    try {
      while (stream.readAgain && !stream.closed) {
        stream.readAgain = false;
        for (;;) {
          const page = await readEventsAfter(this.db.sql, stream.billId, stream.lastId, REPLAY_PAGE);
          for (const event of page) this.deliver(stream, event);
          if (page.length < REPLAY_PAGE || stream.closed) break;
        }
      }
      // Everything committed before the last read was in it; what came later is held, in id order
      // (one bill's notifications arrive in commit order, which is id order). No await from here on.
      const held = stream.held ?? [];
      stream.held = undefined;
      for (const event of held.sort((a, b) => a.id - b.id)) this.deliver(stream, event);
    } catch (err) {
      // The client reconnects with its Last-Event-ID and resumes from there.
      this.logger.warn({ err, billId: stream.billId }, "could not read a bill's events; ending its stream");
      stream.held = undefined;
      this.end(stream);
    }
  }

  private remove(stream: Stream): void {
    stream.closed = true;
    const streams = this.streams.get(stream.billId);
    streams?.delete(stream);
    if (streams?.size === 0) this.streams.delete(stream.billId);
  }

  private end(stream: Stream): void {
    if (stream.closed) return;
    this.remove(stream);
    stream.onClose();
  }
}
