// The ledger's pure rules (src/ledger/decide/), on states built by hand: no database, no HTTP.
import Decimal from "decimal.js";
import { balances, decide, type DecideContext } from "../../src/ledger/decide";
import type { LedgerCommand, LedgerParticipant, LedgerRequest, LedgerState } from "../../src/ledger/model";

const D = (v: string) => new Decimal(v);
const NOW = new Date("2026-11-27T12:00:00Z");

function context(): DecideContext {
  let n = 0;
  return {
    now: NOW,
    newId: () => `00000000-0000-7000-8000-${String(++n).padStart(12, "0")}`,
    newReference: () => `CBREF${n}`,
    newPayToken: () => `token-${n}`,
    requestTtlMs: 72 * 3_600_000,
  };
}

function person(id: string, share: string | null, extra: Partial<LedgerParticipant> = {}): LedgerParticipant {
  const p: LedgerParticipant = {
    id,
    name: id,
    userId: null,
    phone: null,
    email: null,
    isBankCustomer: false,
    isCreator: false,
    aiFaceId: null,
    share: share === null ? null : D(share),
    percentage: null,
    weight: null,
    status: "pending",
    paid: D("0"),
    outstanding: D("0"),
    refundDue: D("0"),
    paidAt: null,
    paymentMethod: null,
    paymentNote: null,
    createdAt: NOW,
    removedAt: null,
    removedReason: null,
    ...extra,
  };
  return { ...p, ...balances(p, "active"), ...extra };
}

function request(id: string, participantId: string, amount: string, status: LedgerRequest["status"] = "sent"): LedgerRequest {
  return {
    id,
    participantId,
    amount: D(amount),
    currency: "USD",
    channel: "payment_link",
    status,
    reference: `CB${id}`,
    payToken: null,
    paymentId: `pay_${id}`,
    paymentLink: `https://pay.example/${id}`,
    qrCode: null,
    qrCodeUrl: null,
    statusReason: null,
    statusReasonCode: null,
    closedAt: null,
    retryCount: 0,
    expiryDate: new Date("2026-11-30T12:00:00Z"),
    paidAt: null,
    createdAt: NOW,
    counted: status === "paid",
  };
}

/** 100.00 USD split equally between P1 and P2, both asked for 50.00: the start of the 133.33 bug. */
function askedFiftyEach(): LedgerState {
  return {
    bill: {
      id: "bill-1",
      creatorUserId: "creator",
      status: "active",
      total: D("100"),
      currency: "USD",
      splitMethod: "equal",
      needsResplit: false,
      merchantName: "Cafe",
      billDate: null,
      note: null,
      userSetFields: [],
      lineItems: null,
      completedAt: null,
      cancelledAt: null,
    },
    participants: [person("P1", "50", { status: "requested" }), person("P2", "50", { status: "requested" })],
    requests: [request("r1", "P1", "50"), request("r2", "P2", "50")],
    unpaidRequestCounts: {},
  };
}

const run = <C extends LedgerCommand>(state: LedgerState, command: C) => decide(state, command, context());
const pay = (requestId: string, amount: string, eventId = `evt-${requestId}-${amount}`): Extract<LedgerCommand, { kind: "payment_event" }> => ({
  kind: "payment_event",
  eventId,
  requestId,
  type: "succeeded",
  amount,
  currency: "USD",
  paymentId: `pay_${requestId}`,
});
const money = (v: Decimal) => v.toFixed(2);

describe("balances: the one definition of owes and refund due", () => {
  it("outstanding is what is left of the share; excess is refund due; the creator and a cancelled bill owe nothing", () => {
    expect(balances({ share: D("50"), paid: D("20"), isCreator: false }, "active")).toEqual({ outstanding: D("30"), refundDue: D("0") });
    expect(balances({ share: D("33.34"), paid: D("50"), isCreator: false }, "active")).toEqual({ outstanding: D("0"), refundDue: D("16.66") });
    expect(balances({ share: D("50"), paid: D("0"), isCreator: true }, "active").outstanding).toEqual(D("0"));
    expect(balances({ share: null, paid: D("0"), isCreator: false }, "created").outstanding).toEqual(D("0"));
    expect(balances({ share: D("50"), paid: D("45.25"), isCreator: false }, "cancelled")).toEqual({ outstanding: D("0"), refundDue: D("45.25") });
  });
});

