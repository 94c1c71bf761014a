// Notification channels: in-app (the banking app reads our notifications table), SMS and email.
// The defaults are mocks that record what would have been sent and log it.
import type { Logger } from "pino";

export type ChannelName = "in_app" | "sms" | "email";

export interface OutgoingMessage {
  to: string;
  subject: string;
  text: string;
}

export interface Channel {
  send(message: OutgoingMessage): Promise<void>;
}

export class RecordingChannel implements Channel {
  readonly sent: OutgoingMessage[] = [];
  /** Tests: make the next sends fail. */
  failWith: Error | undefined;

  constructor(
    private readonly name: ChannelName,
    private readonly logger: Logger,
  ) {}

  async send(message: OutgoingMessage): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.sent.push(message);
    this.logger.info({ channel: this.name, to: message.to, text: message.text }, "notification (mock) sent");
  }
}

export type Channels = Record<ChannelName, Channel>;

export function mockChannels(logger: Logger): Channels & Record<ChannelName, RecordingChannel> {
  return {
    in_app: new RecordingChannel("in_app", logger),
    sms: new RecordingChannel("sms", logger),
    email: new RecordingChannel("email", logger),
  };
}
