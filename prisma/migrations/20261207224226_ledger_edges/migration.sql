-- The ledger owns its edges (issue 19, docs/money.md):
-- - a removed participant is a tombstone (removed_at, removed_reason), not a deleted row, so money
--   that reaches them still counts, and the unique keys hold among the people still on the bill,
-- - every status change carries a reason code beside its prose (status_history.reason_code, and
--   payment_requests.status_reason_code for why a request closed), so pages decide on codes,
-- - payment_requests.closed_at: reconciliation asks about closed requests for a window after it.
-- DropIndex
DROP INDEX "participants_bill_id_ai_face_id_key";

-- DropIndex
DROP INDEX "participants_bill_id_phone_key";

-- DropIndex
DROP INDEX "participants_bill_id_user_id_key";

-- AlterTable
ALTER TABLE "participants" ADD COLUMN     "removed_at" TIMESTAMPTZ(3),
ADD COLUMN     "removed_reason" VARCHAR(40);

-- AlterTable
ALTER TABLE "payment_requests" ADD COLUMN     "closed_at" TIMESTAMPTZ(3),
ADD COLUMN     "status_reason_code" VARCHAR(40);

-- AlterTable
ALTER TABLE "status_history" ADD COLUMN     "reason_code" VARCHAR(40);

-- CreateIndex
CREATE UNIQUE INDEX "participants_bill_id_user_id_key" ON "participants"("bill_id", "user_id") WHERE (removed_at IS NULL);

-- CreateIndex
CREATE UNIQUE INDEX "participants_bill_id_phone_key" ON "participants"("bill_id", "phone") WHERE (removed_at IS NULL);

-- CreateIndex
CREATE UNIQUE INDEX "participants_bill_id_ai_face_id_key" ON "participants"("bill_id", "ai_face_id") WHERE (removed_at IS NULL);

-- Backfill: a request already closed closed when it was last updated, and its code comes from the prose
-- the ledger wrote (its wording has been stable since the ledger's migration).
UPDATE "payment_requests" SET "closed_at" = "updated_at" WHERE "status" NOT IN ('pending', 'sent');
UPDATE "payment_requests" SET "status_reason_code" = CASE
    WHEN "status" = 'paid' THEN 'paid'
    WHEN "status" = 'expired' THEN 'expired'
    WHEN "status" = 'failed' THEN 'failed'
    WHEN "status_reason" LIKE 'superseded%' THEN 'superseded'
    WHEN "status_reason" LIKE 'the bill was cancelled%' THEN 'bill_cancelled'
    WHEN "status_reason" LIKE '%was removed from the bill%' THEN 'participant_removed'
    WHEN "status_reason" LIKE 'closed: %' THEN 'paid_elsewhere'
    ELSE 'nothing_owed' END
  WHERE "status" NOT IN ('pending', 'sent');
