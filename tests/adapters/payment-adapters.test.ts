// The payment-system adapters against small local servers: the mock's signed webhooks (success,
// failure, duplicates, out of order, retries) and the HTTP adapter's request.
import { createServer, type IncomingMessage } from "node:http";
import pino from "pino";
import { listen, until } from "../support/net";
import { HttpPaymentSystem } from "../../src/adapters/payments/http-payment-system";
import { MockPaymentSystem } from "../../src/adapters/payments/mock-payment-system";
import { PAYMENT_SIGNATURE_HEADER } from "../../src/adapters/payments/payment-system";
import { verifySignature } from "../../src/domain/signature";

const secret = "mock-payment-secret-for-tests";
const logger = pino({ level: "silent" });

function receiver(statuses: number[] = [200]) {
  const received: { headers: IncomingMessage["headers"]; raw: Buffer }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, raw: Buffer.concat(chunks) });
      res.statusCode = statuses[Math.min(received.length - 1, statuses.length - 1)];
      res.end("{}");
    });
  });
  return { server, received, events: () => received.map((r) => JSON.parse(r.raw.toString())) };
}

const input = (webhookUrl: string) => ({
  paymentRequestId: "01a207c9-a789-71bc-bab2-18da81c8123d",
  reference: "CBREF123",
  amount: "33.34",
  currency: "USD",
  description: "Pho: Bob's share",
  expiresAt: new Date("2026-12-01T00:00:00Z"),
  payToken: "t".repeat(32),
  webhookUrl,
});

describe("MockPaymentSystem", () => {
  it("returns an id and a pay-page link, then sends a signed succeeded webhook after its delay", async () => {
    const r = receiver();
    const url = await listen(r.server);
    const mock = new MockPaymentSystem({ secret, delayMs: 20, logger, publicBaseUrl: () => "https://chillbill.example" });
    try {
      const created = await mock.createPayment(input(url));
      expect(created.paymentId).toMatch(/^pay_/);
      expect(created.paymentLink).toBe(`https://chillbill.example/pay/${"t".repeat(32)}`);
      await until(() => r.received.length === 1);
      expect(() => verifySignature(r.received[0].headers[PAYMENT_SIGNATURE_HEADER] as string, r.received[0].raw, secret, new Date())).not.toThrow();
      expect(r.events()[0]).toMatchObject({
        type: "payment.succeeded",
        data: { paymentId: created.paymentId, reference: "CBREF123", amount: "33.34", currency: "USD" },
      });
    } finally {
      await mock.close();
      r.server.close();
    }
  });

  it("does not collect by itself a payment already paid through the pay page", async () => {
    const r = receiver();
    const url = await listen(r.server);
    const mock = new MockPaymentSystem({ secret, delayMs: 30, logger, publicBaseUrl: () => "x" });
    try {
      const created = await mock.createPayment(input(url));
      mock.settle({ paymentId: created.paymentId, reference: "CBREF123", amount: "33.34", currency: "USD", webhookUrl: url });
      await until(() => r.received.length === 1);
      await new Promise((res) => setTimeout(res, 120)); // well past the delay
      expect(r.events().map((e) => e.type)).toEqual(["payment.succeeded"]);
    } finally {
      await mock.close();
      r.server.close();
    }
  });

  it("with delay 0 never pays by itself", async () => {
    const r = receiver();
    const url = await listen(r.server);
    const mock = new MockPaymentSystem({ secret, delayMs: 0, logger, publicBaseUrl: () => "x" });
    await mock.createPayment(input(url));
    await new Promise((res) => setTimeout(res, 100));
    expect(r.received).toHaveLength(0);
    await mock.close();
    r.server.close();
  });

  it("can fail, send duplicates and deliver a stale failure after the success", async () => {
    const r = receiver();
    const url = await listen(r.server);
    const mock = new MockPaymentSystem({ secret, delayMs: 0, logger, publicBaseUrl: () => "x" });
    const ref = { paymentId: "pay_1", reference: "CB1", amount: "1.00", currency: "USD", webhookUrl: url };
    try {
      mock.behaviour = { ...mock.behaviour, fail: true, duplicates: 1, outOfOrder: false };
      mock.settle(ref);
      await until(() => r.received.length === 1);
      expect(r.events()[0]).toMatchObject({ type: "payment.failed", data: { reason: "card declined" } });

      mock.behaviour = { ...mock.behaviour, fail: false, duplicates: 3, outOfOrder: true };
      mock.settle(ref);
      await until(() => r.received.length === 7);
      const later = r.events().slice(1);
      const successes = later.filter((e) => e.type === "payment.succeeded");
      expect(successes).toHaveLength(3);
      expect(new Set(successes.map((e) => e.id)).size).toBe(1);
      expect(later.filter((e) => e.type === "payment.failed")).toHaveLength(3);
    } finally {
      await mock.close();
      r.server.close();
    }
  });

  it("sends again, with backoff, until it gets a 2xx", async () => {
    const r = receiver([500, 503, 200]);
    const url = await listen(r.server);
    const mock = new MockPaymentSystem({ secret, delayMs: 0, logger, publicBaseUrl: () => "x", firstBackoffMs: 20 });
    try {
      mock.settle({ paymentId: "pay_2", reference: "CB2", amount: "1.00", currency: "USD", webhookUrl: url });
      await until(() => r.received.length === 3);
      expect(new Set(r.events().map((e) => e.id)).size).toBe(1);
      await new Promise((res) => setTimeout(res, 200));
      expect(r.received).toHaveLength(3);
    } finally {
      await mock.close();
      r.server.close();
    }
  });
});

