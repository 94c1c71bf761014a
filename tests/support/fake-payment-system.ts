// A payment system for tests, outside the service and shared by every instance, as the bank's is:
// the HTTP API that src/adapters/payments/http-payment-system.ts calls (create, cancel, where a
// payment stands), and signed webhooks to the URL each payment was created with. Each instance gets
// its own base URL (urlFor), so the test knows which instance made each call. The test can stall
// create calls (held open, never answered, as a payment system that hangs) and pay a payment with
// its webhook sent or lost.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { v7 as uuidv7 } from "uuid";
import type { PaymentEventBody } from "../../src/adapters/payments/payment-system";
import { sendWebhook } from "./real-servers";

export interface FakePayment {
  id: string;
  /** Our payment request id: the create call's idempotency key. */
  requestId: string;
  reference: string;
  amount: string;
  currency: string;
  webhookUrl: string;
  status: "pending" | "succeeded" | "failed" | "expired" | "cancelled";
  paidAt?: string;
  eventId?: string;
}

export interface CreateCall {
  instance: string;
  requestId: string;
  /** Held open by stallCreates: never answered. */
  stalled: boolean;
}

export class FakePaymentSystem {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private base = "";
  readonly payments = new Map<string, FakePayment>();
  readonly creates: CreateCall[] = [];
  /** GET /payments/{id} calls: which instance asked about which payment. */
  readonly lookups: { instance: string; paymentId: string }[] = [];
  /** Webhooks sent, with the status of the answer (0: nobody answered). */
  readonly webhooks: { event: PaymentEventBody; status: number; outcome?: string }[] = [];
  /** While true, create calls are held open and never answered. */
  stallCreates = false;

  constructor() {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => this.handle(req, res, Buffer.concat(chunks).toString("utf8")));
    });
    this.server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** PAYMENT_API_URL for one instance. */
  urlFor(instance: string): string {
    return `${this.base}/${instance}`;
  }

  paymentsFor(requestId: string): FakePayment[] {
    return [...this.payments.values()].filter((p) => p.requestId === requestId);
  }

  /**
   * The payer pays: the payment succeeds here, and its signed webhook goes to the URL the payment was
   * created with, unless `webhook` is "lost" (the payment system dies between paying and sending).
   */
  async pay(paymentId: string, webhook: "sent" | "lost" = "sent"): Promise<PaymentEventBody> {
    const payment = this.payments.get(paymentId);
    if (!payment || payment.status !== "pending") throw new Error(`fake payment system: no pending payment ${paymentId}`);
    const event: PaymentEventBody = {
      id: `evt_${uuidv7().replace(/-/g, "")}`,
      type: "payment.succeeded",
      created: Math.floor(Date.now() / 1000),
      data: { paymentId, reference: payment.reference, amount: payment.amount, currency: payment.currency },
    };
    Object.assign(payment, { status: "succeeded", paidAt: new Date().toISOString(), eventId: event.id });
    if (webhook === "sent") await this.deliver(payment, event);
    return event;
  }

  /** Sends a payment's event (again, or late) to its webhook URL. */
  async deliver(payment: FakePayment, event: PaymentEventBody): Promise<{ status: number; outcome?: string }> {
    const target = { url: payment.webhookUrl.replace(/\/api\/chillbill\/webhook\/payment-callback$/, "") };
    const answer = await sendWebhook(target, event);
    const result = { status: answer.status, outcome: answer.body?.outcome as string | undefined };
    this.webhooks.push({ event, ...result });
    return result;
  }

  private handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const url = new URL(req.url ?? "/", this.base);
    const [, instance, ...rest] = url.pathname.split("/");
    const route = `/${rest.join("/")}`;
    const json = (status: number, value: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
    if (req.method === "POST" && route === "/payments") {
      const requestId = String(req.headers["idempotency-key"] ?? "");
      const call: CreateCall = { instance, requestId, stalled: this.stallCreates };
      this.creates.push(call);
      if (call.stalled) return; // held open until the caller gives up or the test closes it
      const input = JSON.parse(body) as { reference: string; amount: string; currency: string; webhookUrl: string };
      // Like a real payment system, the same idempotency key is the same payment.
      const existing = this.paymentsFor(requestId)[0];
      const payment = existing ?? {
        id: `fpay_${uuidv7().replace(/-/g, "")}`,
        requestId,
        reference: input.reference,
        amount: input.amount,
        currency: input.currency,
        webhookUrl: input.webhookUrl,
        status: "pending" as const,
      };
      this.payments.set(payment.id, payment);
      json(existing ? 200 : 201, { id: payment.id, paymentLink: `${this.base}/checkout/${payment.id}` });
      return;
    }
    const cancel = /^\/payments\/([^/]+)\/cancel$/.exec(route);
    if (req.method === "POST" && cancel) {
      const payment = this.payments.get(decodeURIComponent(cancel[1]));
      if (!payment) return void json(404, { error: "no such payment" });
      if (payment.status !== "pending") return void json(409, { error: `payment is ${payment.status}` });
      payment.status = "cancelled";
      json(200, { id: payment.id, status: payment.status });
      return;
    }
    const lookup = /^\/payments\/([^/]+)$/.exec(route);
    if (req.method === "GET" && lookup) {
      const paymentId = decodeURIComponent(lookup[1]);
      this.lookups.push({ instance, paymentId });
      const payment = this.payments.get(paymentId);
      if (!payment) return void json(404, { error: "no such payment" });
      const { id, status, reference, amount, currency, paidAt, eventId } = payment;
      json(200, { id, status, reference, amount, currency, ...(paidAt ? { paidAt } : {}), ...(eventId ? { eventId } : {}) });
      return;
    }
    json(404, { error: `no route ${req.method} ${route}` });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
