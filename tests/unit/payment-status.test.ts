import Decimal from "decimal.js";
import { applyPaymentEvent, canRequestTransition, completionSteps, everyoneSettled, isSettled, returnsToPending } from "../../src/domain/payment-status";

describe("payment request status", () => {
  it("lets an open request be paid, failed, expired or cancelled, and nothing leave paid", () => {
    expect(canRequestTransition("sent", "paid")).toBe(true);
    expect(canRequestTransition("pending", "cancelled")).toBe(true);
    expect(canRequestTransition("paid", "failed")).toBe(false);
    expect(canRequestTransition("expired", "paid")).toBe(false);
  });

  it("ignores events that arrive after the request was settled", () => {
    expect(applyPaymentEvent("sent", "succeeded")).toEqual({ to: "paid" });
    expect(applyPaymentEvent("paid", "failed")).toEqual({ ignored: "already_paid" });
    expect(applyPaymentEvent("paid", "succeeded")).toEqual({ ignored: "already_paid" });
    expect(applyPaymentEvent("cancelled", "succeeded")).toEqual({ ignored: "closed_request" });
    expect(applyPaymentEvent("expired", "expired")).toEqual({ ignored: "already_final" });
    expect(applyPaymentEvent("sent", "expired")).toEqual({ to: "expired" });
  });

  it("lets a success win over a failure or expiry that arrived first, but not over a cancellation", () => {
    expect(applyPaymentEvent("failed", "succeeded")).toEqual({ to: "paid" });
    expect(applyPaymentEvent("expired", "succeeded")).toEqual({ to: "paid" });
    expect(applyPaymentEvent("cancelled", "succeeded")).toEqual({ ignored: "closed_request" });
    expect(applyPaymentEvent("failed", "expired")).toEqual({ ignored: "already_final" });
  });
});

describe("who is settled, and when a bill is complete", () => {
  it("counts a participant as settled when paid or when their share is zero, whatever its form", () => {
    expect(isSettled({ paymentStatus: "paid", amountToPay: "12.50" })).toBe(true);
    expect(isSettled({ paymentStatus: "pending", amountToPay: "0.000" })).toBe(true);
    expect(isSettled({ paymentStatus: "requested", amountToPay: new Decimal(0) })).toBe(true);
    expect(isSettled({ paymentStatus: "requested", amountToPay: "0.001" })).toBe(false);
    expect(isSettled({ paymentStatus: "pending", amountToPay: null })).toBe(false);
  });

  it("completes a bill only when it has participants and every one is settled", () => {
    expect(everyoneSettled([])).toBe(false);
    expect(everyoneSettled([{ paymentStatus: "paid", amountToPay: "5.00" }, { paymentStatus: "pending", amountToPay: "0" }])).toBe(true);
    expect(everyoneSettled([{ paymentStatus: "paid", amountToPay: "5.00" }, { paymentStatus: "requested", amountToPay: "5.00" }])).toBe(false);
  });
});

describe("asking again", () => {
  it("returns a participant to pending only when they were asked and no request of theirs is open", () => {
    expect(returnsToPending("requested", 0)).toBe(true);
    expect(returnsToPending("requested", 1)).toBe(false);
    expect(returnsToPending("paid", 0)).toBe(false);
    expect(returnsToPending("pending", 0)).toBe(false);
  });
});

describe("completing a bill", () => {
  it("goes active -> completed, passes through active from created, and does nothing to a closed bill", () => {
    expect(completionSteps("active").map((s) => [s.previousStatus, s.newStatus])).toEqual([["active", "completed"]]);
    expect(completionSteps("created").map((s) => [s.previousStatus, s.newStatus])).toEqual([["created", "active"], ["active", "completed"]]);
    expect(completionSteps("completed")).toEqual([]);
    expect(completionSteps("cancelled")).toEqual([]);
  });
});
