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

/** Inserts a participant straight into the database (the participants API arrives with its own issue). */
export async function insertParticipant(
  t: TestApp,
  billId: string,
  data: { name?: string; userId?: string; isBankCustomer?: boolean; amountToPay?: string; paymentStatus?: "pending" | "requested" | "paid" } = {},
) {
  return t.db.prisma.participant.create({
    data: {
      id: uuidv7(),
      billId,
      name: data.name ?? "Alice",
      userId: data.userId ?? null,
      isBankCustomer: data.isBankCustomer ?? Boolean(data.userId),
      amountToPay: data.amountToPay ?? null,
      paymentStatus: data.paymentStatus ?? "pending",
    },
  });
}
