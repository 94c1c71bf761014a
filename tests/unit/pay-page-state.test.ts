// The pay page's one decision (src/modules/payments/pay-page-state.ts), on hand-built views: every
// state, decided from the request's status and reason code and the participant's balances.
import { PAY_PAGE_HTTP_STATUS, payPageState, type PayPageView } from "../../src/modules/payments/pay-page-state";

const USD = (amount: string) => ({ amount, currency: "USD" });

/** Bob's 50.00 request, sent, nothing paid yet, on an active bill. */
function view(
  overrides: Partial<Omit<PayPageView, "participant" | "bill">> & {
    participant?: Partial<PayPageView["participant"]>;
    bill?: Partial<PayPageView["bill"]>;
  } = {},
): PayPageView {
  const { participant, bill, ...request } = overrides;
  return {
    status: "sent",
    statusReasonCode: null,
    amount: "50.000",
    currency: "USD",
    current: null,
    ...request,
    participant: { paid: "0.000", outstanding: "50.000", refundDue: "0.000", removedAt: null, ...participant },
    bill: { status: "active", currency: "USD", ...bill },
  };
}

describe("payPageState", () => {
  it("an open request with nothing received is payable for what it asks (200)", () => {
    const state = payPageState(view());
    expect(state).toEqual({ kind: "payable", amount: USD("50.00") });
    expect(PAY_PAGE_HTTP_STATUS[state.kind]).toBe(200);
  });

  it("a request not yet with the payment system is not ready (503)", () => {
    const state = payPageState(view({ status: "pending" }));
    expect(state).toEqual({ kind: "not_ready" });
    expect(PAY_PAGE_HTTP_STATUS[state.kind]).toBe(503);
  });

  describe("paid in full", () => {
    it("says what was received, not what the request asked (200)", () => {
      // The share fell to 40.00 after a 45.00 payment for this link: 45.00 received, 5.00 owed back.
      const state = payPageState(view({ status: "paid", statusReasonCode: "paid", participant: { paid: "45.000", outstanding: "0.000", refundDue: "5.000" } }));
      expect(state).toEqual({ kind: "paid_in_full", received: USD("45.00"), refundDue: USD("5.00") });
      expect(PAY_PAGE_HTTP_STATUS[state.kind]).toBe(200);
    });

    it("has no refund due when the share was paid exactly", () => {
      expect(payPageState(view({ status: "paid", statusReasonCode: "paid", participant: { paid: "50.000", outstanding: "0.000" } }))).toEqual({
        kind: "paid_in_full",
        received: USD("50.00"),
        refundDue: null,
      });
    });
  });

  describe("partly paid (200)", () => {
    it("after 20.00 of 50.00 with no open request: received, still owed, and ask for a link", () => {
      const state = payPageState(view({ status: "paid", statusReasonCode: "paid", participant: { paid: "20.000", outstanding: "30.000" } }));
      expect(state).toEqual({ kind: "partly_paid", received: USD("20.00"), owed: USD("30.00"), pay: { kind: "ask", owed: USD("30.00") } });
      expect(PAY_PAGE_HTTP_STATUS[state.kind]).toBe(200);
    });

    it("after 20.00 of 50.00 with a newer open request for the rest: points to that request's page", () => {
      const current = { payToken: "n".repeat(32), amount: "30.000", currency: "USD" };
      expect(payPageState(view({ status: "paid", statusReasonCode: "paid", current, participant: { paid: "20.000", outstanding: "30.000" } }))).toEqual({
        kind: "partly_paid",
        received: USD("20.00"),
        owed: USD("30.00"),
        pay: { kind: "pay_at", payToken: "n".repeat(32), amount: USD("30.00") },
      });
    });

    it("on the open request for the rest: payable here for what it asks", () => {
      const state = payPageState(view({ amount: "30.000", participant: { paid: "20.000", outstanding: "30.000" } }));
      expect(state).toEqual({ kind: "partly_paid", received: USD("20.00"), owed: USD("30.00"), pay: { kind: "here", amount: USD("30.00") } });
      expect(PAY_PAGE_HTTP_STATUS[state.kind]).toBe(200);
    });
  });

  describe("superseded (410), decided by the reason code", () => {
    const superseded = { status: "cancelled" as const, statusReasonCode: "superseded" };

    it("points to the current open request when there is one", () => {
      const current = { payToken: "c".repeat(32), amount: "33.330", currency: "USD" };
      const state = payPageState(view({ ...superseded, current, participant: { outstanding: "33.330" } }));
      expect(state).toEqual({ kind: "superseded", next: { kind: "pay_at", payToken: "c".repeat(32), amount: USD("33.33") } });
      expect(PAY_PAGE_HTTP_STATUS[state.kind]).toBe(410);
    });

    it("says a new link will follow when something is owed and no request is open", () => {
      expect(payPageState(view({ ...superseded, participant: { outstanding: "33.330" } }))).toEqual({
        kind: "superseded",
        next: { kind: "ask", owed: USD("33.33") },
      });
    });

    it("once the new request is paid: still superseded, with what was received (never the old amount)", () => {
      const state = payPageState(view({ ...superseded, participant: { paid: "60.000", outstanding: "0.000" } }));
      expect(state).toEqual({ kind: "superseded", next: { kind: "settled", received: USD("60.00"), refundDue: null } });
      expect(JSON.stringify(state)).not.toContain("50.00");
    });

    it("is told apart from other cancelled links by the code alone (the view carries no prose to parse)", () => {
      expect(payPageState(view({ status: "cancelled", statusReasonCode: "nothing_owed", participant: { outstanding: "0.000" } })).kind).toBe("cancelled");
      expect(payPageState(view({ status: "cancelled", statusReasonCode: "superseded", participant: { outstanding: "0.000" } })).kind).toBe("superseded");
    });
  });

  describe("cancelled (410)", () => {
    it("a cancelled bill owes nothing; what was paid (even through this paid link) is owed back", () => {
      const state = payPageState(
        view({
          status: "paid",
          statusReasonCode: "paid",
          bill: { status: "cancelled" },
          participant: { paid: "50.000", outstanding: "0.000", refundDue: "50.000" },
        }),
      );
      expect(state).toEqual({ kind: "cancelled", reason: "bill_cancelled", next: { kind: "settled", received: USD("50.00"), refundDue: USD("50.00") } });
      expect(PAY_PAGE_HTTP_STATUS[state.kind]).toBe(410);
    });

    it("an open request's link on a cancelled bill, nothing paid", () => {
      expect(
        payPageState(view({ status: "cancelled", statusReasonCode: "bill_cancelled", bill: { status: "cancelled" }, participant: { outstanding: "0.000" } })),
      ).toEqual({
        kind: "cancelled",
        reason: "bill_cancelled",
        next: { kind: "settled", received: null, refundDue: null },
      });
    });

    it("a removed participant owes nothing; what they paid is owed back", () => {
      const removedAt = new Date("2026-11-20T12:00:00Z");
      expect(
        payPageState(
          view({
            status: "cancelled",
            statusReasonCode: "participant_removed",
            participant: { removedAt, paid: "20.000", outstanding: "0.000", refundDue: "20.000" },
          }),
        ),
      ).toEqual({
        kind: "cancelled",
        reason: "participant_removed",
        next: { kind: "settled", received: USD("20.00"), refundDue: USD("20.00") },
      });
    });

    it("nothing owed any more (the share went to 0)", () => {
      expect(payPageState(view({ status: "cancelled", statusReasonCode: "nothing_owed", participant: { outstanding: "0.000" } }))).toEqual({
        kind: "cancelled",
        reason: "nothing_owed",
        next: { kind: "settled", received: null, refundDue: null },
      });
    });

    it("paid elsewhere (another link, or marked as paid): nothing owed through this link; what arrived is said as received", () => {
      expect(payPageState(view({ status: "cancelled", statusReasonCode: "paid_elsewhere", participant: { paid: "50.000", outstanding: "0.000" } }))).toEqual({
        kind: "cancelled",
        reason: "paid_elsewhere",
        next: { kind: "settled", received: USD("50.00"), refundDue: null },
      });
    });

    it("paid elsewhere, then the share rose: points to the request for what is owed now", () => {
      const current = { payToken: "r".repeat(32), amount: "10.000", currency: "USD" };
      expect(
        payPageState(view({ status: "cancelled", statusReasonCode: "paid_elsewhere", current, participant: { paid: "50.000", outstanding: "10.000" } })),
      ).toEqual({
        kind: "cancelled",
        reason: "paid_elsewhere",
        next: { kind: "pay_at", payToken: "r".repeat(32), amount: USD("10.00") },
      });
    });

    it("a cancelled request with no code (a row from before the codes) is cancelled, never paid", () => {
      expect(payPageState(view({ status: "cancelled", statusReasonCode: null, participant: { outstanding: "0.000" } }))).toMatchObject({
        kind: "cancelled",
        reason: "other",
      });
    });

    it("a paid request whose participant has no money received is never called paid", () => {
      expect(payPageState(view({ status: "paid", statusReasonCode: "paid", participant: { paid: "0.000", outstanding: "0.000" } }))).toMatchObject({
        kind: "cancelled",
        reason: "other",
      });
    });
  });

  describe("expired and failed (410, as before), with where the person stands", () => {
    it("expired, still owing, no open request: ask for a new link", () => {
      const state = payPageState(view({ status: "expired", statusReasonCode: "expired" }));
      expect(state).toEqual({ kind: "expired", next: { kind: "ask", owed: USD("50.00") } });
      expect(PAY_PAGE_HTTP_STATUS[state.kind]).toBe(410);
    });

    it("failed, with a newer open request: points to it", () => {
      const current = { payToken: "f".repeat(32), amount: "50.000", currency: "USD" };
      const state = payPageState(view({ status: "failed", statusReasonCode: "failed", current }));
      expect(state).toEqual({ kind: "failed", next: { kind: "pay_at", payToken: "f".repeat(32), amount: USD("50.00") } });
      expect(PAY_PAGE_HTTP_STATUS[state.kind]).toBe(410);
    });

    it("expired after the share was paid another way: nothing more owed, with what was received", () => {
      expect(payPageState(view({ status: "expired", statusReasonCode: "expired", participant: { paid: "50.000", outstanding: "0.000" } }))).toEqual({
        kind: "expired",
        next: { kind: "settled", received: USD("50.00"), refundDue: null },
      });
    });
  });

  it("uses the currency's minor units (JPY has none)", () => {
    expect(payPageState(view({ currency: "JPY", amount: "1500.000", bill: { currency: "JPY" }, participant: { outstanding: "1500.000" } }))).toEqual({
      kind: "payable",
      amount: { amount: "1500", currency: "JPY" },
    });
  });
});
