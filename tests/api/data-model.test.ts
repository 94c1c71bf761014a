// The spec's data model, by its own names (docs/data-model.md): the ERD's columns exist, the schema
// and the migrations agree, and the migrations that gave the columns those names kept every row.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Client } from "pg";
import { MIGRATIONS_DIR, migrationNames } from "../../src/db/migrations";
import { ERD_COLUMNS, missingColumns } from "../support/erd";
import { createTestDatabase, onPostgres } from "../support/test-app";
import { createFreshDatabase } from "../support/test-database-url";
import type { Database } from "../../src/db/database";
import type { SqlClient } from "../../src/db/sql";

describe("the spec's ERD columns", () => {
  let db: Database;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.close());

  it("are all in the database, under the ERD's names (information_schema)", async () => {
    expect(await missingColumns(db.sql, ERD_COLUMNS)).toEqual([]);
  });

  it("a column renamed away is reported missing by the same check", async () => {
    const renamedAway = { ...ERD_COLUMNS, bills: [...ERD_COLUMNS.bills, "creator_user_id"], participants: [...ERD_COLUMNS.participants, "is_bank_customer"] };
    expect(await missingColumns(db.sql, renamedAway)).toEqual(["bills.creator_user_id", "participants.is_bank_customer"]);
    expect(await missingColumns(db.sql, { no_such_table: ["id"] })).toEqual(["no_such_table.id"]);
  });

  it("are each mapped in docs/data-model.md", () => {
    const doc = readFileSync(path.join(__dirname, "../../docs/data-model.md"), "utf8");
    const unmapped = Object.entries(ERD_COLUMNS).flatMap(([table, columns]) =>
      columns.filter((c) => !doc.includes(`| \`${table}.${c}\``)).map((c) => `${table}.${c}`),
    );
    expect(unmapped).toEqual([]);
  });
});

describe("prisma/schema.prisma and prisma/migrations", () => {
  it("agree: the schema engine finds nothing to migrate", () => {
    const tsx = require.resolve("tsx/cli");
    const out = execFileSync(process.execPath, [tsx, path.join(__dirname, "../support/schema-drift.ts")], { encoding: "utf8", timeout: 110_000 });
    expect(out.trim()).toBe("-- This is an empty migration.");
  }, 120_000); // the schema engine starts in a process of its own and applies every migration
});

/** An empty database of the run's engine, to which migrations are applied as plain SQL. */
interface Scratch {
  sql: SqlClient;
  exec(text: string): Promise<void>;
  close(): Promise<void>;
}

async function scratchDatabase(): Promise<Scratch> {
  if (onPostgres) {
    const database = await createFreshDatabase(process.env.TEST_DATABASE_URL!, "erd");
    const client = new Client({ connectionString: database.url });
    await client.connect();
    return {
      sql: { query: async (text, values) => (await client.query(text, values as unknown[])).rows },
      exec: async (text) => void (await client.query(text)),
      close: async () => {
        await client.end();
        await database.drop();
      },
    };
  }
  const { PGlite } = await import("@electric-sql/pglite");
  const pglite = new PGlite();
  return {
    sql: { query: async (text, values) => (await pglite.query(text, values as unknown[])).rows as never },
    exec: async (text) => void (await pglite.exec(text)),
    close: () => pglite.close(),
  };
}

