// Email through a real SMTP server (nodemailer), configured by SMTP_URL. Every wait has an explicit
// bound (nodemailer's own: 2 minutes to connect, 10 minutes of silence on an open socket), so a send
// to a server that accepts and then says nothing ends in seconds, well inside a job's lease.
import nodemailer, { type Transporter } from "nodemailer";
import type { Channel, OutgoingMessage } from "./channels";

export interface SmtpOptions {
  url: string;
  from: string;
  /** To open the TCP (and TLS) connection. */
  connectionTimeoutMs: number;
  /** For the server's greeting once connected. */
  greetingTimeoutMs: number;
  /** Of silence from the server at any later step. */
  socketTimeoutMs: number;
}

export class SmtpChannel implements Channel {
  private readonly transport: Transporter;
  private readonly from: string;

  constructor(options: SmtpOptions) {
    this.from = options.from;
    // Options given with a URL: nodemailer lets the URL's own query parameters win over these.
    this.transport = nodemailer.createTransport({
      url: options.url,
      connectionTimeout: options.connectionTimeoutMs,
      greetingTimeout: options.greetingTimeoutMs,
      socketTimeout: options.socketTimeoutMs,
    });
  }

  async send(message: OutgoingMessage): Promise<void> {
    await this.transport.sendMail({ from: this.from, to: message.to, subject: message.subject, text: message.text });
  }
}
