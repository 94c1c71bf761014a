// Walks every declared route: who may read and who may change a bill (its creator; a participant
// who is a bank customer may only read; anyone else gets 404 and changes nothing); every kind of
// bad token on every user route; fields a client must not set, on every write; and generated
// paths, queries, content types and bodies, signed or not, that must never cause a 5xx.
import { createHmac } from "node:crypto";
import fc from "fast-check";
import { generateKeyPair, SignJWT } from "jose";
import request from "supertest";
import { SEEDED_BANK_USERS } from "../../src/adapters/directory/user-directory";
import { openApiPath, type DeclaredRoute } from "../../src/http/api-router";
import { as, expectProblem, API } from "../support/http";
import { pngBytes, signedCallback } from "../support/images";
import { billWithRequests, postWebhook, splitBill } from "../support/payments";
import {
  billSnapshot,
  isEventStream,
  isUpload,
  pathFor,
  readAnswer,
  routeKey,
  ROUTES_WITH_SAMPLE_BODY,
  sampleBody,
  sendAs,
  type RouteTarget,
} from "../support/routes";
import { createTestApp, newUserId, TEST_JWT_SECRET, type TestApp } from "../support/test-app";

/**
 * The generated tests send a fixed number of requests; how long that takes depends on the machine's
 * load (a loaded 2-CPU CI machine took over 30 s, Jest's default). This bound only has to catch a
 * hang, so it is generous: about 10x the time on an idle machine.
 */
const GENERATED_TIMEOUT_MS = 180_000;

let t: TestApp;
let routes: DeclaredRoute[];
/** The OpenAPI operation of each declared route (public and internal documents together). */
let operations: Map<DeclaredRoute, { security?: unknown[]; requestBody?: { content: Record<string, unknown> } }>;

beforeAll(async () => {
  t = await createTestApp();
  routes = t.app.locals.declaredRoutes;
  const docs = [(await request(t.app).get("/openapi.json")).body, (await request(t.app).get("/openapi.internal.json")).body];
  operations = new Map(routes.map((r) => [r, docs.map((d) => d.paths[openApiPath(r.path)]?.[r.method]).find(Boolean)]));
});
afterAll(() => t.close());

/** Alice is a bank customer in the mock directory: added by her phone, she can sign in as herself. */
const ALICE = SEEDED_BANK_USERS.find((u) => u.name === "Alice")!;

/** A bill of 100.00 USD split equally among its creator, Alice (a bank customer) and B, with payment requests out. */
async function activeBill() {
  const bill = await billWithRequests(t, ["me", "Alice", "B"]);
  const notification = await t.db.prisma.notification.findFirstOrThrow({ where: { billId: bill.billId, recipientUserId: ALICE.userId, channel: "in_app" } });
  const target: RouteTarget = {
    billId: bill.billId,
    participantIds: bill.people.map((p) => p.id),
    participantId: bill.byName.B,
    notificationId: notification.id,
  };
  return { ...bill, target };
}

const takesBill = (r: DeclaredRoute) => r.audience === "public" && r.path.includes(":billId");
const takesAnId = (r: DeclaredRoute) => r.audience === "public" && /:(billId|participantId|notificationId)/.test(r.path);
const isRead = (r: DeclaredRoute) => r.method === "get";

