// Rate limits when several instances run behind a load balancer: the client's address comes from
// the proxies named in TRUST_PROXY.
import request from "supertest";
import { expectProblem, API } from "../support/http";
import { createTestApp, type TestApp } from "../support/test-app";

/** A bearer token that looks like a JWT and is refused: only the refused-credential limit counts it. */
const madeUpToken = (i: number) => `Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4${i}In0.${"A".repeat(43)}`;

let tokens = 0;
/** Statuses of refused requests that claim, through X-Forwarded-For, to come from `forwardedFor`. */
async function refusedFrom(t: TestApp, forwardedFor: string | undefined, times = 1): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < times; i += 1) {
    const req = request(t.app).get(`${API}/bills`).set("Authorization", madeUpToken((tokens += 1)));
    if (forwardedFor !== undefined) req.set("X-Forwarded-For", forwardedFor);
    statuses.push((await req).status);
  }
  return statuses;
}

describe("the client address of the refused-credential limit", () => {
  const apps: TestApp[] = [];
  const appWith = async (env: Record<string, string>) => {
    const t = await createTestApp({ env: { RATE_LIMIT_PER_MINUTE: "2", ...env } });
    apps.push(t);
    return t;
  };
  afterAll(() => Promise.all(apps.map((t) => t.close())));

  it("when TRUST_PROXY is unset, then X-Forwarded-For is ignored: every claimed client shares the connecting address's count", async () => {
    const t = await appWith({});
    expect([
      ...(await refusedFrom(t, "203.0.113.1")),
      ...(await refusedFrom(t, "203.0.113.2")),
      ...(await refusedFrom(t, "203.0.113.3")),
    ]).toEqual([401, 401, 429]);
  });

  it("when TRUST_PROXY names the load balancer, then each client behind it has its own count", async () => {
    const t = await appWith({ TRUST_PROXY: "loopback, 10.0.0.0/8" });
    expect(await refusedFrom(t, "203.0.113.1", 3)).toEqual([401, 401, 429]);
    expectProblem(await request(t.app).get(`${API}/bills`).set("Authorization", madeUpToken(0)).set("X-Forwarded-For", "203.0.113.1"), 429, "rate_limited");
    // Another client through the same load balancer, and the load balancer itself, are not limited by it.
    expect(await refusedFrom(t, "203.0.113.2", 2)).toEqual([401, 401]);
    expect(await refusedFrom(t, undefined, 2)).toEqual([401, 401]);
    // A client that is itself a trusted address (one hop further in) is counted by where it came from.
    expect(await refusedFrom(t, "203.0.113.3, 10.1.2.3")).toEqual([401]);
    expect(await refusedFrom(t, "203.0.113.1, 10.1.2.3")).toEqual([429]);
  });

  it("when TRUST_PROXY is a hop count, then only the address the load balancer appended counts, not what the client wrote before it", async () => {
    const t = await appWith({ TRUST_PROXY: "1" });
    expect([
      ...(await refusedFrom(t, "198.51.100.7, 203.0.113.1")),
      ...(await refusedFrom(t, "198.51.100.8, 203.0.113.1")),
      ...(await refusedFrom(t, "198.51.100.9, 203.0.113.1")),
    ]).toEqual([401, 401, 429]);
    expect(await refusedFrom(t, "198.51.100.7, 203.0.113.2")).toEqual([401]);
  });
});
