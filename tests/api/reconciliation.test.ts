// Reconciliation: a payment the payment system made but never reported (its webhook lost) is found
// by asking it, and applied as the webhook would have been, exactly once, whatever comes after.
import type { MockPaymentSystem } from "../../src/adapters/payments/mock-payment-system";
import type { PaymentState } from "../../src/adapters/payments/payment-system";
import { reconcileEventId, type ReconciliationService } from "../../src/modules/payments/reconciliation.service";
import { as } from "../support/http";
import { assertMoneyInvariants, moneySnapshot, readMoneyState } from "../support/money-invariants";
import { billWithRequests, paymentEvent, postWebhook, type RequestOut } from "../support/payments";
import { createTestApp, TestClock, type TestApp } from "../support/test-app";

let t: TestApp;
const clock = new TestClock();
beforeAll(async () => {
  t = await createTestApp({ clock });
});
afterAll(() => t.close());

const AFTER_MS = 15 * 60_000; // RECONCILE_AFTER_MS's default
const mock = () => t.app.locals.adapters.payments as MockPaymentSystem;
const reconciliation = (): ReconciliationService => t.app.locals.services.reconciliation;
const requestRow = (id: string) => t.db.prisma.paymentRequest.findUniqueOrThrow({ where: { id } });
const participantRow = (id: string) => t.db.prisma.participant.findUniqueOrThrow({ where: { id } });
const paymentsOf = (requestId: string) => t.db.prisma.payment.findMany({ where: { paymentRequestId: requestId } });

/** The payer pays (or fails to), and the payment system dies before it sends the webhook. */
function settleAndLoseWebhook(r: RequestOut, outcome: "succeeded" | "failed" = "succeeded") {
  const before = mock().behaviour;
  mock().behaviour = { ...before, loseWebhooks: true, fail: outcome === "failed" };
  try {
    mock().settle({ paymentId: r.paymentId, reference: r.reference, amount: r.amount, currency: r.currency, webhookUrl: "http://127.0.0.1:9/never" });
  } finally {
    mock().behaviour = before;
  }
}

/** The payment system's event for the outcome it recorded but never delivered, now delivered late. */
async function lostEvent(r: RequestOut, type: "payment.succeeded" | "payment.failed" = "payment.succeeded") {
  const state = (await mock().getPayment(r.paymentId)) as PaymentState;
  return paymentEvent(r, type, { id: state.eventId, ...(state.reason ? { reason: state.reason } : {}) });
}

describe("a webhook that never came", () => {
  it("is found by asking the payment system once the request is unheard of for RECONCILE_AFTER_MS: the participant is paid, the bill completed, every report agrees", async () => {
    const { token, billId, requestOf, byName } = await billWithRequests(t, ["me", "A", "B"]);
    const [a, b] = [requestOf("A"), requestOf("B")];
    settleAndLoseWebhook(a);
    settleAndLoseWebhook(b);
    expect((await requestRow(a.id)).status).toBe("sent");

    // Not yet: a webhook may still be on its way.
    clock.advance(AFTER_MS - 1_000);
    expect(await reconciliation().reconcileStale({ billId })).toEqual([]);

    clock.advance(2_000);
    const results = await reconciliation().reconcileStale({ billId });
    expect(results.sort((x, y) => x.paymentId.localeCompare(y.paymentId))).toEqual(
      [a, b]
        .map((r) => ({ requestId: r.id, paymentId: r.paymentId, status: "succeeded", outcome: "applied" }))
        .sort((x, y) => x.paymentId.localeCompare(y.paymentId)),
    );

    for (const [name, r] of [
      ["A", a],
      ["B", b],
    ] as const) {
      expect(await requestRow(r.id)).toMatchObject({ status: "paid", reconciledAt: clock.now() });
      expect(await participantRow(byName[name])).toMatchObject({ paymentStatus: "paid", outstandingAmount: expect.anything() });
      expect((await participantRow(byName[name])).outstandingAmount.toFixed(2)).toBe("0.00");
      expect((await paymentsOf(r.id)).map((p) => [p.amount.toFixed(2), p.eventId])).toEqual([[r.amount, reconcileEventId(r.paymentId, "succeeded")]]);
    }
    const status = await as(t, token).get(`/bills/${billId}/status`);
    expect(status.body).toMatchObject({ status: "completed" });
    const state = await assertMoneyInvariants(t, { billId, token });
    expect(state.bill.status).toBe("completed");
    // Recorded as the webhook records its events, and the history says the payment system did it.
    expect(state.events.map((e) => [e.id, e.outcome]).sort()).toEqual([a, b].map((r) => [reconcileEventId(r.paymentId, "succeeded"), "applied"]).sort());
    const paidRows = state.history.filter(
      (h) => h.entity_type === "participant" && h.new_status === "paid" && (h.participant_name === "A" || h.participant_name === "B"),
    );
    expect(paidRows.map((h) => h.changed_by)).toEqual(["webhook", "webhook"]);
    // The creator is told, as after a webhook.
    expect(await t.db.prisma.notification.count({ where: { billId, type: "payment_received" } })).toBeGreaterThanOrEqual(2);
  });

  it("asks only about the bill it is given", async () => {
    const one = await billWithRequests(t, ["me", "A"]);
    const other = await billWithRequests(t, ["me", "A"]);
    settleAndLoseWebhook(one.requestOf("A"));
    settleAndLoseWebhook(other.requestOf("A"));
    clock.advance(AFTER_MS + 1_000);
    expect((await reconciliation().reconcileStale({ billId: one.billId })).map((r) => r.requestId)).toEqual([one.requestOf("A").id]);
    expect((await requestRow(other.requestOf("A").id)).status).toBe("sent");
    expect((await reconciliation().reconcileStale({ billId: other.billId })).map((r) => r.outcome)).toEqual(["applied"]);
  });
});

