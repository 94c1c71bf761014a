// The spec's ERD, as columns: the five tables and the column names the spec gives them, which the
// database carries (docs/data-model.md maps each one to its API field). A rename that loses one of
// these names is caught by tests/api/data-model.test.ts.
import type { SqlClient } from "../../src/db/sql";

export const ERD_COLUMNS: Record<string, readonly string[]> = {
  bills: [
    "id",
    "creator_id",
    "total_amount",
    "merchant_name",
    "bill_date",
    "note",
    "status",
    "split_method",
    "bill_image_path",
    "group_image_path",
    "ai_bill_id",
    "ai_group_id",
    "created_at",
    "updated_at",
  ],
  participants: [
    "id",
    "bill_id",
    "user_id",
    "name",
    "phone",
    "email",
    "is_cake_user",
    "amount_to_pay",
    "payment_status",
    "paid_at",
    "created_at",
    "updated_at",
  ],
  payment_requests: [
    "id",
    "bill_id",
    "participant_id",
    "amount",
    "payment_id",
    "payment_link",
    "qr_code_url",
    "status",
    "expiry_date",
    "retry_count",
    "created_at",
    "updated_at",
  ],
  notifications: ["id", "bill_id", "participant_id", "type", "channel", "message", "status", "sent_at", "created_at", "updated_at"],
  status_history: ["id", "bill_id", "participant_id", "previous_status", "new_status", "changed_by", "reason", "created_at"],
};

/** `table.column` for every column of `expected` that the database's current schema lacks, per information_schema. */
export async function missingColumns(sql: SqlClient, expected: Record<string, readonly string[]>): Promise<string[]> {
  const rows = await sql.query<{ table_name: string; column_name: string }>(
    `SELECT table_name::text AS table_name, column_name::text AS column_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = ANY($1::text[])`,
    [Object.keys(expected)],
  );
  const present = new Set(rows.map((r) => `${r.table_name}.${r.column_name}`));
  return Object.entries(expected).flatMap(([table, columns]) => columns.map((c) => `${table}.${c}`).filter((tc) => !present.has(tc)));
}
