// The SMTP adapter against a minimal SMTP server that records what it is sent.
import { createServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { SmtpChannel } from "../../src/adapters/notify/smtp-channel";

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
        else if (verb === "MAIL") (from = line), socket.write("250 OK\r\n");
        else if (verb === "RCPT") to.push(line), socket.write("250 OK\r\n");
        else if (verb === "DATA") (data = ""), socket.write("354 go ahead\r\n");
        else if (verb === "QUIT") socket.end("221 bye\r\n");
        else if (verb === "RSET") (to = []), socket.write("250 OK\r\n");
        else socket.write("250 OK\r\n");
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
    const channel = new SmtpChannel(`smtp://127.0.0.1:${port}?ignoreTLS=true`, "ChillBill <no-reply@chillbill.test>");
    await channel.send({ to: "bob@example.com", subject: "ChillBill", text: "Pho 24: your share is 30.00 USD." });
    expect(messages).toHaveLength(1);
    expect(messages[0].from).toContain("no-reply@chillbill.test");
    expect(messages[0].to.join()).toContain("bob@example.com");
    expect(messages[0].data).toContain("Subject: ChillBill");
    expect(messages[0].data).toContain("Pho 24: your share is 30.00 USD.");
  } finally {
    server.close();
  }
});
