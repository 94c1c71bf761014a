// HTTP in, HTTP out for notifications and reminders, and a customer's in-app notifications.
import { z } from "zod";
import type { ApiRouter } from "../../http/api-router";
import { pageQuery, problems, uuidSchema } from "../../http/common-schemas";
import { CURSOR_RULES } from "../../http/cursor";
import { billIdParams } from "../bills";
import type { InboxService } from "./notifications.inbox";
import type { NotificationsService } from "./notifications.service";

const person = z.object({ participantId: z.uuid(), name: z.string() });
const sentSchema = z
  .object({
    billId: z.uuid(),
    notified: z.array(person.extend({ channels: z.array(z.enum(["in_app", "sms", "email"])) })),
    skipped: z.array(person.extend({ reason: z.string() })),
  })
  .meta({ id: "NotificationsSent" });
const remindedSchema = z
  .object({
    billId: z.uuid(),
    reminded: z.array(person.extend({ channels: z.array(z.enum(["in_app", "sms", "email"])) })),
    skipped: z.array(person.extend({ reason: z.string() })),
  })
  .meta({ id: "RemindersSent" });
const inAppQuery = z.strictObject(pageQuery);
const inAppSchema = z
  .object({
    items: z.array(
      z.object({
        id: z.uuid(),
        billId: z.uuid(),
        type: z.string(),
        message: z.string(),
        status: z.string(),
        createdAt: z.string(),
        readAt: z.string().nullable(),
      }),
    ),
    nextCursor: z.string().nullable(),
  })
  .meta({ id: "InAppNotifications" });

export function registerNotificationRoutes(api: ApiRouter, notifications: NotificationsService, inbox: InboxService): void {
  api
    .route({
      method: "post",
      path: "/bills/:billId/send-notifications",
      tag: "notifications",
      summary: "Tell every participant who owes their share and how to pay",
      params: billIdParams,
      responses: { 200: { description: "Who was told, on which channels, and who was skipped", schema: sentSchema }, ...problems(400, 401, 404, 409) },
      handler: async ({ user, params }, _req, res) => {
        res.json(await notifications.notifyShares(user, params.billId));
      },
    })
    .route({
      method: "post",
      path: "/bills/:billId/send-reminders",
      tag: "notifications",
      summary: "Remind those who have not paid (nobody twice within the reminder interval)",
      params: billIdParams,
      responses: { 200: { description: "Who was reminded, and who was skipped and why", schema: remindedSchema }, ...problems(400, 401, 404, 409) },
      handler: async ({ user, params }, _req, res) => {
        res.json(await notifications.remind(params.billId, { user }));
      },
    })
    .route({
      method: "post",
      path: "/notifications/:notificationId/read",
      tag: "notifications",
      summary: "Mark one of your in-app notifications read",
      params: z.object({ notificationId: uuidSchema }),
      responses: {
        200: { description: "Read", schema: z.object({ id: z.uuid(), readAt: z.string(), changed: z.boolean() }).meta({ id: "NotificationRead" }) },
        ...problems(400, 401, 404),
      },
      handler: async ({ user, params }, _req, res) => {
        res.json(await inbox.markRead(user, params.notificationId));
      },
    })
    .route({
      method: "get",
      path: "/notifications",
      tag: "notifications",
      summary: "Your in-app notifications, newest first",
      query: inAppQuery,
      crossFieldRules: CURSOR_RULES,
      responses: { 200: { description: "Notifications", schema: inAppSchema }, ...problems(400, 401) },
      handler: async ({ user, query }, _req, res) => {
        res.json(await inbox.inApp(user, query));
      },
    });
}