describe("authorization matrix", () => {
  it("every sample request is one the bill's creator may make (so each refusal below is about who asks)", async () => {
    // These change what the other samples need (who is on the bill, who has paid, whether it is
    // open), so each gets a bill of its own; the rest take turns on one bill.
    const ownBill = new Set([
      "delete /bills/:billId",
      "post /bills/:billId/participants",
      "delete /bills/:billId/participants/:participantId",
      "put /bills/:billId/participants/:participantId/mark-as-paid",
    ]);
    const shared = await activeBill();
    for (const route of routes.filter(takesBill)) {
      const owner = ownBill.has(routeKey(route)) ? await activeBill() : shared;
      const res = await sendAs(t, route, owner.target, owner.token);
      expect({ route: routeKey(route), answer: res.status < 300 ? "2xx" : res.body }).toEqual({ route: routeKey(route), answer: "2xx" });
    }
  });

  it("a second user gets 404 on every route that takes a bill, participant or notification id, and nothing changes", async () => {
    const owner = await activeBill();
    const mallory = await t.tokenFor(newUserId());
    const walked = routes.filter(takesAnId);
    expect(walked.length).toBeGreaterThanOrEqual(25);
    const before = await billSnapshot(t, owner.billId);
    for (const route of walked) {
      const res = await sendAs(t, route, owner.target, mallory);
      expect({ route: routeKey(route), status: res.status }).toEqual({ route: routeKey(route), status: 404 });
      expectProblem(res, 404);
      expect(res.body.code).toMatch(/^(bill|notification)_not_found$/);
      expect(JSON.stringify(res.body)).not.toContain(owner.userId);
    }
    expect(await billSnapshot(t, owner.billId)).toEqual(before);
  });

  it("a participant who is a bank customer reads the bill on every read route, and every change is 404 (never 403), changing nothing", async () => {
    const owner = await activeBill();
    const alice = await t.tokenFor(ALICE.userId);
    const walked = routes.filter(takesBill);
    expect(walked.filter(isRead).length).toBe(8);
    expect(walked.filter((r) => !isRead(r)).length).toBe(18);
    const before = await billSnapshot(t, owner.billId);
    for (const route of walked) {
      // Her own participant row (mark herself paid, rename herself, remove herself) and someone else's.
      for (const participantId of route.path.includes(":participantId") ? [owner.byName.Alice, owner.byName.B] : [owner.byName.B]) {
        const res = await sendAs(t, route, { ...owner.target, participantId }, alice);
        const key = routeKey(route);
        if (isRead(route)) {
          expect({ route: key, status: res.status }).toEqual({ route: key, status: 200 });
          if (isEventStream(route)) expect(res.headers["content-type"]).toMatch(/^text\/event-stream/);
        } else {
          expect({ route: key, status: res.status }).toEqual({ route: key, status: 404 });
          expectProblem(res, 404, "bill_not_found");
        }
      }
    }
    expect(await billSnapshot(t, owner.billId)).toEqual(before);
    // What she read is the bill she is on.
    const read = await as(t, alice).get(`/bills/${owner.billId}`);
    expect(read.body.participants.map((p: { name: string }) => p.name)).toEqual(["me", "Alice", "B"]);
  });

  it("a participant id of another bill, under the caller's own bill, is 404 on every participant route and changes neither bill", async () => {
    const victim = await activeBill();
    const mallory = await activeBill();
    const walked = routes.filter((r) => r.path.includes(":participantId"));
    expect(walked.length).toBe(4);
    const before = [await billSnapshot(t, victim.billId), await billSnapshot(t, mallory.billId)];
    for (const participantId of [victim.byName.B, victim.byName.Alice]) {
      for (const route of walked) {
        const res = await sendAs(t, route, { ...mallory.target, participantId }, mallory.token);
        expect({ route: routeKey(route), status: res.status }).toEqual({ route: routeKey(route), status: 404 });
        expectProblem(res, 404, "participant_not_found");
      }
    }
    expect([await billSnapshot(t, victim.billId), await billSnapshot(t, mallory.billId)]).toEqual(before);
  });

  it("every declared path answers each method it does not have with 405 and an Allow of the methods it has, changing nothing", async () => {
    const owner = await activeBill();
    const before = await billSnapshot(t, owner.billId);
    const all = ["get", "post", "put", "patch", "delete"] as const;
    for (const path of new Set(routes.map((r) => r.path))) {
      const has = routes.filter((r) => r.path === path).map((r) => r.method);
      const allow = ["get", "head", "post", "put", "patch", "delete"]
        .filter((m) => has.includes(m as never) || (m === "head" && has.includes("get")))
        .map((m) => m.toUpperCase())
        .join(", ");
      const url = pathFor(
        routes.find((r) => r.path === path)!,
        owner.target,
      );
      for (const method of all.filter((m) => !has.includes(m))) {
        const res = await request(t.app)[method](url).set("Authorization", `Bearer ${owner.token}`);
        expect({ path, method, status: res.status, allow: res.headers.allow }).toEqual({ path, method, status: 405, allow });
        expectProblem(res, 405, "method_not_allowed");
      }
    }
    expect(await billSnapshot(t, owner.billId)).toEqual(before);
  });

  it("refuses a user's token on every internal route, and nothing changes", async () => {
    const owner = await activeBill();
    const internal = routes.filter((r) => r.audience === "internal");
    expect(internal.length).toBe(3);
    const before = await billSnapshot(t, owner.billId);
    for (const route of internal) {
      const res = await request(t.app)
        .post(route.path.replace(":billId", owner.billId))
        .set("Authorization", `Bearer ${owner.token}`)
        .send({ jobId: owner.billId, status: "failed", error: "x" });
      expect({ path: route.path, status: res.status }).toEqual({ path: route.path, status: 401 });
      expectProblem(res, 401);
      expect(res.body.code).toMatch(/^signature_/);
    }
    expect(await billSnapshot(t, owner.billId)).toEqual(before);
  });
});