describe("the migrations that took the ERD's names", () => {
  const FIRST = "20261127230825_erd_column_names";
  let scratch: Scratch;
  beforeAll(async () => {
    scratch = await scratchDatabase();
  });
  afterAll(() => scratch.close());

  it("rename and fill in place: every row keeps its data", async () => {
    const names = await migrationNames();
    const apply = async (list: string[]) => {
      for (const name of list) await scratch.exec(readFileSync(path.join(MIGRATIONS_DIR, name, "migration.sql"), "utf8"));
    };
    await apply(names.filter((n) => n < FIRST));

    const BILL = "0190a000-0000-7000-8000-000000000001";
    const [OLD_JOB, BILL_JOB, GROUP_JOB] = [
      "0190a000-0000-7000-8000-00000000000a",
      "0190a000-0000-7000-8000-00000000000b",
      "0190a000-0000-7000-8000-00000000000c",
    ];
    const [CUSTOMER, GUEST] = ["0190a000-0000-7000-8000-000000000021", "0190a000-0000-7000-8000-000000000022"];
    const [LINK, IN_APP, PENDING] = ["0190a000-0000-7000-8000-000000000031", "0190a000-0000-7000-8000-000000000032", "0190a000-0000-7000-8000-000000000033"];
    const [QUEUED, SENT, READ] = ["0190a000-0000-7000-8000-000000000041", "0190a000-0000-7000-8000-000000000042", "0190a000-0000-7000-8000-000000000043"];
    const TOKEN = "t".repeat(32);
    await scratch.exec(`
      INSERT INTO bills (id, creator_user_id, total_amount, currency, status, bill_image_url, group_image_url, updated_at)
        VALUES ('${BILL}', 'bank-user-alice', 90, 'USD', 'active', 'receipt-file', 'group-file', now());
      INSERT INTO image_jobs (id, bill_id, kind, state, file_name, mime_type, size_bytes, ai_job_id, updated_at) VALUES
        ('${OLD_JOB}', '${BILL}', 'bill', 'failed', 'old-file', 'image/png', 10, 'ai-replaced', now()),
        ('${BILL_JOB}', '${BILL}', 'bill', 'completed', 'receipt-file', 'image/png', 10, 'ai-receipt', now()),
        ('${GROUP_JOB}', '${BILL}', 'group', 'processing', 'group-file', 'image/png', 10, NULL, now());
      UPDATE bills SET bill_image_job_id = '${BILL_JOB}', group_image_job_id = '${GROUP_JOB}' WHERE id = '${BILL}';
      INSERT INTO participants (id, bill_id, user_id, name, is_bank_customer, amount_to_pay, updated_at) VALUES
        ('${CUSTOMER}', '${BILL}', 'bank-user-bob', 'Bob', true, 30, now()),
        ('${GUEST}', '${BILL}', NULL, 'Carol', false, 30, now());
      INSERT INTO payment_requests (id, bill_id, participant_id, amount, currency, channel, reference, payment_id, payment_link, pay_token, qr_code, status, expiry_date, updated_at) VALUES
        ('${LINK}', '${BILL}', '${GUEST}', 30, 'USD', 'payment_link', 'REF1', 'pay_1', 'https://pay.example/x', '${TOKEN}', 'EMV-PAYLOAD', 'sent', now(), now()),
        ('${IN_APP}', '${BILL}', '${CUSTOMER}', 30, 'USD', 'in_app', 'REF2', 'pay_2', 'https://pay.example/y', '${"u".repeat(32)}', NULL, 'sent', now(), now()),
        ('${PENDING}', '${BILL}', '${GUEST}', 30, 'USD', 'payment_link', 'REF3', NULL, NULL, '${"v".repeat(32)}', NULL, 'pending', now(), now());
      INSERT INTO notifications (id, bill_id, type, channel, message, status, created_at, sent_at, read_at) VALUES
        ('${QUEUED}', '${BILL}', 'reminder', 'sms', 'm', 'pending', '2026-11-01T10:00:00Z', NULL, NULL),
        ('${SENT}', '${BILL}', 'reminder', 'sms', 'm', 'sent', '2026-11-01T10:00:00Z', '2026-11-01T10:05:00Z', NULL),
        ('${READ}', '${BILL}', 'reminder', 'in_app', 'm', 'sent', '2026-11-01T10:00:00Z', '2026-11-01T10:05:00Z', '2026-11-02T08:00:00Z');
    `);

    await apply(names.filter((n) => n >= FIRST));

    expect(await missingColumns(scratch.sql, ERD_COLUMNS)).toEqual([]);
    expect(await missingColumns(scratch.sql, { bills: ["creator_user_id"] })).toEqual(["bills.creator_user_id"]);
    const [bill] = await scratch.sql.query(
      "SELECT creator_id, trim_scale(total_amount)::text AS total_amount, bill_image_path, group_image_path, ai_bill_id, ai_group_id FROM bills WHERE id = $1::uuid",
      [BILL],
    );
    // The bill's current jobs give the AI ids (not the replaced one; none while the AI gave none).
    expect(bill).toEqual({
      creator_id: "bank-user-alice",
      total_amount: "90",
      bill_image_path: "receipt-file",
      group_image_path: "group-file",
      ai_bill_id: "ai-receipt",
      ai_group_id: null,
    });
    expect(await scratch.sql.query("SELECT name, is_cake_user FROM participants WHERE bill_id = $1::uuid ORDER BY name", [BILL])).toEqual([
      { name: "Bob", is_cake_user: true },
      { name: "Carol", is_cake_user: false },
    ]);
    // Only a payment-link request the payment system took has a QR image; qr_code keeps the payload.
    expect(await scratch.sql.query("SELECT reference, qr_code, qr_code_url FROM payment_requests WHERE bill_id = $1::uuid ORDER BY reference", [BILL])).toEqual(
      [
        { reference: "REF1", qr_code: "EMV-PAYLOAD", qr_code_url: `/pay/${TOKEN}/qr.png` },
        { reference: "REF2", qr_code: null, qr_code_url: null },
        { reference: "REF3", qr_code: null, qr_code_url: null },
      ],
    );
    const notices = await scratch.sql.query<{ id: string; updated_at: Date }>("SELECT id, updated_at FROM notifications WHERE bill_id = $1::uuid", [BILL]);
    const updatedAt = Object.fromEntries(notices.map((n) => [n.id, new Date(n.updated_at).toISOString()]));
    expect(updatedAt).toEqual({ [QUEUED]: "2026-11-01T10:00:00.000Z", [SENT]: "2026-11-01T10:05:00.000Z", [READ]: "2026-11-02T08:00:00.000Z" });
    const [nullable] = await scratch.sql.query(
      "SELECT is_nullable FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'notifications' AND column_name = 'updated_at'",
    );
    expect(nullable).toEqual({ is_nullable: "NO" });
  }, 120_000); // every migration, applied to an empty database
});

