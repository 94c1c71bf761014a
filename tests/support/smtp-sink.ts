// An SMTP server for tests that records every message it is sent, on one or more listeners (one per
// server instance, so a test knows which instance sent what). A listener either answers like a
// mail server, or is silent: it accepts the connection and never says a word, as a mail server that
// hangs does, so the instance sending through it waits there (holding its job) until it is killed.
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export type SmtpMode = "answer" | "silent";

export interface ReceivedMail {
  listener: string;
  to: string[];
  /** The body, with quoted-printable soft line breaks and escapes undone. */
  text: string;
}

interface Listener {
  server: Server;
  port: number;
  mode: SmtpMode;
}

export class SmtpSink {
  private readonly listeners = new Map<string, Listener>();
  private readonly sockets = new Set<Socket>();
  readonly messages: ReceivedMail[] = [];
  /** Every connection accepted, by listener, in order (silent ones included). */
  readonly connections: string[] = [];

  /** Starts a listener; returns its SMTP_URL. */
  async listen(name: string, mode: SmtpMode = "answer"): Promise<string> {
    const server = createServer((socket) => this.accept(name, socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    this.listeners.set(name, { server, port, mode });
    // ignoreTLS: the sink speaks plain SMTP.
    return `smtp://127.0.0.1:${port}?ignoreTLS=true`;
  }

  /** Connections accepted from now on answer (or stay silent); connections already open keep their mode. */
  setMode(name: string, mode: SmtpMode): void {
    this.listeners.get(name)!.mode = mode;
  }

  setAll(mode: SmtpMode): void {
    for (const name of this.listeners.keys()) this.setMode(name, mode);
  }

  /** The messages sent to `address` whose text contains `containing`. */
  to(address: string, containing = ""): ReceivedMail[] {
    return this.messages.filter((m) => m.to.some((t) => t.includes(address)) && m.text.includes(containing));
  }

  private accept(name: string, socket: Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    this.connections.push(name);
    if (this.listeners.get(name)!.mode === "silent") return;
    let to: string[] = [];
    let data: string | undefined;
    let buffer = "";
    socket.write("220 chillbill-test-sink ESMTP\r\n");
    socket.on("data", (chunk) => {
      buffer += chunk.toString("utf8");
      let i: number;
      while ((i = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        if (data !== undefined) {
          if (line === ".") {
            this.messages.push({ listener: name, to, text: decodeQuotedPrintable(data) });
            data = undefined;
            to = [];
            socket.write("250 OK queued\r\n");
          } else data += `${line.startsWith("..") ? line.slice(1) : line}\n`;
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO" || verb === "HELO") socket.write("250 chillbill-test-sink\r\n");
        else if (verb === "RCPT") {
          to.push(line.replace(/^RCPT TO:\s*/i, ""));
          socket.write("250 OK\r\n");
        } else if (verb === "DATA") {
          data = "";
          socket.write("354 go ahead\r\n");
        } else if (verb === "QUIT") socket.end("221 bye\r\n");
        else if (verb === "RSET") {
          to = [];
          socket.write("250 OK\r\n");
        } else socket.write("250 OK\r\n");
      }
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all([...this.listeners.values()].map((l) => new Promise<void>((resolve) => l.server.close(() => resolve()))));
  }
}

function decodeQuotedPrintable(text: string): string {
  return text.replace(/=\n/g, "").replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}