describe("bearer tokens", () => {
  const key = new TextEncoder().encode(TEST_JWT_SECRET);
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = () => Math.floor(Date.now() / 1000);

  /** A JWT signed by hand: HMAC-SHA256 with the shared secret, whatever the header claims. */
  const hmacOver = (header: object, payload: object) => {
    const input = `${b64(header)}.${b64(payload)}`;
    return `${input}.${createHmac("sha256", TEST_JWT_SECRET).update(input).digest("base64url")}`;
  };

  /** Each kind of bad credential, as the Authorization header it arrives in (null: none). */
  async function badCredentials(): Promise<[string, string | null, string][]> {
    const valid = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").setExpirationTime("1h").sign(key);
    const [h, , s] = valid.split(".");
    const rsa = await generateKeyPair("RS256");
    return [
      ["no Authorization header", null, "missing_token"],
      ["a bearer value that is not a JWT", "Bearer not-a-jwt", "invalid_token"],
      ["a JWT whose header is not JSON", "Bearer e30x.e30.e30", "invalid_token"],
      [
        "an expired token",
        `Bearer ${await new SignJWT({})
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("alice")
          .setIssuedAt(now() - 7200)
          .setExpirationTime(now() - 3600)
          .sign(key)}`,
        "token_expired",
      ],
      [
        "a token signed with another secret",
        `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").setExpirationTime("1h").sign(new TextEncoder().encode("another-secret-that-is-also-long-enough-for-hs256"))}`,
        "invalid_token",
      ],
      ["a valid signature over another payload", `Bearer ${h}.${b64({ sub: "mallory", exp: now() + 3600 })}.${s}`, "invalid_token"],
      ['alg "none"', `Bearer ${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "alice", exp: now() + 3600 })}.`, "invalid_token"],
      [
        "an RS256 token from a key the service does not trust",
        `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: "RS256" }).setSubject("alice").setExpirationTime("1h").sign(rsa.privateKey)}`,
        "invalid_token",
      ],
      [
        "an RS256 header over an HMAC made with the shared secret (HS/RS confusion)",
        `Bearer ${hmacOver({ alg: "RS256", typ: "JWT" }, { sub: "alice", exp: now() + 3600 })}`,
        "invalid_token",
      ],
      [
        "HS512 with the right secret (the algorithm is pinned)",
        `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: "HS512" }).setSubject("alice").setExpirationTime("1h").sign(key)}`,
        "invalid_token",
      ],
      ["a token without an expiry", `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").sign(key)}`, "invalid_token"],
      ["a token without a subject", `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(key)}`, "invalid_token"],
      ["the Basic scheme", `Basic ${Buffer.from("alice:secret").toString("base64")}`, "invalid_token"],
      ["a valid token without a scheme", valid, "invalid_token"],
    ];
  }

  it("accepts the same constructions when nothing is wrong (so each refusal below is about the one thing changed)", async () => {
    const signed = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("alice").setExpirationTime("1h").sign(key);
    const byHand = hmacOver({ alg: "HS256", typ: "JWT" }, { sub: "alice", exp: now() + 3600 });
    for (const token of [signed, byHand]) expect((await request(t.app).get(`${API}/bills`).set("Authorization", `Bearer ${token}`)).status).toBe(200);
  });

  it("every public route, and no internal one, needs a bearer token in the API document; every internal one a signature", () => {
    for (const route of routes) {
      const schemes = (operations.get(route)?.security ?? []).flatMap((s) => Object.keys(s as object));
      expect({ route: routeKey(route), schemes }).toEqual({
        route: routeKey(route),
        schemes: route.audience === "public" ? ["bearerAuth"] : [expect.stringMatching(/^(ai|payment)Signature$/)],
      });
    }
  });

  it("refuses every kind of bad token on every user route with 401, the problem shape and WWW-Authenticate", async () => {
    const owner = await activeBill();
    const userRoutes = routes.filter((r) => (operations.get(r)?.security ?? []).some((s) => "bearerAuth" in (s as object)));
    expect(userRoutes.length).toBe(31);
    const before = await billSnapshot(t, owner.billId);
    const credentials = await badCredentials();
    for (const [kind, authorization, code] of credentials) {
      for (const route of userRoutes) {
        const res = await sendAs(t, route, owner.target, "", { authorization });
        expect({ kind, route: routeKey(route), status: res.status, code: res.body?.code }).toEqual({ kind, route: routeKey(route), status: 401, code });
        expectProblem(res, 401, code);
        expect(res.headers["www-authenticate"]).toMatch(/^Bearer realm="chillbill"/);
      }
    }
    expect(await billSnapshot(t, owner.billId)).toEqual(before);
  });
});

