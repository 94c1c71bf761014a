// Email through a real SMTP server (nodemailer), configured by SMTP_URL.
import nodemailer, { type Transporter } from "nodemailer";
import type { Channel, OutgoingMessage } from "./channels";

export class SmtpChannel implements Channel {
  private readonly transport: Transporter;

  constructor(url: string, private readonly from: string) {
    this.transport = nodemailer.createTransport(url);
  }

  async send(message: OutgoingMessage): Promise<void> {
    await this.transport.sendMail({ from: this.from, to: message.to, subject: message.subject, text: message.text });
  }
}
