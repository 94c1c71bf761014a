// Bill split requests: create, list, read, change details, cancel. Each use case owns its transaction.
import { v7 as uuidv7 } from "uuid";
import type { Clock } from "../../clock";
import { billNotFound, ValidationFailed } from "../../domain/errors";
import { amountProblem } from "../../domain/money";
import type { AuthUser } from "../../http/auth";
import type { Ledger } from "../../ledger/ledger";
import type { IdempotencyService, StoredResponse } from "../idempotency";
import { recordStatusChange } from "../status";
import { presentBill, presentBillDetails, type BillDetailsResponse, type BillResponse } from "./bills.presenter";
import type { BillsRepository } from "./bills.repository";
import { decodeCursor, encodeCursor } from "../../http/cursor";
import type { CreateBillInput, ListBillsQuery, UpdateBillInput } from "./bills.schemas";

/** What BillsService is built from (the composition root, app.ts, passes them by name). */
export interface BillsServiceDeps {
  bills: BillsRepository;
  idempotency: IdempotencyService;
  clock: Clock;
  ledger: Ledger;
}

export class BillsService {
  constructor(private readonly deps: BillsServiceDeps) {}

  async createBill(user: AuthUser, input: CreateBillInput, idempotencyKey?: string): Promise<StoredResponse<BillResponse>> {
    checkAmount(input.totalAmount, input.currency);
    return this.deps.idempotency.run({ userId: user.id, route: "POST /bills", key: idempotencyKey, request: input }, async (tx) => {
      const bill = await this.deps.bills.create(tx, {
        id: uuidv7(),
        creatorUserId: user.id,
        totalAmount: input.totalAmount ?? null,
        currency: input.currency ?? null,
        merchantName: input.merchantName ?? null,
        billDate: input.billDate ? new Date(`${input.billDate}T00:00:00Z`) : null,
        note: input.note ?? null,
        userSetFields: AI_FILLABLE_FIELDS.filter((f) => input[f] !== undefined),
        createdAt: this.deps.clock.now(),
      });
      await recordStatusChange(
        tx,
        {
          billId: bill.id,
          entityType: "bill",
          previousStatus: null,
          newStatus: "created",
          changedBy: user.id,
          reason: "bill created",
          reasonCode: "bill_created",
        },
        this.deps.clock.now(),
      );
      return { status: 201, body: presentBill(bill) };
    });
  }

  async listBills(user: AuthUser, query: ListBillsQuery) {
    const rows = await this.deps.bills.listOwned(user.id, {
      statuses: query.status,
      after: query.cursor ? decodeCursor(query.cursor) : undefined,
      take: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      items: page.map(presentBill),
      nextCursor: rows.length > query.limit && last ? encodeCursor({ createdAt: last.createdAt, id: last.id }) : null,
    };
  }

  /** The bill's details, for its creator or a participant who is a bank customer. */
  async getBill(user: AuthUser, billId: string): Promise<BillDetailsResponse> {
    const bill = await this.deps.bills.findVisible(billId, user.id);
    if (!bill) throw billNotFound();
    return presentBillDetails(bill);
  }

  async updateBill(user: AuthUser, billId: string, input: UpdateBillInput): Promise<BillDetailsResponse> {
    const current = await this.deps.bills.findOwned(this.deps.bills.client, billId, user.id);
    if (!current) throw billNotFound();
    const currency = input.currency === undefined ? current.currency : input.currency;
    const total = input.totalAmount === undefined ? (current.totalAmount?.toString() ?? null) : input.totalAmount;
    if (total !== null && currency === null) {
      throw new ValidationFailed([{ path: "currency", message: "is required when the bill has a total amount", code: "currency_required" }]);
    }
    if (input.totalAmount !== undefined || input.currency !== undefined) checkAmount(total ?? undefined, currency ?? undefined);
    // The ledger re-checks under the bill's lock (status, and a split computed for another total).
    await this.deps.ledger.run(billId, user.id, user.id, {
      kind: "update_bill",
      details: {
        ...(input.totalAmount !== undefined ? { totalAmount: input.totalAmount } : {}),
        ...(input.currency !== undefined ? { currency: input.currency } : {}),
        ...(input.merchantName !== undefined ? { merchantName: input.merchantName } : {}),
        ...(input.billDate !== undefined ? { billDate: input.billDate === null ? null : new Date(`${input.billDate}T00:00:00Z`) } : {}),
        ...(input.note !== undefined ? { note: input.note } : {}),
        userSetFields: userSetFieldsAfter(current.userSetFields, input),
      },
    });
    return this.getBill(user, billId);
  }

  /**
   * Cancels the bill (a status change, never a deletion): its open requests are cancelled here and
   * at the payment system, nobody owes anything, what was received is refund due, people are told.
   */
  async cancelBill(user: AuthUser, billId: string, reason?: string): Promise<BillDetailsResponse> {
    await this.deps.ledger.run(billId, user.id, user.id, { kind: "cancel_bill", reason });
    return this.getBill(user, billId);
  }
}

/** Bill details an AI result may fill in, unless the user set them by hand. */
export const AI_FILLABLE_FIELDS = ["totalAmount", "currency", "merchantName", "billDate"] as const;

/** A field set by hand is the user's; a field cleared by hand (null) is the AI's to fill again. */
function userSetFieldsAfter(current: string[], input: UpdateBillInput): string[] {
  const fields = new Set(current);
  for (const f of AI_FILLABLE_FIELDS) {
    if (input[f] === null) fields.delete(f);
    else if (input[f] !== undefined) fields.add(f);
  }
  return AI_FILLABLE_FIELDS.filter((f) => fields.has(f));
}

function checkAmount(total: string | undefined, currency: string | undefined): void {
  if (total === undefined) return;
  if (currency === undefined) {
    throw new ValidationFailed([{ path: "currency", message: "is required when totalAmount is given", code: "currency_required" }]);
  }
  const problem = amountProblem(total, currency);
  // The schema has refused anything but a positive decimal: what is left is the currency's minor units.
  if (problem) throw new ValidationFailed([{ path: "totalAmount", message: problem, code: "minor_units" }]);
}
