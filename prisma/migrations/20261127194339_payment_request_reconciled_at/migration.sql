-- Reconciliation (docs/money.md) asks the payment system about requests it has not heard of for a
-- while: this is when it last asked, so each run takes the longest-unasked first and no request is
-- asked twice within RECONCILE_AFTER_MS. Not money state.
-- AlterTable
ALTER TABLE "payment_requests" ADD COLUMN     "reconciled_at" TIMESTAMPTZ(3);