describe("mass assignment", () => {
  // Fields only the service sets. Each is refused by name wherever a client sends a body.
  const FORBIDDEN: Record<string, unknown> = {
    status: "completed",
    creatorUserId: "mallory",
    paidAmount: "100.00",
    paymentStatus: "paid",
    id: "01a207c9-a789-71bc-bab2-18da81c8123d",
    billId: "01a207c9-a789-71bc-bab2-18da81c8123e",
    participantId: "01a207c9-a789-71bc-bab2-18da81c8123f",
    isBankCustomer: true,
    aiProcessed: true,
    payToken: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    amountToPay: "0.01",
  };
  const takesJson = (r: DeclaredRoute) => Boolean(operations.get(r)?.requestBody?.content["application/json"]) && r.audience === "public";

  it("the routes with a JSON body are exactly the ones with a sample body", () => {
    expect(routes.filter(takesJson).map(routeKey).sort()).toEqual([...ROUTES_WITH_SAMPLE_BODY].sort());
  });

  it("refuses each field a client must not set with 400 naming it, on every JSON write, at the top and inside list entries", async () => {
    const owner = await activeBill();
    const before = await billSnapshot(t, owner.billId);
    const billsBefore = await t.db.prisma.bill.count({ where: { creatorUserId: owner.userId } });
    for (const route of routes.filter(takesJson)) {
      const body = sampleBody(route, owner.target)!;
      const attempts: [string, Record<string, unknown>][] = Object.entries(FORBIDDEN).map(([field, value]) => [field, { ...body, [field]: value }]);
      // Inside the entries of a split (amounts, percentages, shares, items), beside their own fields.
      for (const [list, entries] of Object.entries(body).filter(([, v]) => Array.isArray(v)) as [string, Record<string, unknown>[]][]) {
        for (const [field, value] of Object.entries(FORBIDDEN).filter(([f]) => !(f in entries[0]))) {
          attempts.push([`${list}.0.${field}`, { ...body, [list]: [{ ...entries[0], [field]: value }, ...entries.slice(1)] }]);
        }
      }
      for (const [field, sent] of attempts) {
        const res = await sendAs(t, route, owner.target, owner.token, { body: sent });
        expect({ route: routeKey(route), field, status: res.status }).toEqual({ route: routeKey(route), field, status: 400 });
        expectProblem(res, 400, "validation_failed");
        expect(res.body.issues.map((i: { path: string }) => i.path)).toContain(field);
      }
    }
    expect(await billSnapshot(t, owner.billId)).toEqual(before);
    expect(await t.db.prisma.bill.count({ where: { creatorUserId: owner.userId } })).toBe(billsBefore);
  });

  it("refuses each such field, and any other, as an upload's form field: 400 naming it, nothing stored", async () => {
    const owner = await activeBill();
    const before = await billSnapshot(t, owner.billId);
    for (const route of routes.filter(isUpload)) {
      for (const [field, value] of [
        ...Object.entries(FORBIDDEN),
        ["kind", "group"],
        ["fileName", "../../etc/passwd"],
        ["constructor", "x"],
        ["__proto__", "x"],
      ]) {
        const res = await sendAs(t, route, owner.target, owner.token, { fields: { [field]: String(value) } });
        expect({ route: routeKey(route), field, status: res.status }).toEqual({ route: routeKey(route), field, status: 400 });
        expectProblem(res, 400, "validation_failed");
        expect(res.body.issues.map((i: { path: string }) => i.path)).toContain(field);
      }
    }
    expect(await billSnapshot(t, owner.billId)).toEqual(before); // includes the upload folder
  });

  it("ignores what is sent to the writes that take no body: each does its job and nothing else", async () => {
    const owner = await splitBill(t, ["me", "Alice", "B", "C"]); // created: request-payments makes it active
    const notificationOwner = await t.tokenFor(ALICE.userId);
    const removal = "delete /bills/:billId/participants/:participantId";
    const bodiless = routes.filter((r) => takesAnId(r) && r.method !== "get" && !takesJson(r) && !isUpload(r));
    expect(bodiless.map(routeKey).sort()).toEqual(
      [
        removal,
        "post /bills/:billId/request-payments",
        "post /bills/:billId/participants/:participantId/request-payment",
        "post /bills/:billId/send-notifications",
        "post /bills/:billId/send-reminders",
        "post /notifications/:notificationId/read",
      ].sort(),
    );
    const people = async () =>
      (await t.db.prisma.participant.findMany({ where: { billId: owner.billId, removedAt: null }, orderBy: { id: "asc" } })).map((p) => ({
        id: p.id,
        billId: p.billId,
        userId: p.userId,
        isBankCustomer: p.isBankCustomer,
        amountToPay: p.amountToPay?.toString(),
        paid: p.paymentStatus === "paid",
        paidAmount: p.paidAmount?.toString() ?? null,
      }));
    const send = async (route: DeclaredRoute, participantId: string) => {
      const notification = await t.db.prisma.notification.findFirst({ where: { billId: owner.billId, recipientUserId: ALICE.userId, channel: "in_app" } });
      const target = { billId: owner.billId, participantIds: [], participantId, notificationId: notification?.id };
      const token = route.path.includes(":notificationId") ? notificationOwner : owner.token;
      const res = await sendAs(t, route, target, token, { body: { ...FORBIDDEN, readAt: "2000-01-01T00:00:00.000Z", changed: false } });
      expect({ route: routeKey(route), status: res.status < 300 ? "2xx" : res.status }).toEqual({ route: routeKey(route), status: "2xx" });
    };

    const peopleBefore = await people();
    for (const route of bodiless.filter((r) => routeKey(r) !== removal)) await send(route, owner.byName.B);
    expect(await people()).toEqual(peopleBefore);
    // Removing C recomputes the equal split (its job); nothing sent in the body counts.
    await send(
      bodiless.find((r) => routeKey(r) === removal)!,
      owner.byName.C,
    );
    expect((await people()).map(({ id, paid, paidAmount, amountToPay }) => ({ id, paid, paidAmount, amountToPay }))).toEqual(
      peopleBefore
        .filter((p) => p.id !== owner.byName.C)
        .map(({ id, paid, paidAmount }) => ({ id, paid, paidAmount, amountToPay: expect.stringMatching(/^33\.3[34]$/) })),
    );

    const bill = await t.db.prisma.bill.findUniqueOrThrow({ where: { id: owner.billId }, include: { paymentRequests: true, notifications: true } });
    expect(bill).toMatchObject({ id: owner.billId, status: "active", creatorUserId: owner.userId, aiProcessed: false });
    expect(bill.paymentRequests.map((r) => r.payToken)).not.toContain(FORBIDDEN.payToken);
    expect(bill.paymentRequests.map((r) => r.id)).not.toContain(FORBIDDEN.id);
    const read = bill.notifications.filter((n) => n.readAt);
    expect(read).toHaveLength(1);
    expect(read[0].readAt!.getFullYear()).not.toBe(2000);
  });
});