describe("decide", () => {
  it("a new participant re-splits an equal bill: both 50.00 requests are superseded, cancelled at the payment system, and new ones issued", () => {
    const { changes, after } = run(askedFiftyEach(), {
      kind: "add_participants",
      people: [{ name: "P3", userId: null, phone: null, email: null, isBankCustomer: false, isCreator: false }],
      reason: "added by the creator",
    });
    const shares = after.participants.map((p) => money(p.share!));
    expect(shares.reduce((a, b) => a.plus(b), D("0")).toFixed(2)).toBe("100.00");
    expect(changes.updateRequests.map((r) => [r.id, r.status])).toEqual([
      ["r1", "cancelled"],
      ["r2", "cancelled"],
    ]);
    expect(changes.updateRequests[0].statusReason).toMatch(/^superseded: P1 now owes 33\.3\d USD, not 50\.00 USD$/);
    expect(changes.effects.cancelAtPaymentSystem).toEqual([
      { requestId: "r1", paymentId: "pay_r1" },
      { requestId: "r2", paymentId: "pay_r2" },
    ]);
    // Every open request asks exactly what its participant owes; on an active bill the newcomer,
    // who owes more than before (nothing), is asked at once too.
    const open = after.requests.filter((r) => r.status === "pending" || r.status === "sent");
    expect(open.map((r) => [r.participantId, money(r.amount)])).toEqual(after.participants.map((p) => [p.id, money(p.outstanding)]));
    expect(changes.effects.handOver).toHaveLength(3);
  });

  it("money paid through a superseded request still counts; the excess is refund due, never collected twice", () => {
    const resplit = run(askedFiftyEach(), {
      kind: "add_participants",
      people: [{ name: "P3", userId: null, phone: null, email: null, isBankCustomer: false, isCreator: false }],
      reason: "added",
    }).after;
    const { after, result, changes } = run(resplit, pay("r1", "50.00"));
    expect(result).toEqual({ outcome: "applied", detail: "request was cancelled; 50.00 USD counted toward the balance" });
    const p1 = after.participants.find((p) => p.id === "P1")!;
    expect([p1.status, money(p1.paid), money(p1.outstanding), money(p1.refundDue)]).toEqual(["paid", "50.00", "0.00", money(D("50").minus(p1.share!))]);
    // P1's newer request (for 33.3x) is closed: nothing is owed any more.
    expect(after.requests.filter((r) => r.participantId === "P1" && (r.status === "pending" || r.status === "sent"))).toEqual([]);
    expect(changes.payments).toEqual([expect.objectContaining({ participantId: "P1", paymentRequestId: "r1", eventId: "evt-r1-50.00" })]);
  });

  it("a partial payment leaves the remainder owed and the participant pending, to be asked for the remainder", () => {
    const { after, changes } = run(askedFiftyEach(), pay("r1", "20.00"));
    const p1 = after.participants.find((p) => p.id === "P1")!;
    expect([p1.status, money(p1.paid), money(p1.outstanding)]).toEqual(["pending", "20.00", "30.00"]);
    expect(changes.history.find((h) => h.participantId === "P1" && h.entityType === "participant")!.reason).toBe(
      "paid 20.00 USD of 50.00 USD; 30.00 USD still owed",
    );
    const again = run(after, { kind: "request_payments", participantId: "P1" });
    expect(again.changes.insertRequests.map((r) => money(r.amount))).toEqual(["30.00"]);
  });

  it("the last payment completes the bill; the same payment reported again under another event id is counted once", () => {
    const first = run(askedFiftyEach(), pay("r1", "50.00")).after;
    const { after, changes } = run(first, pay("r2", "50.00"));
    expect(after.bill.status).toBe("completed");
    expect(changes.effects.completed).toBe(true);
    const again = run(after, pay("r2", "50.00", "evt-other"));
    expect(again.result).toEqual({ outcome: "ignored", detail: "the payment of this request was already counted" });
    expect(again.changes.payments).toEqual([]);
  });

  it("a late payment for a cancelled request is counted once, whatever the number of event ids it comes under", () => {
    const resplit = run(askedFiftyEach(), {
      kind: "add_participants",
      people: [{ name: "P3", userId: null, phone: null, email: null, isBankCustomer: false, isCreator: false }],
      reason: "added",
    }).after;
    const once = run(resplit, pay("r1", "50.00", "e1")).after;
    const twice = run(once, pay("r1", "50.00", "e2"));
    expect(twice.result).toEqual({ outcome: "ignored", detail: "the payment of this request was already counted" });
    expect(twice.after.participants.find((p) => p.id === "P1")!.paid).toEqual(D("50"));
  });

  it("an amount with more decimals than the currency has is a mismatch", () => {
    expect(run(askedFiftyEach(), pay("r1", "0.0004")).result).toMatchObject({ outcome: "mismatch" });
  });

  it("reads the amount by its value: leading zeros and trailing zeros beyond the currency's decimals are the same amount", () => {
    for (const amount of ["050.00", "0050", "50.0000"]) {
      const { result, changes, after } = run(askedFiftyEach(), pay("r1", amount));
      expect({ amount, result }).toEqual({ amount, result: { outcome: "applied", detail: null } });
      expect(changes.payments.map((x) => money(x.amount))).toEqual(["50.00"]);
      expect(after.participants.find((p) => p.id === "P1")!.status).toBe("paid");
    }
  });

  it("a payment that would take what someone received past what a money column holds is a mismatch, not applied", () => {
    const nearlyFull = askedFiftyEach();
    nearlyFull.participants[0] = person("P1", "50", { paid: D("999999999999999.99"), status: "paid" });
    nearlyFull.requests.push(request("r3", "P1", "50.00", "cancelled"));
    const { result, changes } = run(nearlyFull, pay("r3", "0.01"));
    expect(result).toEqual({ outcome: "mismatch", detail: "0.01 USD would take what P1 received past 999999999999999.9999" });
    expect(changes.payments).toEqual([]);
  });

  it("once money was received, anyone can still join: an equal split is recomputed, the excess paid becomes refund due, and the bill can complete", () => {
    const paidOne = run(askedFiftyEach(), pay("r1", "50.00")).after;
    const guest = { name: "Guest", userId: null, phone: null, email: null, isBankCustomer: false, isCreator: false };
    const { after, changes } = run(paidOne, { kind: "add_participants", people: [guest], reason: "added" });
    expect(after.bill.needsResplit).toBe(false);
    const shares = after.participants.map((p) => p.share!);
    expect(shares.reduce((a, b) => a.plus(b), D("0")).toFixed(2)).toBe("100.00");
    const p1 = after.participants.find((p) => p.id === "P1")!;
    expect(money(p1.refundDue)).toBe(money(D("50").minus(p1.share!)));
    // P2's 50.00 request is superseded by one for the new share; the guest is asked at once (the bill is active).
    expect(changes.updateRequests).toEqual([expect.objectContaining({ id: "r2", status: "cancelled", statusReasonCode: "superseded" })]);
    const asked = after;
    const open = asked.requests.filter((r) => r.status === "pending");
    expect(open.map((r) => money(r.amount))).toEqual(asked.participants.slice(1).map((p) => money(p.share!)));
    let done = asked;
    for (const r of open) done = run(done, pay(r.id, money(r.amount), `evt-${r.id}`)).after;
    expect(done.bill.status).toBe("completed");
  });

  it("another currency is refused as a mismatch and changes nothing", () => {
    const { result, changes } = run(askedFiftyEach(), { ...pay("r1", "50.00"), currency: "EUR" } as LedgerCommand);
    expect(result).toMatchObject({ outcome: "mismatch" });
    expect(changes.payments).toEqual([]);
    expect(changes.history).toEqual([]);
  });

  it("cancelling leaves nobody owing, cancels every open request, and lists what was paid as refund due", () => {
    const paidOne = run(askedFiftyEach(), pay("r1", "50.00")).after;
    const { after, changes } = run(paidOne, { kind: "cancel_bill", reason: "wrong table" });
    expect(after.participants.map((p) => [p.id, money(p.outstanding), money(p.refundDue)])).toEqual([
      ["P1", "0.00", "50.00"],
      ["P2", "0.00", "0.00"],
    ]);
    expect(changes.updateRequests).toEqual([expect.objectContaining({ id: "r2", status: "cancelled", statusReason: "the bill was cancelled" })]);
    expect(changes.effects).toMatchObject({ cancelled: true, cancelAtPaymentSystem: [{ requestId: "r2", paymentId: "pay_r2" }] });
  });

  it("mark-as-paid records an offline payment of what is owed and closes the open request", () => {
    const { after, changes } = run(askedFiftyEach(), { kind: "mark_paid", participantId: "P2", method: "cash" });
    expect(changes.payments).toEqual([expect.objectContaining({ participantId: "P2", source: "offline", amount: D("50") })]);
    expect(after.requests.find((r) => r.id === "r2")).toMatchObject({ status: "cancelled", statusReason: "closed: marked as paid by the creator" });
    expect(after.participants.find((p) => p.id === "P2")).toMatchObject({ status: "paid", paymentMethod: "cash" });
  });

  it("the creator's own share is settled on arrival, with a time and a reason", () => {
    const state = askedFiftyEach();
    state.bill.status = "created";
    state.requests = [];
    state.bill.splitMethod = null;
    state.participants = [];
    const { after, changes } = run(state, {
      kind: "add_participants",
      people: [{ name: "Me", userId: "creator", phone: null, email: null, isBankCustomer: true, isCreator: true }],
      reason: "added by the creator",
    });
    expect(after.participants[0]).toMatchObject({ status: "paid", paidAt: NOW, paymentNote: "the creator's own share is settled by definition" });
    expect(changes.history.map((h) => [h.previousStatus, h.newStatus, h.reason])).toEqual([
      [null, "pending", "added by the creator"],
      ["pending", "paid", "the creator's own share is settled by definition"],
    ]);
  });

  it("a paid participant whose share rose owes again and is asked at once on an active bill; a partial payment is not re-asked by itself", () => {
    const paidOne = run(askedFiftyEach(), pay("r1", "50.00")).after;
    const { after, changes } = run(paidOne, { kind: "update_bill", details: { totalAmount: "150.00" } });
    const p1 = after.participants.find((p) => p.id === "P1")!;
    expect([p1.status, money(p1.share!), money(p1.outstanding)]).toEqual(["requested", "75.00", "25.00"]);
    expect(changes.history).toContainEqual(
      expect.objectContaining({ participantId: "P1", previousStatus: "paid", newStatus: "requested", reasonCode: "share_changed" }),
    );
    expect(after.requests.filter((r) => r.status === "pending").map((r) => [r.participantId, money(r.amount)])).toEqual([
      ["P2", "75.00"],
      ["P1", "25.00"],
    ]);
    const partial = run(askedFiftyEach(), pay("r1", "20.00")).after;
    expect(partial.requests.filter((r) => r.participantId === "P1" && (r.status === "pending" || r.status === "sent"))).toEqual([]);
  });

  it("the currency is fixed once requests went out, and a payment in a request's old currency never counts in the bill's", () => {
    expect(() => run(askedFiftyEach(), { kind: "update_bill", details: { currency: "VND" } })).toThrow("the currency can no longer change");
    const moved = askedFiftyEach();
    moved.bill.currency = "VND"; // as if the currency had changed under an open USD request
    expect(run(moved, pay("r1", "50.00")).result).toMatchObject({ outcome: "mismatch" });
  });

  it("re-splits and removes after money was received: a removed payer is a tombstone owed back all they paid", () => {
    const paidOne = run(askedFiftyEach(), pay("r1", "10.00")).after;
    const custom = run(paidOne, {
      kind: "split",
      request: {
        method: "custom_amount",
        amounts: [
          { participantId: "P1", amount: "30.00" },
          { participantId: "P2", amount: "70.00" },
        ],
      },
    }).after;
    expect(custom.participants.map((p) => [p.id, money(p.outstanding)])).toEqual([
      ["P1", "20.00"],
      ["P2", "70.00"],
    ]);
    const asked = run(custom, { kind: "request_payments", participantId: "P1" }).after;
    const { after, changes } = run(asked, { kind: "remove_participant", participantId: "P1" });
    const p1 = after.participants.find((p) => p.id === "P1")!;
    expect(p1).toMatchObject({ removedReason: "removed_by_creator", share: null });
    expect([money(p1.paid), money(p1.outstanding), money(p1.refundDue)]).toEqual(["10.00", "0.00", "10.00"]);
    // Their open request is cancelled here and at the payment system; a custom split asks for a new one.
    expect(changes.updateRequests.filter((r) => r.status === "cancelled").map((r) => r.statusReasonCode)).toContain("participant_removed");
    expect(after.bill.needsResplit).toBe(true);
    expect(changes.history.find((h) => h.newStatus === "removed")).toMatchObject({ participantId: "P1", reasonCode: "removed_by_creator" });
    // Money that reaches the removed participant later still counts, as refund due.
    const late = after.requests.find((r) => r.participantId === "P1" && r.status === "cancelled")!;
    const paidLate = run(after, pay(late.id, money(late.amount), "evt-late"));
    expect(paidLate.result.outcome).toBe("applied");
    const p1Late = paidLate.after.participants.find((p) => p.id === "P1")!;
    expect(money(p1Late.refundDue)).toBe(money(p1Late.paid));
    // The re-split the removal asked for is allowed, and covers the people still on the bill.
    const resplit = run(after, { kind: "split", request: { method: "equal" } }).after;
    expect(resplit.participants.find((p) => p.id === "P2")!.share!.toFixed(2)).toBe("100.00");
  });

  it("the hand-over's outcome: pending becomes sent with a pending -> sent row; one closed meanwhile gets its payment cancelled; a repeat changes nothing", () => {
    const state = askedFiftyEach();
    state.requests = [
      { ...request("r1", "P1", "50", "pending"), paymentId: null, paymentLink: null },
      { ...request("r2", "P2", "50", "cancelled"), paymentId: null, paymentLink: null },
    ];
    const outcome = (id: string) => ({ requestId: id, paymentId: `pay_${id}`, paymentLink: `https://pay.example/${id}`, qrCode: null, qrCodeUrl: null });
    const { after, changes, result } = run(state, { kind: "handed_over", outcomes: [outcome("r1"), outcome("r2")] });
    expect(result).toEqual({ sent: ["r1"], cancelled: ["r2"], ignored: [] });
    expect(changes.history).toEqual([
      expect.objectContaining({ entityType: "payment_request", previousStatus: "pending", newStatus: "sent", reasonCode: "handed_over" }),
    ]);
    expect(changes.effects.sent).toEqual(["r1"]);
    expect(changes.effects.cancelAtPaymentSystem).toEqual([{ requestId: "r2", paymentId: "pay_r2" }]);
    const again = run(after, { kind: "handed_over", outcomes: [outcome("r1")] });
    expect(again.result).toEqual({ sent: [], cancelled: [], ignored: ["r1"] });
    expect(again.changes.history).toEqual([]);
  });
});
