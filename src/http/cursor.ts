// Keyset-pagination cursors (created_at, id), opaque to clients: one definition for every list.
import { BadRequest } from "../domain/errors";

export interface KeysetCursor {
  createdAt: Date;
  id: string;
}

/** The query parameter, as routes declare it: opaque base64url; only one this API returned decodes. */
export const CURSOR_RULES = { invalid_cursor: "cursor is a nextCursor this API returned (a base64url string of the right shape is not enough)" };

export function encodeCursor(cursor: KeysetCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt.toISOString(), cursor.id])).toString("base64url");
}

export function decodeCursor(value: string): KeysetCursor {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(value, "base64url").toString("utf8"));
    const date = new Date(createdAt);
    if (typeof createdAt === "string" && !Number.isNaN(date.getTime()) && /^[0-9a-f-]{36}$/i.test(id)) {
      return { createdAt: date, id };
    }
  } catch {
    // fall through
  }
  throw new BadRequest("query.cursor: is not a cursor this API returned", "invalid_cursor", {
    issues: [{ path: "query.cursor", message: "is not a cursor this API returned", code: "invalid_cursor" }],
  });
}