describe("exactly once", () => {
  it("reconciling again, or twice at once, applies the payment once", async () => {
    const { token, billId, requestOf, byName } = await billWithRequests(t, ["me", "A", "B"]);
    const a = requestOf("A");
    settleAndLoseWebhook(a);
    clock.advance(AFTER_MS + 1_000);

    const both = await Promise.all([reconciliation().reconcile(a.id), reconciliation().reconcile(a.id)]);
    expect(both.map((r) => r?.outcome).sort()).toEqual(["applied", "duplicate"]);
    expect(await reconciliation().reconcile(a.id)).toMatchObject({ status: "succeeded", outcome: "duplicate" });
    // The sweep no longer sees it: it is paid.
    clock.advance(AFTER_MS + 1_000);
    expect((await reconciliation().reconcileStale({ billId })).map((r) => r.requestId)).not.toContain(a.id);

    expect(await paymentsOf(a.id)).toHaveLength(1);
    await assertMoneyInvariants(t, { billId, token });
    expect((await participantRow(byName.A)).paidAmount.toFixed(2)).toBe(a.amount);
  });

  it("the real webhook arriving after reconciliation, under its own event id, is ignored: the request's payment is counted once", async () => {
    const { token, billId, requestOf, byName } = await billWithRequests(t, ["me", "A", "B"]);
    const a = requestOf("A");
    settleAndLoseWebhook(a);
    clock.advance(AFTER_MS + 1_000);
    // B has not paid: asked about, nothing to apply.
    expect((await reconciliation().reconcileStale({ billId })).map((r) => [r.requestId, r.outcome]).sort()).toEqual(
      [
        [a.id, "applied"],
        [requestOf("B").id, "unchanged"],
      ].sort(),
    );

    const late = await lostEvent(a);
    expect(late.id).toMatch(/^evt_/);
    const res = await postWebhook(t, late);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ eventId: late.id, outcome: "ignored" });
    // And delivered again: a duplicate, as any webhook.
    expect((await postWebhook(t, late)).body).toEqual({ eventId: late.id, outcome: "duplicate" });

    expect(await paymentsOf(a.id)).toHaveLength(1);
    expect((await participantRow(byName.A)).paidAmount.toFixed(2)).toBe(a.amount);
    const state = await assertMoneyInvariants(t, { billId, token });
    expect(
      state.events
        .filter((e) => e.payment_request_id === a.id)
        .map((e) => [e.id, e.outcome])
        .sort(),
    ).toEqual(
      [
        [late.id, "ignored"],
        [reconcileEventId(a.paymentId, "succeeded"), "applied"],
      ].sort(),
    );
  });

  it("reconciling after the webhook was applied is ignored", async () => {
    const { token, billId, requestOf } = await billWithRequests(t, ["me", "A", "B"]);
    const a = requestOf("A");
    settleAndLoseWebhook(a);
    expect((await postWebhook(t, await lostEvent(a))).body.outcome).toBe("applied"); // it came after all
    expect(await reconciliation().reconcile(a.id)).toMatchObject({ status: "succeeded", outcome: "ignored" });
    expect(await paymentsOf(a.id)).toHaveLength(1);
    await assertMoneyInvariants(t, { billId, token });
  });
});

