// Data builders: each test creates the rows it needs, so no test depends on another's.
import { v7 as uuidv7 } from "uuid";
import type { TestApp } from "./test-app";
import { as } from "./http";

export async function createBill(t: TestApp, token: string, body: Record<string, unknown> = {}) {
  const res = await as(t, token)
    .post("/bills")
    .send({ totalAmount: "100.00", currency: "USD", merchantName: "Test Restaurant", billDate: "2026-11-20", ...body });
  if (res.status !== 201) throw new Error(`createBill failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; status: string } & Record<string, unknown>;
}

/**
 * Inserts a participant straight into the database, with the ledger's amounts as the ledger would
 * keep them (a paid participant has received their share, with its payment row). For states the API
 * cannot reach quickly; prefer the API where it can.
 */
export async function insertParticipant(
  t: TestApp,
  billId: string,
  data: { name?: string; userId?: string; isBankCustomer?: boolean; amountToPay?: string; paymentStatus?: "pending" | "requested" | "paid" } = {},
) {
  const paid = data.paymentStatus === "paid" && data.amountToPay ? data.amountToPay : "0";
  const participant = await t.db.prisma.participant.create({
    data: {
      id: uuidv7(),
      billId,
      name: data.name ?? "Alice",
      userId: data.userId ?? null,
      isBankCustomer: data.isBankCustomer ?? Boolean(data.userId),
      amountToPay: data.amountToPay ?? null,
      paymentStatus: data.paymentStatus ?? "pending",
      paidAmount: paid,
      outstandingAmount: data.amountToPay && data.paymentStatus !== "paid" ? data.amountToPay : "0",
      createdAt: t.clock?.now() ?? new Date(),
    },
  });
  if (paid !== "0") {
    const bill = await t.db.prisma.bill.findUniqueOrThrow({ where: { id: billId } });
    await t.db.prisma.payment.create({
      data: { id: uuidv7(), billId, participantId: participant.id, amount: paid, currency: bill.currency ?? "USD", source: "offline" },
    });
  }
  return participant;
}
