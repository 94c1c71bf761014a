// BillEvents, the per-process fan-out, on a database whose reads the test holds and releases: the
// orders in which a read of the table and live notifications can meet are played one by one.
import pino from "pino";
import { BillEvents, type BillEvent } from "../../src/events/bill-events";

const BILL = "0195b7a4-6d1a-7000-8000-000000000001";
const OTHER = "0195b7a4-6d1a-7000-8000-000000000002";

class FakeDatabase {
  /** The committed rows of bill_events. */
  readonly rows: BillEvent[] = [];
  private held: (() => void)[] = [];
  holdReads = false;
  failReads = false;
  private onPayload: (payload: string) => void = () => undefined;
  private onReconnect: () => void = () => undefined;

  readonly sql = {
    query: async <Row extends object>(text: string, values?: readonly unknown[]): Promise<Row[]> => {
      if (this.holdReads) await new Promise<void>((resolve) => this.held.push(resolve));
      if (this.failReads) throw new Error("connection lost");
      if (!/FROM bill_events\s+WHERE bill_id = \$1::uuid AND id > \$2::bigint/.test(text)) throw new Error(`unexpected SQL: ${text}`);
      const [billId, after, limit] = values as [string, number, number];
      return this.rows.filter((r) => r.billId === billId && r.id > after).slice(0, limit) as unknown as Row[];
    },
    transaction: () => Promise.reject(new Error("not used")),
  };

  refuseListen = 0;

  readonly listen = async (_channel: string, onPayload: (payload: string) => void, onReconnect?: () => void) => {
    if (this.refuseListen > 0) {
      this.refuseListen -= 1;
      throw new Error("connect ECONNREFUSED");
    }
    this.onPayload = onPayload;
    this.onReconnect = onReconnect ?? (() => undefined);
    return async () => undefined;
  };

  /** Commits an event; notifies it unless the listener is away (or sends only its id when asked). */
  commit(id: number, notify: "event" | "id" | "none" = "event", billId = BILL): BillEvent {
    const event: BillEvent = { id, billId, type: "bill.status", at: new Date(0).toISOString(), data: { status: `s${id}` } };
    this.rows.push(event);
    if (notify === "event") this.onPayload(JSON.stringify(event));
    if (notify === "id") this.onPayload(JSON.stringify({ id, billId }));
    return event;
  }

  reconnected(): void {
    this.onReconnect();
  }

  /** Lets the reads that wait go on, and waits until they are done. */
  async releaseReads(): Promise<void> {
    this.holdReads = false;
    for (const release of this.held.splice(0)) release();
    await settle();
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

async function setUp() {
  const db = new FakeDatabase();
  const events = new BillEvents(db as never, pino({ level: "silent" }));
  await events.listen();
  const open = (afterId: number, billId = BILL) => {
    const got: number[] = [];
    let closed = false;
    const stop = events.subscribe(
      billId,
      afterId,
      (e) => got.push(e.id),
      () => (closed = true),
    );
    return { got, stop, closed: () => closed };
  };
  return { db, events, open };
}

describe("BillEvents", () => {
  it("sends the table's events after the given id first, then the live ones", async () => {
    const { db, open } = await setUp();
    db.commit(1);
    db.commit(2);
    const s = open(1);
    await settle();
    db.commit(3);
    expect(s.got).toEqual([2, 3]);
  });

  it("holds live events that arrive while it reads the table, and sends each once, in id order", async () => {
    const { db, open } = await setUp();
    db.commit(1, "none");
    db.holdReads = true;
    const s = open(0);
    // Committed before the read's snapshot (so in it) and notified while it runs: in both.
    db.commit(2);
    db.commit(3);
    expect(s.got).toEqual([]);
    await db.releaseReads();
    expect(s.got).toEqual([1, 2, 3]);
    db.commit(4);
    expect(s.got).toEqual([1, 2, 3, 4]);
  });

  it("after its listener reconnects, reads back what was committed while it was away, before newer events", async () => {
    const { db, open } = await setUp();
    const s = open(0);
    await settle();
    db.commit(1);
    db.commit(2, "none"); // the listener is away
    db.holdReads = true;
    db.reconnected();
    db.commit(3); // notified on the new connection while the read-back runs
    expect(s.got).toEqual([1]);
    await db.releaseReads();
    expect(s.got).toEqual([1, 2, 3]);
  });

  it("reads an event sent as its id only (too big to notify) from the table, in its place", async () => {
    const { db, open } = await setUp();
    const s = open(0);
    await settle();
    db.commit(1);
    db.holdReads = true;
    db.commit(2, "id");
    db.commit(3);
    expect(s.got).toEqual([1]);
    await db.releaseReads();
    expect(s.got).toEqual([1, 2, 3]);
  });

  it("streams only the bill's own events, and nothing after it is stopped", async () => {
    const { db, open } = await setUp();
    const s = open(0);
    await settle();
    db.commit(1, "event", OTHER);
    db.commit(2);
    s.stop();
    db.commit(3);
    expect(s.got).toEqual([2]);
  });

  it("ends a stream whose read of the table fails (its client resumes with Last-Event-ID)", async () => {
    const { db, open } = await setUp();
    const s = open(0);
    await settle();
    db.failReads = true;
    db.reconnected();
    await settle();
    expect(s.closed()).toBe(true);
    db.failReads = false;
    db.commit(1);
    expect(s.got).toEqual([]);
  });

  it("answers 503 while it cannot listen, and tries again for the next stream", async () => {
    const db = new FakeDatabase();
    db.refuseListen = 1;
    const events = new BillEvents(db as never, pino({ level: "silent" }));
    await expect(events.listen()).rejects.toMatchObject({ status: 503, code: "events_unavailable" });
    await events.listen();
    const got: number[] = [];
    events.subscribe(
      BILL,
      0,
      (e) => got.push(e.id),
      () => undefined,
    );
    await settle();
    db.commit(1);
    expect(got).toEqual([1]);
  });

  it("closeAll ends every stream; after close it refuses to listen again", async () => {
    const { events, open } = await setUp();
    const one = open(0);
    const two = open(0, OTHER);
    await events.close();
    expect([one.closed(), two.closed()]).toEqual([true, true]);
    await expect(events.listen()).rejects.toMatchObject({ status: 503 });
  });
});
