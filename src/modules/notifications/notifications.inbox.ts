// A bank customer's in-app notifications: the inbox the banking app shows, newest first, and
// marking one read. The rows are written by the outbox (notifications.outbox.ts).
import type { Clock } from "../../clock";
import type { Db } from "../../db/database";
import { NotFound } from "../../domain/errors";
import type { AuthUser } from "../../http/auth";
import { decodeCursor, encodeCursor } from "../../http/cursor";

/** What InboxService is built from (the composition root, app.ts, passes them by name). */
export interface InboxServiceDeps {
  db: Db;
  clock: Clock;
}

export class InboxService {
  constructor(private readonly deps: InboxServiceDeps) {}

  /** A bank customer's in-app notifications, newest first, keyset-paginated on (created_at, id). */
  async inApp(user: AuthUser, query: { limit: number; cursor?: string }) {
    const after = query.cursor ? decodeCursor(query.cursor) : undefined;
    const rows = await this.deps.db.notification.findMany({
      where: {
        recipientUserId: user.id,
        channel: "in_app",
        ...(after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {}),
      },
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      take: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      items: page.map((n) => ({
        id: n.id,
        billId: n.billId,
        type: n.type,
        message: n.message,
        status: n.status,
        createdAt: n.createdAt.toISOString(),
        readAt: n.readAt?.toISOString() ?? null,
      })),
      nextCursor: rows.length > query.limit && last ? encodeCursor({ createdAt: last.createdAt, id: last.id }) : null,
    };
  }

  /** Marks one of the caller's in-app notifications read (idempotent); 404 for anyone else's. */
  async markRead(user: AuthUser, notificationId: string) {
    const { count } = await this.deps.db.notification.updateMany({
      where: { id: notificationId, recipientUserId: user.id, channel: "in_app", readAt: null },
      data: { readAt: this.deps.clock.now(), updatedAt: this.deps.clock.now() },
    });
    const row = await this.deps.db.notification.findFirst({ where: { id: notificationId, recipientUserId: user.id, channel: "in_app" } });
    if (!row) throw new NotFound("No notification with this id for you", "notification_not_found");
    return { id: row.id, readAt: row.readAt!.toISOString(), changed: count === 1 };
  }
}
