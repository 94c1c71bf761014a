// A TCP proxy between the service and PostgreSQL that a test can cut, hang and restore, to simulate
// a database outage without touching the server.
//  - cut(): every connection is dropped and new ones are refused (the server is gone);
//  - hang(): new connections are accepted and never answered (a network black hole: no error, no
//    reset, just silence); open connections stall too (nothing is forwarded either way), or with
//    { open: "drop" } they are dropped, so every client has to connect again into the silence;
//  - restore(): back to normal. Connections held by hang() carry on where they stopped, as TCP
//    would after a partition heals, so a client that did not give up meanwhile gets its answer.
import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

type Mode = "up" | "cut" | "hang";

interface Link {
  client: Socket;
  upstream?: Socket;
}

export class TcpProxy {
  private server: Server;
  private readonly links = new Set<Link>();
  private mode: Mode = "up";
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((client) => {
      if (this.mode === "cut") {
        client.destroy();
        return;
      }
      const link: Link = { client };
      this.links.add(link);
      client.on("error", () => client.destroy());
      client.on("close", () => {
        this.links.delete(link);
        link.upstream?.destroy();
      });
      // Accepted but not answered while hanging: it is wired to the database on restore().
      if (this.mode === "hang") client.pause();
      else this.wire(link);
    });
  }

  private wire(link: Link): void {
    if (link.client.destroyed) return;
    const upstream = connect(this.target.port, this.target.host);
    link.upstream = upstream;
    upstream.on("error", () => upstream.destroy());
    upstream.on("close", () => link.client.destroy());
    this.flow(link);
  }

  private flow(link: Link): void {
    link.client.pipe(link.upstream!);
    link.upstream!.pipe(link.client);
  }

  private stall(link: Link): void {
    link.client.unpipe();
    link.client.pause();
    if (link.upstream) {
      link.upstream.unpipe();
      link.upstream.pause();
    }
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  /** Drops every connection and refuses new ones. */
  cut(): void {
    this.mode = "cut";
    for (const { client, upstream } of this.links) {
      client.destroy();
      upstream?.destroy();
    }
  }

  /** Accepts new connections without answering; open ones stall (default) or are dropped. */
  hang(options: { open?: "stall" | "drop" } = {}): void {
    this.mode = "hang";
    for (const link of this.links) {
      if (options.open === "drop") {
        link.client.destroy();
        link.upstream?.destroy();
      } else {
        this.stall(link);
      }
    }
  }

  /** Forwards again: held connections resume (or are wired up), new ones are accepted. */
  restore(): void {
    const was = this.mode;
    this.mode = "up";
    if (was !== "hang") return;
    for (const link of this.links) {
      if (link.upstream) this.flow(link);
      else this.wire(link);
    }
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
