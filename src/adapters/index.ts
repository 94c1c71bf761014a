// The one place where configuration picks each adapter: mock or real.
import type { Logger } from "pino";
import type { Config } from "../config";
import type { AiService } from "./ai/ai-service";
import { HttpAiService } from "./ai/http-ai-service";
import { loadAiFixtures, MockAiService } from "./ai/mock-ai-service";
import { MockUserDirectory, type UserDirectory } from "./directory/user-directory";
import { LocalFileStore, type FileStore } from "./storage/file-store";
import { HttpPaymentSystem } from "./payments/http-payment-system";
import { MockPaymentSystem } from "./payments/mock-payment-system";
import type { PaymentSystem } from "./payments/payment-system";
import { mockChannels, type Channels } from "./notify/channels";
import { SmtpChannel } from "./notify/smtp-channel";

export interface Adapters {
  ai: AiService;
  directory: UserDirectory;
  files: FileStore;
  payments: PaymentSystem;
  channels: Channels;
}

export function createAdapters(config: Config, logger: Logger, urls: { publicBaseUrl: () => string }): Adapters {
  const ai =
    config.ai.mode === "http"
      ? new HttpAiService(config.ai.serviceUrl as string)
      : new MockAiService({
          delayMs: config.ai.mock.delayMs,
          secret: config.ai.callbackSecret,
          fixtures: loadAiFixtures(config.ai.mock.fixturesPath),
          fail: config.ai.mock.fail,
          logger: logger.child({ adapter: "mock-ai" }),
        });
  const payments =
    config.payments.mode === "http"
      ? new HttpPaymentSystem(config.payments.apiUrl as string)
      : new MockPaymentSystem({
          secret: config.payments.webhookSecret,
          delayMs: config.payments.mockDelayMs,
          publicBaseUrl: urls.publicBaseUrl,
          logger: logger.child({ adapter: "mock-payments" }),
        });
  const mocks = mockChannels(logger.child({ adapter: "mock-notify" }));
  const channels: Channels = config.notifications.smtp ? { ...mocks, email: new SmtpChannel(config.notifications.smtp) } : mocks;
  return { ai, directory: new MockUserDirectory(), files: new LocalFileStore(config.uploads.dir), payments, channels };
}
