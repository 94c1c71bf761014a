-- Indexes for what the ledger reads on every command, found with EXPLAIN under npm run bench.
-- Since participants' keys became partial (removed_at IS NULL), reading a bill's people was a scan
-- of the whole table. A bill's open requests were found through the status index, over every open
-- request of every bill. And whether a request's payment was counted scanned the bill's payments.

-- DropIndex
DROP INDEX "payment_requests_bill_id_idx";

-- CreateIndex
CREATE INDEX "participants_bill_id_idx" ON "participants"("bill_id");

-- CreateIndex
CREATE INDEX "payment_requests_bill_id_status_idx" ON "payment_requests"("bill_id", "status");

-- CreateIndex
CREATE INDEX "payments_payment_request_id_idx" ON "payments"("payment_request_id");