describe("other answers", () => {
  /** What a request and its participant look like after an outcome: its status, reason, history. */
  async function outcomeOf(billId: string, requestId: string, participantId: string) {
    const [request, participant, history] = await Promise.all([
      requestRow(requestId),
      participantRow(participantId),
      t.db.prisma.statusHistory.findMany({ where: { billId, participantId }, orderBy: [{ createdAt: "asc" }, { id: "asc" }] }),
    ]);
    return {
      request: [request.status, request.statusReason],
      participant: [participant.paymentStatus, participant.outstandingAmount.toFixed(2)],
      // What the outcome wrote (the rows before it name the bill's own creator and reference).
      outcome: history
        .filter((h) => h.changedBy === "webhook")
        .map((h) => [h.entityType, h.previousStatus, h.newStatus, h.reason?.replace(request.reference, "<reference>")]),
    };
  }

  it("a failure is applied as its webhook would be: the request fails and its participant can be asked again", async () => {
    const byWebhook = await billWithRequests(t, ["me", "A"]);
    const byReconciliation = await billWithRequests(t, ["me", "A"]);
    const viaWebhook = byWebhook.requestOf("A");
    const viaReconciliation = byReconciliation.requestOf("A");
    settleAndLoseWebhook(viaWebhook, "failed");
    settleAndLoseWebhook(viaReconciliation, "failed");
    expect((await postWebhook(t, await lostEvent(viaWebhook, "payment.failed"))).body.outcome).toBe("applied");
    clock.advance(AFTER_MS + 1_000);
    expect(await reconciliation().reconcileStale({ billId: byReconciliation.billId })).toEqual([
      { requestId: viaReconciliation.id, paymentId: viaReconciliation.paymentId, status: "failed", outcome: "applied" },
    ]);

    const expected = await outcomeOf(byWebhook.billId, viaWebhook.id, byWebhook.byName.A);
    expect(expected.request).toEqual(["failed", "payment system: failed (card declined)"]);
    expect(expected.outcome.length).toBeGreaterThanOrEqual(2);
    expect(await outcomeOf(byReconciliation.billId, viaReconciliation.id, byReconciliation.byName.A)).toEqual(expected);
    await assertMoneyInvariants(t, { billId: byReconciliation.billId, token: byReconciliation.token });
    // Asked again, a new request goes out.
    const again = await as(t, byReconciliation.token).post(`/bills/${byReconciliation.billId}/participants/${byReconciliation.byName.A}/request-payment`);
    expect(again.status).toBe(200);
    expect(again.body.requests[0]).toMatchObject({ status: "sent", retryCount: 1 });
  });

  it("an expiry at the payment system is applied as its webhook would be", async () => {
    const { token, billId, requestOf, byName } = await billWithRequests(t, ["me", "A"]);
    const a = requestOf("A");
    mock().behaviour.loseWebhooks = true;
    try {
      mock().expire(a.paymentId);
    } finally {
      mock().behaviour.loseWebhooks = false;
    }
    clock.advance(AFTER_MS + 1_000);
    expect(await reconciliation().reconcileStale({ billId })).toEqual([{ requestId: a.id, paymentId: a.paymentId, status: "expired", outcome: "applied" }]);
    expect(await requestRow(a.id)).toMatchObject({ status: "expired", statusReason: "payment system: expired (not paid in time)" });
    expect((await participantRow(byName.A)).paymentStatus).toBe("pending");
    await assertMoneyInvariants(t, { billId, token });
  });

  it("a late success after a reconciled failure still counts", async () => {
    const { token, billId, requestOf } = await billWithRequests(t, ["me", "A"]);
    const a = requestOf("A");
    settleAndLoseWebhook(a, "failed");
    clock.advance(AFTER_MS + 1_000);
    expect((await reconciliation().reconcileStale({ billId }))[0]).toMatchObject({ status: "failed", outcome: "applied" });
    settleAndLoseWebhook(a); // the payer tried again on the same payment, and it went through
    expect(await reconciliation().reconcile(a.id)).toMatchObject({ status: "succeeded", outcome: "applied" });
    expect((await requestRow(a.id)).status).toBe("paid");
    const state = await assertMoneyInvariants(t, { billId, token });
    expect(state.bill.status).toBe("completed");
  });

  it("a pending, cancelled or unknown payment changes nothing, and is not asked about again until RECONCILE_AFTER_MS has passed", async () => {
    const { token, billId, requestOf } = await billWithRequests(t, ["me", "A", "B", "C"]);
    const [a, b, c] = [requestOf("A"), requestOf("B"), requestOf("C")];
    await mock().cancelPayment(b.paymentId); // cancelled there, by someone else
    await t.db.sql.query("UPDATE payment_requests SET payment_id = $2 WHERE id = $1::uuid", [c.id, `pay_unknown_${c.id}`]);
    const before = moneySnapshot(await readMoneyState(t.db.sql, billId), { withEvents: true });

    clock.advance(AFTER_MS + 1_000);
    const results = await reconciliation().reconcileStale({ billId });
    expect(Object.fromEntries(results.map((r) => [r.requestId, [r.status, r.outcome]]))).toEqual({
      [a.id]: ["pending", "unchanged"],
      [b.id]: ["cancelled", "unchanged"],
      [c.id]: ["unknown", "unchanged"],
    });
    expect(moneySnapshot(await readMoneyState(t.db.sql, billId), { withEvents: true })).toBe(before);
    await assertMoneyInvariants(t, { billId, token });

    clock.advance(AFTER_MS - 1_000);
    expect(await reconciliation().reconcileStale({ billId })).toEqual([]);
    clock.advance(2_000);
    expect(await reconciliation().reconcileStale({ billId })).toHaveLength(3);
  });
});

