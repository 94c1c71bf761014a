// GET /bills/{billId}/events: the bill's events as Server-Sent Events, for its creator and its
// bank-customer participants. A snapshot of the status comes first, then each event as it
// happens, and a comment every 15 s keeps proxies from closing the connection.
import { z } from "zod";
import type { BillEvents } from "../../events/bill-events";
import type { ApiRouter } from "../../http/api-router";
import { problems } from "../../http/common-schemas";
import { billIdParams } from "../bills/bills.schemas";
import type { StatusService } from "./status.service";

export function registerEventRoutes(api: ApiRouter, status: StatusService, events: BillEvents, heartbeatMs = 15_000): void {
  api.route({
    method: "get",
    path: "/bills/:billId/events",
    tag: "status",
    summary: "A stream of the bill's events (Server-Sent Events)",
    description:
      "text/event-stream. First event `snapshot` (the bill's status), then `bill.status`, `payment.received`, `payment.failed`, `ai.result` as they happen.",
    params: billIdParams,
    responses: { 200: { description: "The event stream", schema: z.string(), contentType: "text/event-stream" }, ...problems(400, 401, 404) },
    handler: async ({ user, params }, req, res) => {
      const snapshot = await status.status(user, params.billId); // 404 unless the caller may see the bill
      res.status(200).set({
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache, no-transform",
        Connection: "keep-alive",
        "X-Accel-Buffering": "no",
      });
      res.flushHeaders();
      res.write(`retry: 3000\n\nevent: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
      const heartbeat = setInterval(() => res.write(": keep-alive\n\n"), heartbeatMs);
      const end = () => {
        clearInterval(heartbeat);
        stop();
        res.end();
      };
      const stop = events.subscribe(
        params.billId,
        (event) => {
          res.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
        },
        end,
      );
      req.on("close", () => {
        clearInterval(heartbeat);
        stop();
      });
    },
  });
}
