// GET /bills/{billId}/events: the bill's events as Server-Sent Events, for its creator and its
// bank-customer participants, from whichever instance made the change. A snapshot of the status
// comes first, then each event with its id; a client that reconnects with Last-Event-ID (or
// ?lastEventId=) gets the events it missed, then the live ones, none twice. A comment every 15 s
// keeps proxies from closing the connection.
import { z } from "zod";
import type { BillEvents } from "../../events/bill-events";
import type { ApiRouter } from "../../http/api-router";
import { problems } from "../../http/common-schemas";
import { billIdParams } from "../bills";
import type { StatusService } from "./status.service";

// An EventSource sends back the last `id:` it got; empty means it got none.
const eventId = (name: string) =>
  z
    .string()
    .regex(/^\d{0,15}$/, `${name} must be the id of an event this stream sent (a whole number)`)
    .optional()
    .meta({ description: "Resume after this event id: the events after it are sent first" });

export function registerEventRoutes(api: ApiRouter, status: StatusService, events: BillEvents, heartbeatMs = 15_000): void {
  api.route({
    method: "get",
    path: "/bills/:billId/events",
    tag: "status",
    summary: "A stream of the bill's events (Server-Sent Events)",
    description:
      "text/event-stream. First event `snapshot` (the bill's status), then `bill.status`, `payment.received`, `payment.failed`, `ai.result` as they happen, each with an `id:`. Reconnecting with `Last-Event-ID` (or `?lastEventId=` for EventSource polyfills) resumes after that id: the missed events come after the snapshot, then the live ones.",
    params: billIdParams,
    headers: z.object({ "last-event-id": eventId("Last-Event-ID") }),
    query: z.object({ lastEventId: eventId("lastEventId") }),
    responses: { 200: { description: "The event stream", schema: z.string(), contentType: "text/event-stream" }, ...problems(400, 401, 404, 503) },
    handler: async ({ user, params, headers, query }, _req, res) => {
      const resume = headers["last-event-id"] || query.lastEventId || undefined;
      // Watched from the start: the client may leave while the reads below are under way.
      let gone = false;
      let stop = () => {};
      // eslint-disable-next-line prefer-const -- the close handler reads it before it is set: a const there would throw (temporal dead zone)
      let heartbeat: NodeJS.Timeout | undefined;
      res.on("close", () => {
        gone = true;
        clearInterval(heartbeat);
        stop();
      });
      // The bill's position before its snapshot: everything committed after the position is
      // streamed, so no change falls between the snapshot and the stream.
      const latest = await events.position(params.billId);
      const snapshot = await status.status(user, params.billId); // 404 unless the caller may see the bill
      await events.listen(); // 503 while this process cannot listen
      if (gone) return;
      res.status(200).set({
        "Content-Type": "text/event-stream; charset=utf-8",
        "Cache-Control": "no-cache, no-transform",
        Connection: "keep-alive",
        "X-Accel-Buffering": "no",
      });
      res.flushHeaders();
      res.write(`retry: 3000\n\nevent: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
      heartbeat = setInterval(() => res.write(": keep-alive\n\n"), heartbeatMs);
      const end = () => {
        clearInterval(heartbeat);
        res.end();
      };
      // An id past the bill's latest is none of its ids (another database, or all pruned): from the latest.
      const after = resume === undefined ? latest : Math.min(Number(resume), latest);
      stop = events.subscribe(params.billId, after, (event) => res.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`), end);
    },
  });
}
