// Bill split requests: create, list, read, change details, cancel. Each use case owns its transaction.
import { v7 as uuidv7 } from "uuid";
import type { Clock } from "../../clock";
import type { Tx } from "../../db/database";
import { assertEditable, assertTransition } from "../../domain/bill-status";
import { BadRequest, billNotFound, Conflict, NotFound, ValidationFailed } from "../../domain/errors";
import { amountProblem, toDecimal, type DecimalLike } from "../../domain/money";
import type { AuthUser } from "../../http/auth";
import type { IdempotencyService, StoredResponse } from "../idempotency/idempotency.service";
import type { BillEvents } from "../../events/bill-events";
import type { NotificationsService } from "../notifications/notifications.service";
import { rebalanceSplit } from "../split/split.service";
import { recordStatusChange } from "../status/status-history.repository";
import { presentBill, presentBillDetails, type BillDetailsResponse, type BillResponse } from "./bills.presenter";
import type { BillCursor, BillsRepository } from "./bills.repository";
import type { CreateBillInput, ListBillsQuery, UpdateBillInput } from "./bills.schemas";


export class BillsService {
  constructor(
    private readonly bills: BillsRepository,
    private readonly idempotency: IdempotencyService,
    private readonly clock: Clock,
    private readonly inTransaction: <T>(work: (tx: Tx) => Promise<T>) => Promise<T>,
    private readonly notifications?: NotificationsService,
    private readonly events?: BillEvents,
  ) {}

  async createBill(user: AuthUser, input: CreateBillInput, idempotencyKey?: string): Promise<StoredResponse<BillResponse>> {
    checkAmount(input.totalAmount, input.currency);
    return this.idempotency.run(
      { userId: user.id, route: "POST /bills", key: idempotencyKey, request: input },
      async (tx) => {
        const bill = await this.bills.create(tx, {
          id: uuidv7(),
          creatorUserId: user.id,
          totalAmount: input.totalAmount ?? null,
          currency: input.currency ?? null,
          merchantName: input.merchantName ?? null,
          billDate: input.billDate ? new Date(`${input.billDate}T00:00:00Z`) : null,
          note: input.note ?? null,
          userSetFields: AI_FILLABLE_FIELDS.filter((f) => input[f] !== undefined),
          createdAt: this.clock.now(),
        });
        await recordStatusChange(tx, {
          billId: bill.id,
          entityType: "bill",
          previousStatus: null,
          newStatus: "created",
          changedBy: user.id,
          reason: "bill created",
        });
        return { status: 201, body: presentBill(bill) };
      },
    );
  }

  async listBills(user: AuthUser, query: ListBillsQuery) {
    const rows = await this.bills.listOwned(user.id, {
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
    const bill = await this.bills.findVisible(billId, user.id);
    if (!bill) throw billNotFound();
    return presentBillDetails(bill);
  }

  async updateBill(user: AuthUser, billId: string, input: UpdateBillInput): Promise<BillDetailsResponse> {
    await this.inTransaction(async (tx) => {
      const bill = await this.bills.lockOwned(tx, billId, user.id);
      if (!bill) throw billNotFound();
      assertEditable(bill.status);

      const currency = input.currency === undefined ? bill.currency : input.currency;
      const total = input.totalAmount === undefined ? bill.totalAmount?.toString() ?? null : input.totalAmount;
      if (total !== null && currency === null) {
        throw new ValidationFailed([{ path: "currency", message: "is required when the bill has a total amount" }]);
      }
      if (input.totalAmount !== undefined || input.currency !== undefined) checkAmount(total ?? undefined, currency ?? undefined);

      const moneyChanged =
        (input.totalAmount !== undefined && !sameAmount(input.totalAmount, bill.totalAmount)) ||
        (input.currency !== undefined && input.currency !== bill.currency);
      if (moneyChanged && bill.status !== "created") {
        throw new Conflict(
          "The total and currency cannot change once payment requests have been sent",
          "bill_amount_locked",
          { currentStatus: bill.status },
        );
      }

      await this.bills.update(tx, billId, {
        ...(input.totalAmount !== undefined ? { totalAmount: input.totalAmount } : {}),
        ...(input.currency !== undefined ? { currency: input.currency } : {}),
        ...(input.merchantName !== undefined ? { merchantName: input.merchantName } : {}),
        ...(input.billDate !== undefined
          ? { billDate: input.billDate === null ? null : new Date(`${input.billDate}T00:00:00Z`) }
          : {}),
        ...(input.note !== undefined ? { note: input.note } : {}),
        userSetFields: userSetFieldsAfter(bill.userSetFields, input),
      });
      // A split computed for another total no longer adds up: recompute an equal one, flag the rest.
      if (moneyChanged) await rebalanceSplit(tx, billId, "refuse");
    });
    return this.getBill(user, billId);
  }

  /** Cancels the bill (a status change, never a deletion) and closes its open payment requests. */
  async cancelBill(user: AuthUser, billId: string, reason?: string): Promise<BillDetailsResponse> {
    await this.inTransaction(async (tx) => {
      const bill = await this.bills.lockOwned(tx, billId, user.id);
      if (!bill) throw billNotFound();
      assertTransition(bill.status, "cancelled");
      const now = this.clock.now();
      await this.bills.update(tx, billId, { status: "cancelled", cancelledAt: now });
      await this.bills.cancelOpenPaymentRequests(tx, billId);
      await recordStatusChange(tx, {
        billId,
        entityType: "bill",
        previousStatus: bill.status,
        newStatus: "cancelled",
        changedBy: user.id,
        reason: reason ? `cancelled by the creator: ${reason}` : "cancelled by the creator",
      });
    });
    this.events?.publish(billId, "bill.status", { status: "cancelled" }, this.clock.now());
    await this.notifications?.billCancelled(billId).catch(() => undefined);
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
    throw new ValidationFailed([{ path: "currency", message: "is required when totalAmount is given" }]);
  }
  const problem = amountProblem(total, currency);
  if (problem) throw new ValidationFailed([{ path: "totalAmount", message: problem }]);
}

function sameAmount(a: string | null, b: DecimalLike | null): boolean {
  if (a === null || b === null) return a === b;
  return toDecimal(a).equals(toDecimal(b));
}

export function encodeCursor(cursor: BillCursor): string {
  return Buffer.from(JSON.stringify([cursor.createdAt.toISOString(), cursor.id])).toString("base64url");
}

export function decodeCursor(value: string): BillCursor {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(value, "base64url").toString("utf8"));
    const date = new Date(createdAt);
    if (typeof createdAt === "string" && !Number.isNaN(date.getTime()) && /^[0-9a-f-]{36}$/i.test(id)) {
      return { createdAt: date, id };
    }
  } catch {
    // fall through
  }
  throw new BadRequest("query.cursor: is not a cursor this API returned", "invalid_cursor", {
    issues: [{ path: "query.cursor", message: "is not a cursor this API returned" }],
  });
}
