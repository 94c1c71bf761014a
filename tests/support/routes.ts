// Walking the declared routes: the path and the sample request each route accepts from a bill's
// creator, sent as any user, and a snapshot of everything a bill owns so a test can say "nothing
// changed". The security suite walks every route with these; a new route needs a sample here.
import request from "supertest";
import type { DeclaredRoute } from "../../src/http/api-router";
import { API } from "./http";
import { pngBytes } from "./images";
import type { TestApp } from "./test-app";

/** `post /bills/:billId/split/equal`: how tables of routes are keyed. */
export const routeKey = (route: DeclaredRoute) => `${route.method} ${route.path.slice(API.length)}`;

export const isUpload = (route: DeclaredRoute) => /-image$/.test(route.path);
export const isEventStream = (route: DeclaredRoute) => route.path.endsWith("/events");

/** What a route acts on: the bill, every participant of it (in bill order), and one of them. */
export interface RouteTarget {
  billId: string;
  participantIds: string[];
  participantId: string;
  notificationId?: string;
}

/** The route's path with the target's ids in it (raw: ids are put in as given, not encoded). */
export function pathFor(route: DeclaredRoute, target: Partial<RouteTarget>): string {
  return route.path
    .replace(":billId", target.billId ?? "")
    .replace(":participantId", target.participantId ?? "")
    .replace(":notificationId", target.notificationId ?? "");
}

/** Splits 100.00 among n people to the cent, the first taking the leftover. */
function hundredAmong(n: number, scale: number): string[] {
  const each = Math.floor(scale / n);
  return Array.from({ length: n }, (_, i) => String(i === 0 ? scale - each * (n - 1) : each));
}
const cents = (units: string) => (Number(units) / 100).toFixed(2);

/**
 * A JSON body the route accepts from the creator of an active, equally split bill of 100.00 USD
 * (undefined: the route takes no body). Routes that take a JSON body must be listed here.
 */
export function sampleBody(route: DeclaredRoute, target: RouteTarget): Record<string, unknown> | undefined {
  const ids = target.participantIds;
  const bodies: Record<string, () => Record<string, unknown>> = {
    "post /bills": () => ({ totalAmount: "10.00", currency: "USD", note: "lunch" }),
    "put /bills/:billId": () => ({ note: "mine now" }),
    "delete /bills/:billId": () => ({ reason: "changed my mind" }),
    "post /bills/:billId/participants": () => ({ name: "Eve" }),
    "put /bills/:billId/participants/:participantId": () => ({ name: "Eve" }),
    "put /bills/:billId/participants/:participantId/mark-as-paid": () => ({ method: "cash", note: "paid at the table" }),
    "post /bills/:billId/split/equal": () => ({}),
    "post /bills/:billId/split/custom-amount": () => ({
      amounts: hundredAmong(ids.length, 10_000).map((units, i) => ({ participantId: ids[i], amount: cents(units) })),
    }),
    "post /bills/:billId/split/percentage": () => ({
      percentages: hundredAmong(ids.length, 100).map((p, i) => ({ participantId: ids[i], percentage: p })),
    }),
    "post /bills/:billId/split/shares": () => ({ shares: ids.map((participantId, i) => ({ participantId, weight: i === 0 ? "2" : "1" })) }),
    "post /bills/:billId/split/itemized": () => ({ items: [{ name: "Dinner", amount: "100.00", participantIds: ids }] }),
    "post /bills/:billId/calculate": () => ({ method: "shares", shares: ids.map((participantId) => ({ participantId, weight: "1" })) }),
  };
  return bodies[routeKey(route)]?.();
}

/** The route keys sampleBody has a body for (the suite checks they are exactly the routes with a JSON body). */
export const ROUTES_WITH_SAMPLE_BODY = [
  "post /bills",
  "put /bills/:billId",
  "delete /bills/:billId",
  "post /bills/:billId/participants",
  "put /bills/:billId/participants/:participantId",
  "put /bills/:billId/participants/:participantId/mark-as-paid",
  "post /bills/:billId/split/equal",
  "post /bills/:billId/split/custom-amount",
  "post /bills/:billId/split/percentage",
  "post /bills/:billId/split/shares",
  "post /bills/:billId/split/itemized",
  "post /bills/:billId/calculate",
];

/**
 * Reads an answer without waiting for its end when it is an event stream (which stays open): the
 * first chunk is kept and the connection closed. Other answers are read whole, JSON parsed.
 */
export function readAnswer(
  res: NodeJS.ReadableStream & { headers: Record<string, string>; destroy(): void },
  done: (err: Error | null, body: unknown) => void,
) {
  let finished = false;
  let text = "";
  const finish = () => {
    if (finished) return;
    finished = true;
    let body: unknown = text;
    if (/json/.test(res.headers["content-type"] ?? "")) {
      try {
        body = JSON.parse(text);
      } catch {
        // left as text
      }
    }
    done(null, body);
  };
  res.on("data", (chunk: Buffer) => {
    text += chunk.toString("utf8");
    if (/^text\/event-stream/.test(res.headers["content-type"] ?? "")) {
      finish();
      res.destroy();
    }
  });
  res.on("end", finish);
  res.on("error", finish);
}

export interface SendOptions {
  /** The JSON body (default: the route's sample body, or none). */
  body?: unknown;
  /** Extra multipart form fields for the upload routes. */
  fields?: Record<string, string>;
  /** Raw Authorization header (default: `Bearer <token>`; null sends none). */
  authorization?: string | null;
}

/** Sends the route's sample request (or the given body) to the target as the token's user. */
export function sendAs(t: TestApp, route: DeclaredRoute, target: RouteTarget, token: string, options: SendOptions = {}): request.Test {
  let req = request(t.app)[route.method](pathFor(route, target));
  const authorization = options.authorization === undefined ? `Bearer ${token}` : options.authorization;
  if (authorization !== null) req = req.set("Authorization", authorization);
  if (isEventStream(route)) return req.buffer(true).parse(readAnswer as never);
  if (isUpload(route)) {
    for (const [name, value] of Object.entries(options.fields ?? {})) req = req.field(name, value);
    return req.attach("image", pngBytes(), { filename: "receipt.png", contentType: "image/png" });
  }
  const body = "body" in options ? options.body : sampleBody(route, target);
  return body === undefined ? req : req.send(body as object);
}

/** Everything a bill owns, and the upload folder, as plain data: equal snapshots mean nothing changed. */
export async function billSnapshot(t: TestApp, billId: string): Promise<unknown> {
  const bill = await t.db.prisma.bill.findUniqueOrThrow({
    where: { id: billId },
    include: {
      participants: { orderBy: { id: "asc" } },
      paymentRequests: { orderBy: { id: "asc" } },
      imageJobs: { orderBy: { id: "asc" } },
      statusHistory: { orderBy: { id: "asc" } },
      notifications: { orderBy: { id: "asc" } },
    },
  });
  return JSON.parse(JSON.stringify({ bill, files: t.uploadedFiles() }));
}
