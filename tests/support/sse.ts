// A Server-Sent Events client for the tests: serves an app on a port, opens a bill's event stream
// with fetch, and collects its frames as they arrive.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { API } from "./http";
import type { TestApp } from "./test-app";

export interface Served {
  /** http://127.0.0.1:<port>/api/chillbill */
  base: string;
  close(): Promise<void>;
}

export async function serve(t: TestApp): Promise<Served> {
  const server = createServer(t.app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}${API}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export interface Frame {
  id: number | undefined;
  event: string;
  data: string;
}

/** A streamed bill event as the client reads it. */
export interface StreamedEvent {
  id: number;
  type: string;
  billId: string;
  at: string;
  data: Record<string, unknown>;
}

export class EventStream {
  readonly frames: Frame[] = [];
  ended = false;
  /** The problem document, when the stream was refused. */
  body: unknown;
  private text = "";
  private changed: () => void = () => undefined;

  constructor(
    readonly status: number,
    readonly contentType: string | null,
    private readonly controller: AbortController,
    reader: ReadableStreamDefaultReader<Uint8Array> | undefined,
  ) {
    if (reader) void this.pump(reader);
  }

  /** The bill events received so far (not the snapshot), in order. */
  get events(): StreamedEvent[] {
    return this.frames.filter((f) => f.event !== "snapshot").map((f) => ({ ...(JSON.parse(f.data) as StreamedEvent), id: f.id! }));
  }

  /** A short form for comparing sequences: "bill.status:active", "payment.received", ... */
  get kinds(): string[] {
    return this.events.map((e) => (e.type === "bill.status" ? `bill.status:${e.data.status}` : e.type));
  }

  /** Waits until `done(this)` holds; fails with what was received if it does not within the time. */
  async until(what: string, done: (s: EventStream) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this)) {
      if (this.ended) throw new Error(`the stream ended before ${what}; received:\n${this.text}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; received:\n${this.text}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.changed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Waits for the nth bill event (1-based) and returns the events so far. */
  async untilCount(n: number, timeoutMs?: number): Promise<StreamedEvent[]> {
    await this.until(`${n} event(s)`, (s) => s.events.length >= n, timeoutMs);
    return this.events;
  }

  close(): void {
    this.controller.abort();
  }

  private async pump(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        this.text += Buffer.from(value).toString("utf8");
        this.parse();
        this.changed();
      }
    } catch {
      // aborted
    }
    this.ended = true;
    this.changed();
  }

  private parse(): void {
    let end: number;
    while ((end = this.text.indexOf("\n\n", this.parsedUpTo)) !== -1) {
      const block = this.text.slice(this.parsedUpTo, end);
      this.parsedUpTo = end + 2;
      const fields = new Map<string, string>();
      for (const line of block.split("\n")) {
        const colon = line.indexOf(": ");
        if (line.startsWith(":") || colon === -1) continue;
        fields.set(line.slice(0, colon), line.slice(colon + 2));
      }
      if (!fields.has("event")) continue;
      this.frames.push({ id: fields.has("id") ? Number(fields.get("id")) : undefined, event: fields.get("event")!, data: fields.get("data") ?? "" });
    }
  }

  private parsedUpTo = 0;
}

/** Opens the bill's event stream; resolves once the snapshot is in (or with the refusal). */
export async function openEvents(
  base: string,
  billId: string,
  token: string | null,
  options: { lastEventId?: string; query?: string } = {},
): Promise<EventStream> {
  const controller = new AbortController();
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (options.lastEventId !== undefined) headers["last-event-id"] = options.lastEventId;
  const res = await fetch(`${base}/bills/${billId}/events${options.query ?? ""}`, { headers, signal: controller.signal });
  const isStream = res.status === 200 && /^text\/event-stream/.test(res.headers.get("content-type") ?? "");
  const stream = new EventStream(res.status, res.headers.get("content-type"), controller, isStream ? res.body!.getReader() : undefined);
  if (isStream) await stream.until("the snapshot", (s) => s.frames.some((f) => f.event === "snapshot"));
  else {
    stream.body = await res.json().catch(() => undefined);
    controller.abort();
  }
  return stream;
}
