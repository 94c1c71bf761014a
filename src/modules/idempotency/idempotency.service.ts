// Idempotency-Key for unsafe requests (IETF draft-ietf-httpapi-idempotency-key-header): the first
// response is stored with the key in the same transaction as the work, so a retry replays it and a
// crash between the two is impossible. The key is scoped to the user and the route.
import { createHash } from "node:crypto";
import type { Clock } from "../../clock";
import type { Db, Tx } from "../../db/database";
import { BusinessRule, Conflict } from "../../domain/errors";
import type { Prisma } from "../../generated/prisma/client";

export interface StoredResponse<T> {
  status: number;
  body: T;
  replayed: boolean;
}

export interface IdempotencyScope {
  userId: string;
  route: string;
  key?: string;
  request: unknown;
}

export class IdempotencyService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly ttlHours: number,
  ) {}

  /** The clean-up job: keys past their lifetime are forgotten (a retry that late is a new request). */
  async deleteExpired(): Promise<number> {
    const { count } = await this.db.idempotencyKey.deleteMany({
      where: { createdAt: { lt: new Date(this.clock.now().getTime() - this.ttlHours * 3_600_000) } },
    });
    return count;
  }

  async run<T>(scope: IdempotencyScope, work: (tx: Tx) => Promise<{ status: number; body: T }>): Promise<StoredResponse<T>> {
    if (!scope.key) {
      const result = await this.db.$transaction((tx) => work(tx));
      return { ...result, replayed: false };
    }
    const key = scope.key;
    const requestHash = hashRequest(scope.request);
    const where = { userId_route_key: { userId: scope.userId, route: scope.route, key } };

    const previous = await this.findLive<T>(where, requestHash);
    if (previous) return previous;

    try {
      return await this.db.$transaction(async (tx) => {
        const result = await work(tx);
        await tx.idempotencyKey.create({
          data: {
            userId: scope.userId,
            route: scope.route,
            key,
            requestHash,
            responseStatus: result.status,
            responseBody: result.body as Prisma.InputJsonValue,
            createdAt: this.clock.now(),
          },
        });
        return { ...result, replayed: false };
      });
    } catch (err) {
      // A concurrent request with the same key committed first: its response is the answer.
      if ((err as { code?: string }).code === "P2002") {
        const winner = await this.findLive<T>(where, requestHash);
        if (winner) return winner;
        throw new Conflict("A request with this Idempotency-Key is already being processed", "idempotency_key_in_use");
      }
      throw err;
    }
  }

  private async findLive<T>(
    where: { userId_route_key: { userId: string; route: string; key: string } },
    requestHash: string,
  ): Promise<StoredResponse<T> | undefined> {
    const row = await this.db.idempotencyKey.findUnique({ where });
    if (!row) return undefined;
    const expired = row.createdAt.getTime() < this.clock.now().getTime() - this.ttlHours * 3_600_000;
    if (expired) {
      await this.db.idempotencyKey.deleteMany({ where: where.userId_route_key });
      return undefined;
    }
    if (row.requestHash !== requestHash) {
      throw new BusinessRule("This Idempotency-Key was already used with a different request body; use a new key for a new request", "idempotency_key_reused");
    }
    return { status: row.responseStatus, body: row.responseBody as T, replayed: true };
  }
}

/** SHA-256 of the request in a canonical form (object keys sorted), so key order does not matter. */
export function hashRequest(value: unknown): string {
  return createHash("sha256").update(canonicalJson(value)).digest("hex");
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}