describe("generated requests", () => {
  // Path segments as an attacker sends them, not encoded again: NUL, traversal, broken
  // percent-encoding, overlong UTF-8, very long ids, unicode.
  const RAW_SEGMENTS = [
    "%00",
    "..%2F..%2Fetc%2Fpasswd",
    "..",
    "%2e%2e",
    "%",
    "%E0%A4%A",
    "%C0%AE%C0%AE",
    "%F0%9F%92%B8",
    "%EF%BF%BF",
    "a".repeat(4000),
    "00000000-0000-0000-0000-000000000000",
    "null",
    "-1",
  ];
  const CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-16",
    "application/json; charset=latin1",
    "application/merge-patch+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "multipart/form-data; boundary=xyz",
    "image/png",
    "application/octet-stream",
    "",
  ];

  function segment(known: string[]) {
    return fc.oneof(
      fc.constantFrom(...known),
      fc.uuid(),
      fc.constantFrom(...RAW_SEGMENTS, ...known.map((id) => `${id}%00`), ...known.map((id) => id.toUpperCase())),
      fc.string({ maxLength: 40, unit: "grapheme" }).map(encodeURIComponent),
    );
  }

  // Repeated keys (arrays), bracket keys, prototype keys, and raw values that do not decode.
  const query = fc
    .array(
      fc.tuple(
        fc.constantFrom("limit", "cursor", "status", "from", "to", "x", "limit[]", "status[0]", "__proto__", "constructor"),
        fc.oneof(
          fc.string({ maxLength: 30 }).map(encodeURIComponent),
          fc.constantFrom("%", "%00", "-1", "1e3", "created,active", "2026-02-30", "", "a".repeat(300)),
        ),
      ),
      { maxLength: 4 },
    )
    .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${v}`).join("&"));

  const body = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? "null"),
    fc.string({ maxLength: 200 }),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  );
  const contentType = fc.oneof(fc.constantFrom(...CONTENT_TYPES), fc.stringMatching(/^[a-z]{1,10}\/[a-z+.-]{1,12}$/));
  const contentEncoding = fc.option(fc.constantFrom("gzip", "deflate", "br", "identity", "x-unknown"), { nil: undefined });

  /** Every error is the problem shape; nothing is a 5xx. */
  function expectWellRefused(res: request.Response, what: object) {
    expect({ ...what, status: res.status < 500 ? "< 500" : res.status }).toEqual({ ...what, status: "< 500" });
    if (res.status >= 400) expectProblem(res, res.status);
  }

  it("answers hand-picked hostile ids, content types and encodings on every route with the problem shape, never a 5xx", async () => {
    const owner = await activeBill();
    for (const route of routes.filter(takesAnId)) {
      for (const raw of RAW_SEGMENTS) {
        const path = pathFor(route, { billId: raw, participantId: owner.byName.B, notificationId: raw });
        expectWellRefused(await request(t.app)[route.method](path).set("Authorization", `Bearer ${owner.token}`), {
          route: routeKey(route),
          raw: raw.slice(0, 20),
        });
      }
    }
    for (const path of ["/pay/%", "/pay/%E0%A4%A/qr.png", `/pay/${"%".repeat(32)}/pay`]) {
      expectWellRefused(await request(t.app).get(path), { path });
    }
    // A body in every content type and encoding, to every route that reads one: as someone else
    // (the bill is not theirs, so nothing is applied), and to the uploads as the creator (so the
    // multipart parser reads it).
    const stranger = await t.tokenFor(newUserId());
    const bodies: [DeclaredRoute, string][] = [
      ...routes.filter((r) => r.method !== "get" && r.audience === "public").map((r): [DeclaredRoute, string] => [r, stranger]),
      ...routes.filter(isUpload).map((r): [DeclaredRoute, string] => [r, owner.token]),
    ];
    for (const [route, token] of bodies) {
      const path = pathFor(route, owner.target);
      for (const type of CONTENT_TYPES) {
        const cutForm = '--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n\x89PNG';
        for (const payload of isUpload(route) ? ["{}", cutForm] : ["{}"]) {
          const res = await request(t.app)[route.method](path).set("Authorization", `Bearer ${token}`).set("Content-Type", type).send(payload);
          expectWellRefused(res, { route: routeKey(route), type, payload: payload.slice(0, 5) });
        }
      }
      for (const encoding of ["gzip", "deflate", "br", "x-unknown"]) {
        const res = await request(t.app)
          [route.method](path)
          .set("Authorization", `Bearer ${token}`)
          .set("Content-Type", "application/json")
          .set("Content-Encoding", encoding)
          .send("{}");
        expectWellRefused(res, { route: routeKey(route), encoding });
      }
    }
  });

  it(
    "never answers a generated user request with a 5xx, and always with the problem shape on errors",
    async () => {
      const owner = await activeBill();
      const userRoutes = routes.filter((r) => r.audience === "public");
      const id = segment([owner.billId, owner.byName.B, owner.target.notificationId!]);
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...userRoutes),
          id,
          id,
          query,
          body,
          contentType,
          contentEncoding,
          async (route, billId, participantId, q, payload, type, encoding) => {
            const path = `${pathFor(route, { billId, participantId, notificationId: participantId })}${q ? `?${q}` : ""}`;
            let req = request(t.app)
              [route.method](path)
              .set("Authorization", `Bearer ${owner.token}`)
              .buffer(true)
              .parse(readAnswer as never);
            if (route.method !== "get") {
              req = req.set("Content-Type", type);
              if (encoding) req = req.set("Content-Encoding", encoding);
              req = req.send(payload);
            }
            expectWellRefused(await req, { method: route.method, path: path.slice(0, 200), type, encoding });
          },
        ),
        { numRuns: 250 },
      );
    },
    GENERATED_TIMEOUT_MS,
  );

  it(
    "never answers a correctly signed callback or webhook with a 5xx, whatever its body",
    async () => {
      const owner = await activeBill();
      for (const kind of ["bill", "group"]) {
        expect((await as(t, owner.token).post(`/bills/${owner.billId}/${kind}-image`).attach("image", pngBytes(), "a.png")).status).toBe(202);
      }
      const bill = await t.db.prisma.bill.findUniqueOrThrow({ where: { id: owner.billId }, include: { paymentRequests: true } });
      const jobIds = [bill.billImageJobId!, bill.groupImageJobId!];
      const requests = bill.paymentRequests;
      // Amounts of every size: within the bound, and beyond what a money column holds (a 400, never a 500).
      const money = fc.oneof(
        fc.double(),
        fc.integer(),
        fc.string({ maxLength: 12 }),
        fc.stringMatching(/^\d{1,15}(\.\d{1,4})?$/),
        fc.stringMatching(/^\d{14,20}(\.\d{1,5})?$/),
      );
      const aiCallback = fc.record(
        {
          jobId: fc.oneof(fc.constantFrom(...jobIds), fc.uuid(), fc.string({ maxLength: 10 })),
          status: fc.constantFrom("completed", "failed", "processing"),
          error: fc.string({ maxLength: 30 }),
          result: fc.record(
            {
              total_amount: money,
              currency: fc.constantFrom("USD", "VND", "KWD", "CLF", "UYW", "XXX", "usd", ""),
              merchant_name: fc.string({ maxLength: 30 }),
              bill_date: fc.constantFrom("2026-11-20", "2026-02-30", "yesterday"),
              line_items: fc.array(
                fc.record({ name: fc.string({ maxLength: 10 }), amount: money, quantity: fc.double(), unit_price: money }, { requiredKeys: [] }),
                { maxLength: 3 },
              ),
              participants: fc.array(
                fc.record(
                  {
                    face_id: fc.string({ maxLength: 10 }),
                    name: fc.string({ maxLength: 10 }),
                    phone: fc.constantFrom("+84901234567", "+84907654321", "+1", "x"),
                    email: fc.constantFrom("carol@example.com", "not-an-email"),
                    bank_user_id: fc.constantFrom(ALICE.userId, "bank-user-dave", "nobody", ""),
                    confidence: fc.double(),
                  },
                  { requiredKeys: [] },
                ),
                { maxLength: 3 },
              ),
            },
            { requiredKeys: [] },
          ),
        },
        { requiredKeys: ["status"] },
      );
      const paymentEvent = fc.record(
        {
          id: fc.oneof(fc.uuid(), fc.string({ maxLength: 10 })),
          type: fc.constantFrom("payment.succeeded", "payment.failed", "payment.expired", "payment.refunded"),
          created: fc.oneof(fc.integer(), fc.double()),
          data: fc.record(
            {
              paymentId: fc.oneof(fc.constantFrom(...requests.map((r) => r.paymentId ?? "")), fc.string({ maxLength: 10 })),
              reference: fc.oneof(fc.constantFrom(...requests.map((r) => r.reference)), fc.string({ maxLength: 30 })),
              amount: fc.oneof(fc.constantFrom(...requests.map((r) => r.amount.toFixed(2))), money),
              currency: fc.constantFrom("USD", "VND", "XXX", "usd"),
              reason: fc.string({ maxLength: 30 }),
            },
            { requiredKeys: [] },
          ),
        },
        { requiredKeys: [] },
      );
      const signedBody = fc.oneof(
        aiCallback.map((v) => JSON.stringify(v)),
        paymentEvent.map((v) => JSON.stringify(v)),
        fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? "null"),
        fc.string({ maxLength: 100 }),
      );
      const internal = routes.filter((r) => r.audience === "internal");
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...internal), segment([owner.billId]), signedBody, async (route, billId, raw) => {
          const path = pathFor(route, { billId }).slice(API.length);
          const res = path.startsWith("/webhook/") ? await postWebhook(t, raw) : await signedCallback(t, path, raw);
          expectWellRefused(res, { path: path.slice(0, 200), raw: raw.slice(0, 300) });
          expect(res.body?.code ?? "").not.toMatch(/^signature_/); // the signature was right: the body decided
        }),
        { numRuns: 150 },
      );
    },
    GENERATED_TIMEOUT_MS,
  );

  it(
    "never answers a generated request to the pay page, /health, /ready or an undeclared method with a 5xx",
    async () => {
      const owner = await activeBill();
      const sent = await t.db.prisma.paymentRequest.findFirstOrThrow({ where: { billId: owner.billId, status: "sent", payToken: { not: null } } });
      const token = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{32}$/), segment([sent.payToken!]));
      const pageTarget = fc.oneof(
        fc.constantFrom({ method: "get" as const, path: "/health" }, { method: "get" as const, path: "/ready" }),
        token.map((s) => ({ method: "get" as const, path: `/pay/${s}` })),
        token.map((s) => ({ method: "get" as const, path: `/pay/${s}/qr.png` })),
        token.map((s) => ({ method: "get" as const, path: `/pay/${s}/qr.svg` })),
        // Pressing "Pay now" on a real link would make the mock pay: only random tokens here.
        fc.stringMatching(/^[A-Za-z0-9_-]{32}$/).map((s) => ({ method: "post" as const, path: `/pay/${s}/pay` })),
        fc.record({
          method: fc.constantFrom("get" as const, "post" as const, "put" as const, "patch" as const, "delete" as const),
          path: fc.constantFrom(...routes.map((r) => pathFor(r, owner.target)), "/", "/api", API, `${API}/`, "/pay", "/docs/../openapi.json"),
        }),
      );
      await fc.assert(
        fc.asyncProperty(pageTarget, query, async ({ method, path }, q) => {
          const url = `${path}${q ? `?${q}` : ""}`;
          const res = await request(t.app)
            [method](url)
            .set("Authorization", `Bearer ${owner.token}`)
            .buffer(true)
            .parse(readAnswer as never);
          const type = res.headers["content-type"] ?? "";
          if (path.startsWith("/pay/") && !/problem\+json/.test(type)) {
            // The pay page answers people in a browser: HTML (or the QR image, or plain text where an
            // image was asked for), with its own strict policy, never a 5xx.
            expect({ url: url.slice(0, 200), status: res.status }).toEqual({ url: url.slice(0, 200), status: expect.any(Number) });
            expect([200, 303, 404, 410]).toContain(res.status);
            expect(res.headers["x-content-type-options"]).toBe("nosniff");
            if (res.status >= 400) expect(type).toMatch(/^text\/(html|plain)/);
          } else {
            expectWellRefused(res, { method, url: url.slice(0, 200) });
          }
        }),
        { numRuns: 120 },
      );
    },
    GENERATED_TIMEOUT_MS,
  );
});
