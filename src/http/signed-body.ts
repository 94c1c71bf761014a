// For routes called by the AI service and the payment system: the body arrives raw (express.raw),
// its signature is checked on those exact bytes, and only then is it parsed as JSON.
import type { NextFunction, Request, Response } from "express";
import type { Clock } from "../clock";
import { BadRequest, Unauthorized } from "../domain/errors";
import { SignatureError, verifySignature } from "../domain/signature";

export function verifySignedBody(options: { header: string; secret: string; clock: Clock; toleranceSeconds?: number }) {
  return (req: Request, _res: Response, next: NextFunction) => {
    const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    try {
      verifySignature(req.get(options.header), raw, options.secret, options.clock.now(), options.toleranceSeconds);
    } catch (err) {
      if (err instanceof SignatureError) throw new Unauthorized(`${err.message} (${options.header})`, `signature_${err.reason}`);
      throw err;
    }
    try {
      req.body = JSON.parse(raw.toString("utf8"));
    } catch {
      throw new BadRequest("The request body is not valid JSON", "malformed_json");
    }
    next();
  };
}
