// Bills ready to be paid, and signed payment-system webhooks, for the tests.
import request from "supertest";
import { v7 as uuidv7 } from "uuid";
import { PAYMENT_SIGNATURE_HEADER, type PaymentEventBody } from "../../src/adapters/payments/payment-system";
import { signPayload } from "../../src/domain/signature";
import { createBill } from "./builders";
import { API, as } from "./http";
import { newUserId, TEST_PAYMENT_SECRET, type TestApp } from "./test-app";

/** A participant to add with contact details (the body of POST /bills/{id}/participants). */
export interface PersonToAdd {
  name: string;
  phone?: string;
  email?: string;
}

/**
 * A bill split equally among the named people ("me" is the creator), ready for payment requests.
 * A person given as an object is added with those details (a phone or an email: they are told).
 */
export async function splitBill(t: TestApp, names: (string | PersonToAdd)[], bill: Record<string, unknown> = {}) {
  const userId = newUserId();
  const token = await t.tokenFor(userId);
  const b = await createBill(t, token, bill);
  const people: { id: string; name: string }[] = [];
  for (const person of names) {
    const name = typeof person === "string" ? person : person.name;
    const body = typeof person !== "string" ? person : name === "me" ? { name, userId } : name === "Alice" ? { name, phone: "+84901234567" } : { name };
    const res = await as(t, token).post(`/bills/${b.id}/participants`).send(body);
    if (res.status !== 201) throw new Error(`add ${name}: ${res.status} ${JSON.stringify(res.body)}`);
    people.push(res.body);
  }
  const split = await as(t, token).post(`/bills/${b.id}/split/equal`).send({});
  if (split.status !== 200) throw new Error(`split: ${split.status} ${JSON.stringify(split.body)}`);
  return { token, userId, billId: b.id, people, byName: Object.fromEntries(people.map((p) => [p.name, p.id])) as Record<string, string> };
}

/** A payment request as request-payments returns it. */
export interface RequestOut {
  id: string;
  participantId: string;
  participantName: string;
  paymentId: string;
  reference: string;
  amount: string;
  currency: string;
  channel: string;
  status: string;
  paymentLink: string;
  qrCode: string | null;
  qrCodeSvgUrl: string | null;
  retryCount: number;
}

/**
 * The one fixture for "a bill with payment requests out": split equally among `names` (as
 * splitBill), then everyone who owes is asked to pay. `requestOf(name)` finds a person's request.
 */
export async function billWithRequests(t: TestApp, names: string[], bill: Record<string, unknown> = {}) {
  const split = await splitBill(t, names, bill);
  const res = await as(t, split.token).post(`/bills/${split.billId}/request-payments`);
  if (res.status !== 200) throw new Error(`request-payments: ${res.status} ${JSON.stringify(res.body)}`);
  const requests = res.body.requests as RequestOut[];
  const requestOf = (name: string) => {
    const r = requests.find((x) => x.participantId === split.byName[name]);
    if (!r) throw new Error(`no request for ${name}`);
    return r;
  };
  return { ...split, requests, requestOf };
}

export function paymentEvent(
  r: { paymentId: string | null; reference: string; amount: string; currency: string },
  type: PaymentEventBody["type"] = "payment.succeeded",
  overrides: Partial<PaymentEventBody["data"]> & { id?: string } = {},
): PaymentEventBody {
  const { id, ...data } = overrides;
  return {
    id: id ?? `evt_${uuidv7()}`,
    type,
    created: Math.floor(Date.now() / 1000),
    data: { paymentId: r.paymentId ?? "unknown", reference: r.reference, amount: r.amount, currency: r.currency, ...data },
  };
}

/** The signature header value the payment system sends with this raw body (Stripe-like `t=...,v1=...`). */
export function webhookSignature(raw: string, secret = TEST_PAYMENT_SECRET, at: Date = new Date()): string {
  return signPayload(secret, raw, Math.floor(at.getTime() / 1000));
}

export function postWebhook(t: TestApp, event: unknown, options: { secret?: string; at?: Date; header?: string | null } = {}) {
  const raw = typeof event === "string" ? event : JSON.stringify(event);
  const at = options.at ?? t.clock?.now() ?? new Date();
  const header = options.header === undefined ? webhookSignature(raw, options.secret, at) : options.header;
  const req = request(t.app).post(`${API}/webhook/payment-callback`).set("Content-Type", "application/json");
  return (header === null ? req : req.set(PAYMENT_SIGNATURE_HEADER, header)).send(raw);
}
