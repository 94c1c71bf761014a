// The SMTP adapter against a minimal SMTP server that records what it is sent, and against servers
// that go silent: every wait is bounded.
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { SmtpChannel, type SmtpOptions } from "../../src/adapters/notify/smtp-channel";

const from = "ChillBill <no-reply@chillbill.test>";
const timeouts = { connectionTimeoutMs: 10_000, greetingTimeoutMs: 10_000, socketTimeoutMs: 20_000 };
const channel = (port: number, options: Partial<SmtpOptions> = {}) =>
  new SmtpChannel({ url: `smtp://127.0.0.1:${port}?ignoreTLS=true`, from, ...timeouts, ...options });

function fakeSmtp(): { server: Server; messages: { from: string; to: string[]; data: string }[] } {
  const messages: { from: string; to: string[]; data: string }[] = [];
  const server = createServer((socket) => {
    let from = "";
    let to: string[] = [];
    let data: string | undefined;
    let buffer = "";
    socket.write("220 fake ESMTP\r\n");
    socket.on("data", (chunk) => {
      buffer += chunk.toString("utf8");
      let i: number;
      while ((i = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        if (data !== undefined) {
          if (line === ".") {
            messages.push({ from, to, data });
            data = undefined;
            socket.write("250 OK queued\r\n");
          } else data += `${line}\n`;
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO" || verb === "HELO") socket.write("250 fake\r\n");
        else if (verb === "MAIL") {
          from = line;
          socket.write("250 OK\r\n");
        } else if (verb === "RCPT") {
          to.push(line);
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
  });
  return { server, messages };
}

it("sends the message through the configured SMTP server", async () => {
  const { server, messages } = fakeSmtp();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  try {
    await channel(port).send({ to: "bob@example.com", subject: "ChillBill", text: "Pho 24: your share is 30.00 USD." });
    expect(messages).toHaveLength(1);
    expect(messages[0].from).toContain("no-reply@chillbill.test");
    expect(messages[0].to.join()).toContain("bob@example.com");
    expect(messages[0].data).toContain("Subject: ChillBill");
    expect(messages[0].data).toContain("Pho 24: your share is 30.00 USD.");
  } finally {
    server.close();
  }
});

/** A server that accepts connections and then does only what `onConnect` does (nothing, by default). */
async function silentServer(onConnect: (socket: Socket) => void = () => undefined) {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => undefined);
    onConnect(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** How long the send took to fail, and with what. */
async function failedSend(send: Promise<void>): Promise<{ ms: number; error: Error }> {
  const started = Date.now();
  const error = await send.then(
    () => new Error("the send succeeded"),
    (err: Error) => err,
  );
  return { ms: Date.now() - started, error };
}

const message = { to: "bob@example.com", subject: "ChillBill", text: "Your share is 30.00 USD." };

it("gives up on a server that accepts the connection and never greets, after the greeting timeout", async () => {
  const server = await silentServer();
  try {
    const { ms, error } = await failedSend(channel(server.port, { greetingTimeoutMs: 300 }).send(message));
    expect(error).toMatchObject({ code: "ETIMEDOUT" });
    expect(error.message).toMatch(/greeting/i);
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(3_000);
  } finally {
    server.close();
  }
});

it("gives up on a server that greets and then falls silent, after the socket timeout", async () => {
  const server = await silentServer((socket) => {
    socket.write("220 fake ESMTP\r\n");
    // Answers EHLO, then nothing: the send waits on MAIL FROM.
    socket.once("data", () => socket.write("250 fake\r\n"));
  });
  try {
    const { ms, error } = await failedSend(channel(server.port, { socketTimeoutMs: 300 }).send(message));
    expect(error).toMatchObject({ code: "ETIMEDOUT" });
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(3_000);
  } finally {
    server.close();
  }
});
