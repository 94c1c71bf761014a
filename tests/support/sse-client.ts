// A Server-Sent Events client for tests: opens a stream (optionally resuming with Last-Event-ID),
// parses each event as it arrives, and can be closed mid-stream as a browser tab is.
import { request as httpRequest, type ClientRequest } from "node:http";

export interface StreamEvent {
  id?: string;
  event: string;
  data: string;
}

export class SseClient {
  readonly events: StreamEvent[] = [];
  status = 0;
  private req: ClientRequest | undefined;
  private ended = false;

  private constructor() {}

  /** Opens the stream at `url`; resolves once the answer's head has arrived. */
  static async open(url: string, headers: Record<string, string>): Promise<SseClient> {
    const client = new SseClient();
    await new Promise<void>((resolve, reject) => {
      client.req = httpRequest(url, { headers: { accept: "text/event-stream", ...headers }, agent: false }, (res) => {
        client.status = res.statusCode ?? 0;
        let buffer = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buffer += chunk;
          let i: number;
          while ((i = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, i);
            buffer = buffer.slice(i + 2);
            const event = parseBlock(block);
            if (event) client.events.push(event);
          }
        });
        res.on("end", () => (client.ended = true));
        res.on("error", () => (client.ended = true));
        resolve();
      });
      client.req.on("error", (err) => (client.status ? (client.ended = true) : reject(err)));
      client.req.end();
    });
    return client;
  }

  /** The events other than the opening snapshot. */
  get changes(): StreamEvent[] {
    return this.events.filter((e) => e.event !== "snapshot");
  }

  get closed(): boolean {
    return this.ended;
  }

  close(): void {
    this.req?.destroy();
  }
}

/** One event block: `id:`, `event:` and `data:` lines; comments (`:`) and `retry:` carry no event. */
function parseBlock(block: string): StreamEvent | undefined {
  let id: string | undefined;
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "id") id = value;
    else if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (data.length === 0) return undefined;
  return { ...(id !== undefined ? { id } : {}), event, data: data.join("\n") };
}
