-- One ledger for money (docs/money.md): every payment is a row of "payments", and the received
-- (paid_amount), outstanding and refund-due amounts of each participant are kept by the ledger.
-- Existing rows: the paid_amount of a paid participant was their share, that of the creator empty.
-- (No semicolons or quotes in these comments: the migration runner splits the script on them.)
UPDATE "participants" SET "paid_amount" = 0 WHERE "paid_amount" IS NULL OR "is_creator";

-- AlterTable
ALTER TABLE "participants" ADD COLUMN     "outstanding_amount" DECIMAL(18,3) NOT NULL DEFAULT 0,
ADD COLUMN     "refund_due" DECIMAL(18,3) NOT NULL DEFAULT 0,
ALTER COLUMN "paid_amount" SET NOT NULL,
ALTER COLUMN "paid_amount" SET DEFAULT 0;

-- AlterTable
ALTER TABLE "status_history" ADD COLUMN     "participant_name" VARCHAR(200);

-- CreateTable
CREATE TABLE "payments" (
    "id" UUID NOT NULL,
    "bill_id" UUID NOT NULL,
    "participant_id" UUID NOT NULL,
    "payment_request_id" UUID,
    "amount" DECIMAL(18,3) NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "source" VARCHAR(20) NOT NULL,
    "event_id" VARCHAR(128),
    "method" VARCHAR(50),
    "note" VARCHAR(500),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "payments_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "payments_event_id_key" ON "payments"("event_id");

-- CreateIndex
CREATE INDEX "payments_bill_id_idx" ON "payments"("bill_id");

-- CreateIndex
CREATE INDEX "payments_participant_id_idx" ON "payments"("participant_id");

-- AddForeignKey
ALTER TABLE "payments" ADD CONSTRAINT "payments_bill_id_fkey" FOREIGN KEY ("bill_id") REFERENCES "bills"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "payments" ADD CONSTRAINT "payments_participant_id_fkey" FOREIGN KEY ("participant_id") REFERENCES "participants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Existing data: one payment per paid participant, and their balances.
INSERT INTO "payments" ("id", "bill_id", "participant_id", "amount", "currency", "source", "method", "created_at")
SELECT gen_random_uuid(), p."bill_id", p."id", p."paid_amount", b."currency",
       CASE WHEN p."payment_method" = 'payment_system' THEN 'payment_system' ELSE 'offline' END,
       p."payment_method", COALESCE(p."paid_at", p."updated_at")
  FROM "participants" p JOIN "bills" b ON b."id" = p."bill_id"
 WHERE p."paid_amount" > 0 AND b."currency" IS NOT NULL;

UPDATE "participants" p
   SET "outstanding_amount" = CASE WHEN b."status" = 'cancelled' OR p."is_creator" OR p."amount_to_pay" IS NULL THEN 0
                                   ELSE GREATEST(p."amount_to_pay" - p."paid_amount", 0) END,
       "refund_due" = CASE WHEN b."status" = 'cancelled' THEN p."paid_amount"
                           ELSE GREATEST(p."paid_amount" - COALESCE(p."amount_to_pay", 0), 0) END
  FROM "bills" b WHERE b."id" = p."bill_id";

UPDATE "status_history" h SET "participant_name" = p."name" FROM "participants" p WHERE p."id" = h."participant_id";
