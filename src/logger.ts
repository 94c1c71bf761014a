// The pino root logger: pretty in development, JSON everywhere else. Secrets never reach the log.
import pino, { type Logger } from "pino";

export function createLogger(options: { level: string; pretty: boolean }): Logger {
  return pino({
    level: options.level,
    redact: { paths: ["req.headers.authorization", "*.password", "*.secret", "*.token"], censor: "[redacted]" },
    ...(options.pretty
      ? { transport: { target: "pino-pretty", options: { colorize: true, singleLine: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" } } }
      : {}),
  });
}