describe("the migration that gave money four decimals", () => {
  const WIDENING = "20261207224613_money_columns_hold_four_decimals";
  let scratch: Scratch;
  beforeAll(async () => {
    scratch = await scratchDatabase();
  });
  afterAll(() => scratch.close());

  it("keeps every stored amount, the largest included, and then holds CLF's fourth decimal", async () => {
    const names = await migrationNames();
    expect(names).toContain(WIDENING);
    const apply = async (list: string[]) => {
      for (const name of list) await scratch.exec(readFileSync(path.join(MIGRATIONS_DIR, name, "migration.sql"), "utf8"));
    };
    await apply(names.filter((n) => n < WIDENING));
    const BILL = "0190a000-0000-7000-8000-000000000101";
    const PERSON = "0190a000-0000-7000-8000-000000000121";
    const REQUEST = "0190a000-0000-7000-8000-000000000131";
    const MAX_OLD = "999999999999999.999";
    await scratch.exec(`
      INSERT INTO bills (id, creator_id, total_amount, currency, status, updated_at) VALUES ('${BILL}', 'bank-user-alice', ${MAX_OLD}, 'KWD', 'active', now());
      INSERT INTO participants (id, bill_id, name, amount_to_pay, share_weight, paid_amount, outstanding_amount, refund_due, updated_at)
        VALUES ('${PERSON}', '${BILL}', 'Bob', ${MAX_OLD}, 999999999999.999999, 10.125, ${MAX_OLD}, 0.001, now());
      INSERT INTO payment_requests (id, bill_id, participant_id, amount, currency, channel, reference, pay_token, status, expiry_date, updated_at)
        VALUES ('${REQUEST}', '${BILL}', '${PERSON}', ${MAX_OLD}, 'KWD', 'payment_link', 'REF9', '${"w".repeat(32)}', 'sent', now(), now());
      INSERT INTO payment_events (id, type, amount, currency, outcome) VALUES ('evt_old', 'payment.succeeded', ${MAX_OLD}, 'KWD', 'applied');
      INSERT INTO payments (id, bill_id, participant_id, payment_request_id, amount, currency, source) VALUES ('0190a000-0000-7000-8000-000000000141', '${BILL}', '${PERSON}', '${REQUEST}', 10.125, 'KWD', 'payment_system');
    `);

    await apply(names.filter((n) => n >= WIDENING));

    const one = async (text: string) => (await scratch.sql.query(text))[0];
    expect(await one("SELECT total_amount::text AS v FROM bills")).toEqual({ v: "999999999999999.9990" });
    expect(
      await one(
        "SELECT amount_to_pay::text AS share, share_weight::text AS weight, paid_amount::text AS paid, outstanding_amount::text AS outstanding, refund_due::text AS refund FROM participants",
      ),
    ).toEqual({
      share: "999999999999999.9990",
      weight: "999999999999.999999",
      paid: "10.1250",
      outstanding: "999999999999999.9990",
      refund: "0.0010",
    });
    expect(await one("SELECT amount::text AS v FROM payment_requests")).toEqual({ v: "999999999999999.9990" });
    expect(await one("SELECT amount::text AS v FROM payment_events")).toEqual({ v: "999999999999999.9990" });
    expect(await one("SELECT amount::text AS v FROM payments")).toEqual({ v: "10.1250" });
    // What the columns hold now: CLF's fourth decimal, the largest amount the API accepts, and a weight as large.
    await scratch.exec(
      `UPDATE bills SET total_amount = 10.0001, currency = 'CLF'; UPDATE participants SET amount_to_pay = 999999999999999.9999, share_weight = 999999999999999.9999`,
    );
    expect(await one("SELECT total_amount::text AS v FROM bills")).toEqual({ v: "10.0001" });
    expect(await one("SELECT amount_to_pay::text AS share, share_weight::text AS weight FROM participants")).toEqual({
      share: "999999999999999.9999",
      weight: "999999999999999.999900",
    });
  }, 120_000); // every migration, applied to an empty database
});
