// A load balancer for tests: an HTTP proxy that sends each request (not each connection) to the
// next instance in turn, so a client's keep-alive connection does not pin its requests to one
// instance. An instance that refuses the connection (killed) is skipped, as a balancer's health
// check would; any other failure is answered 502. Each answer says which instance gave it
// (x-served-by), and `served` keeps the log.
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface Served {
  instance: number;
  method: string;
  path: string;
  status: number;
}

// Hop-by-hop headers (RFC 9110 7.6.1) are the proxy's own business on each side.
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"]);

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name.toLowerCase())));
}

export class RoundRobinProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private targets: string[] = [];
  private turn = 0;
  readonly served: Served[] = [];
  url = "";

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => this.forward(req.method ?? "GET", req.url ?? "/", req.headers, Buffer.concat(chunks), res, this.targets.length));
    });
    this.server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  /** The instances' base URLs; instance i is targets[i]. */
  setTargets(targets: string[]): void {
    this.targets = [...targets];
  }

  /** How many requests matching `path` (a prefix or a pattern) each instance answered. */
  countsFor(path: string | RegExp): number[] {
    const counts = this.targets.map(() => 0);
    for (const s of this.served) if (typeof path === "string" ? s.path.startsWith(path) : path.test(s.path)) counts[s.instance] += 1;
    return counts;
  }

  private forward(method: string, path: string, headers: IncomingHttpHeaders, body: Buffer, res: import("node:http").ServerResponse, triesLeft: number): void {
    if (this.targets.length === 0 || triesLeft === 0) {
      res.writeHead(502, { "content-type": "text/plain" }).end("no instance answered");
      return;
    }
    const instance = this.turn % this.targets.length;
    this.turn += 1;
    const target = new URL(path, this.targets[instance]);
    const upstream = httpRequest(
      target,
      // agent: false: a new connection per request, closed after it, so no instance is pinned.
      { method, agent: false, headers: { ...endToEnd(headers), host: target.host, connection: "close", "content-length": String(body.length) } },
      (answer) => {
        this.served.push({ instance, method, path, status: answer.statusCode ?? 0 });
        res.writeHead(answer.statusCode ?? 502, { ...endToEnd(answer.headers), "x-served-by": String(instance) });
        // Flushed at once: Server-Sent Events pass through as they are written.
        res.flushHeaders();
        answer.pipe(res);
        res.on("close", () => answer.destroy());
      },
    );
    upstream.on("error", (err: NodeJS.ErrnoException) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // Refused: the instance is gone and the request never reached it, so another may take it.
      if (err.code === "ECONNREFUSED") this.forward(method, path, headers, body, res, triesLeft - 1);
      else res.writeHead(502, { "content-type": "text/plain" }).end(`instance ${instance}: ${err.message}`);
    });
    upstream.end(body);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