describe("MockPaymentSystem.getPayment", () => {
  const ref = (paymentId: string, webhookUrl: string) => ({ paymentId, reference: "CBREF123", amount: "33.34", currency: "USD", webhookUrl });

  it("says where each payment stands: pending, then what the webhook reported, with its event id", async () => {
    const r = receiver();
    const url = await listen(r.server);
    const mock = new MockPaymentSystem({ secret, delayMs: 0, logger, publicBaseUrl: () => "x" });
    try {
      const { paymentId } = await mock.createPayment(input(url));
      expect(await mock.getPayment(paymentId)).toEqual({ paymentId, status: "pending", reference: "CBREF123", amount: "33.34", currency: "USD" });
      mock.settle(ref(paymentId, url));
      await until(() => r.received.length === 1);
      const sent = r.events()[0];
      expect(await mock.getPayment(paymentId)).toEqual({
        paymentId,
        status: "succeeded",
        reference: "CBREF123",
        amount: "33.34",
        currency: "USD",
        paidAt: expect.any(Date),
        eventId: sent.id,
      });
      expect(await mock.getPayment("pay_unknown")).toBeUndefined();
    } finally {
      await mock.close();
      r.server.close();
    }
  });

  it("with webhooks lost, pays and reports it to getPayment but sends nothing", async () => {
    const r = receiver();
    const url = await listen(r.server);
    const mock = new MockPaymentSystem({ secret, delayMs: 0, logger, publicBaseUrl: () => "x" });
    try {
      const { paymentId } = await mock.createPayment(input(url));
      mock.behaviour.loseWebhooks = true;
      mock.settle(ref(paymentId, url));
      await new Promise((res) => setTimeout(res, 100));
      expect(r.received).toHaveLength(0);
      expect(await mock.getPayment(paymentId)).toMatchObject({ status: "succeeded", amount: "33.34", eventId: expect.stringMatching(/^evt_/) });
    } finally {
      await mock.close();
      r.server.close();
    }
  });

  it("reports failures, expiry (with its webhook) and cancellation; a cancelled payment is never collected", async () => {
    const r = receiver();
    const url = await listen(r.server);
    const mock = new MockPaymentSystem({ secret, delayMs: 0, logger, publicBaseUrl: () => "x" });
    const create = (id: string) => mock.createPayment({ ...input(url), paymentRequestId: id });
    try {
      const failed = await create("01a207c9-a789-71bc-bab2-18da81c81201");
      mock.behaviour.fail = true;
      mock.settle(ref(failed.paymentId, url));
      mock.behaviour.fail = false;
      expect(await mock.getPayment(failed.paymentId)).toMatchObject({ status: "failed", reason: "card declined" });

      const expired = await create("01a207c9-a789-71bc-bab2-18da81c81202");
      mock.expire(expired.paymentId);
      expect(await mock.getPayment(expired.paymentId)).toMatchObject({ status: "expired", reason: "not paid in time" });
      await until(() => r.events().some((e) => e.type === "payment.expired"));
      expect(r.events().find((e) => e.type === "payment.expired")).toMatchObject({ data: { paymentId: expired.paymentId, reason: "not paid in time" } });

      const cancelled = await create("01a207c9-a789-71bc-bab2-18da81c81203");
      await mock.cancelPayment(cancelled.paymentId);
      mock.settle(ref(cancelled.paymentId, url));
      expect(await mock.getPayment(cancelled.paymentId)).toMatchObject({ status: "cancelled" });
      expect(await mock.getPayment(failed.paymentId)).toMatchObject({ status: "failed" });
      // Cancelling one that already ended leaves it as it ended.
      await mock.cancelPayment(expired.paymentId);
      expect(await mock.getPayment(expired.paymentId)).toMatchObject({ status: "expired" });
    } finally {
      await mock.close();
      r.server.close();
    }
  });
});