describe("a run", () => {
  it("goes on past a request the payment system cannot answer about, and asks about that one again later", async () => {
    const { token, billId, requestOf } = await billWithRequests(t, ["me", "A", "B"]);
    const [a, b] = [requestOf("A"), requestOf("B")];
    settleAndLoseWebhook(a);
    settleAndLoseWebhook(b);
    const original = mock().getPayment.bind(mock());
    mock().getPayment = async (paymentId) => {
      if (paymentId === a.paymentId) throw new Error("payment system: 503");
      return original(paymentId);
    };
    try {
      clock.advance(AFTER_MS + 1_000);
      const results = await reconciliation().reconcileStale({ billId });
      expect(Object.fromEntries(results.map((r) => [r.requestId, r.outcome]))).toEqual({ [a.id]: "error", [b.id]: "applied" });
    } finally {
      mock().getPayment = original;
    }
    expect((await requestRow(a.id)).status).toBe("sent");
    expect((await requestRow(b.id)).status).toBe("paid");

    clock.advance(AFTER_MS + 1_000);
    expect(await reconciliation().reconcileStale({ billId })).toEqual([{ requestId: a.id, paymentId: a.paymentId, status: "succeeded", outcome: "applied" }]);
    const state = await assertMoneyInvariants(t, { billId, token });
    expect(state.bill.status).toBe("completed");
  });

  it("stops taking requests once its time budget is spent; the rest are first next time, none asked twice", async () => {
    const { billId, requests } = await billWithRequests(t, ["me", "A", "B", "C", "D"]);
    const original = mock().getPayment.bind(mock());
    mock().getPayment = async (paymentId) => {
      await new Promise((resolve) => setTimeout(resolve, 80));
      return original(paymentId);
    };
    try {
      clock.advance(AFTER_MS + 1_000);
      const first = await reconciliation().reconcileStale({ billId, budgetMs: 100 });
      expect(first.length).toBeGreaterThanOrEqual(1);
      expect(first.length).toBeLessThan(4);
      const second = await reconciliation().reconcileStale({ billId, budgetMs: 10_000 });
      expect([...first, ...second].map((r) => r.requestId).sort()).toEqual(requests.map((r) => r.id).sort());
    } finally {
      mock().getPayment = original;
    }
  });

  it("reconciles nothing for a request that never reached the payment system", async () => {
    expect(await reconciliation().reconcile("01a207c9-a789-71bc-bab2-18da81c8ffff")).toBeUndefined();
  });
});

describe("reconcileEventId", () => {
  it("is the same for the same payment and status, different otherwise, and fits an event id", () => {
    expect(reconcileEventId("pay_1", "succeeded")).toBe("reconcile:pay_1:succeeded");
    expect(reconcileEventId("pay_1", "failed")).not.toBe(reconcileEventId("pay_1", "succeeded"));
    const long = "p".repeat(128);
    expect(reconcileEventId(long, "succeeded")).toBe(reconcileEventId(long, "succeeded"));
    expect(reconcileEventId(long, "succeeded").length).toBeLessThanOrEqual(128);
    expect(reconcileEventId(long, "succeeded")).not.toBe(reconcileEventId(`${"p".repeat(127)}q`, "succeeded"));
  });
});
