import type { Logger } from "pino";
import type { AuthUser } from "./auth";

declare global {
  namespace Express {
    interface Request {
      user?: AuthUser;
      /** The request id (X-Request-Id), set by requestLogging. */
      id: string;
      /** A logger whose lines carry the request id, set by requestLogging. */
      log: Logger;
    }
  }
}
export {};