describe("HttpPaymentSystem", () => {
  it("creates the payment with our reference and an idempotency key, and reads id and link", async () => {
    let seen: { url?: string; headers?: IncomingMessage["headers"]; body?: Record<string, unknown> } = {};
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => {
        seen = { url: req.url, headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString()) };
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ id: "pay_real_1", paymentLink: "https://pay.bank/p/1" }));
      });
    });
    const url = await listen(server);
    try {
      const created = await new HttpPaymentSystem(`${url}/v2`).createPayment(input("https://chillbill.example/webhook"));
      expect(created).toEqual({ paymentId: "pay_real_1", paymentLink: "https://pay.bank/p/1" });
      expect(seen.url).toBe("/v2/payments");
      expect(seen.headers?.["idempotency-key"]).toBe("01a207c9-a789-71bc-bab2-18da81c8123d");
      expect(seen.body).toMatchObject({ reference: "CBREF123", amount: "33.34", currency: "USD", webhookUrl: "https://chillbill.example/webhook" });
    } finally {
      server.close();
    }
  });

  it("fails on a refusal or an answer without id and link", async () => {
    let status = 502;
    const server = createServer((_req, res) => {
      res.statusCode = status;
      res.end(JSON.stringify({}));
    });
    const url = await listen(server);
    try {
      await expect(new HttpPaymentSystem(url).createPayment(input("x"))).rejects.toThrow(/HTTP 502/);
      status = 200;
      await expect(new HttpPaymentSystem(url).createPayment(input("x"))).rejects.toThrow(/no payment id or link/);
    } finally {
      server.close();
    }
  });
});

describe("HttpPaymentSystem.getPayment", () => {
  /** A payment system that answers GET /payments/{id} with `answer` (status and body). */
  async function answering(answer: () => { status: number; body: unknown }) {
    const seen: { method?: string; url?: string; headers: IncomingMessage["headers"] }[] = [];
    const server = createServer((req, res) => {
      seen.push({ method: req.method, url: req.url, headers: req.headers });
      const { status, body } = answer();
      res.statusCode = status;
      res.setHeader("content-type", "application/json");
      res.end(typeof body === "string" ? body : JSON.stringify(body));
    });
    return { server, seen, url: await listen(server) };
  }

  const paid = {
    id: "pay/real 1",
    status: "succeeded",
    reference: "CBREF123",
    amount: "33.34",
    currency: "USD",
    paidAt: "2026-11-20T12:01:02.000Z",
    eventId: "evt_9",
  };

  it("asks GET {base}/payments/{id} and reads where the payment stands", async () => {
    const api = await answering(() => ({ status: 200, body: paid }));
    try {
      const state = await new HttpPaymentSystem(`${api.url}/v2/`).getPayment("pay/real 1");
      expect(state).toEqual({
        paymentId: "pay/real 1",
        status: "succeeded",
        reference: "CBREF123",
        amount: "33.34",
        currency: "USD",
        paidAt: new Date("2026-11-20T12:01:02.000Z"),
        eventId: "evt_9",
      });
      expect(api.seen).toEqual([expect.objectContaining({ method: "GET", url: "/v2/payments/pay%2Freal%201" })]);
      expect(api.seen[0].headers.accept).toBe("application/json");
    } finally {
      api.server.close();
    }
  });

  it("answers undefined for a payment the payment system does not know (404)", async () => {
    const api = await answering(() => ({ status: 404, body: { error: "not found" } }));
    try {
      expect(await new HttpPaymentSystem(api.url).getPayment("pay_gone")).toBeUndefined();
    } finally {
      api.server.close();
    }
  });

  it("fails on an error status, an answer that is not a payment, or an answer about another payment", async () => {
    let answer: { status: number; body: unknown } = { status: 503, body: {} };
    const api = await answering(() => answer);
    const payments = new HttpPaymentSystem(api.url);
    try {
      await expect(payments.getPayment("pay/real 1")).rejects.toThrow(/HTTP 503/);
      answer = { status: 200, body: { ...paid, status: "refunded" } };
      await expect(payments.getPayment("pay/real 1")).rejects.toThrow(/not a payment: status/);
      answer = { status: 200, body: { ...paid, amount: 33.34 } };
      await expect(payments.getPayment("pay/real 1")).rejects.toThrow(/not a payment: amount/);
      answer = { status: 200, body: "<html>" };
      await expect(payments.getPayment("pay/real 1")).rejects.toThrow(/not a payment/);
      answer = { status: 200, body: { ...paid, id: "pay_other" } };
      await expect(payments.getPayment("pay/real 1")).rejects.toThrow(/answered for payment pay_other/);
    } finally {
      api.server.close();
    }
  });

  it("gives up after its timeout on a payment system that does not answer", async () => {
    const server = createServer(() => undefined); // accepts, never answers
    const url = await listen(server);
    const started = Date.now();
    try {
      await expect(new HttpPaymentSystem(url, 200).getPayment("pay_1")).rejects.toThrow(/timeout|aborted/i);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
