-- AlterTable (reference is backfilled for rows that predate it, then required)
ALTER TABLE "payment_requests" ADD COLUMN     "reference" VARCHAR(25),
ADD COLUMN     "status_reason" VARCHAR(300);
UPDATE "payment_requests" SET "reference" = upper(substr(replace("id"::text, '-', ''), 1, 20)) WHERE "reference" IS NULL;
ALTER TABLE "payment_requests" ALTER COLUMN "reference" SET NOT NULL;

-- CreateTable
CREATE TABLE "payment_events" (
    "id" VARCHAR(128) NOT NULL,
    "type" VARCHAR(40) NOT NULL,
    "payment_id" VARCHAR(128),
    "payment_request_id" UUID,
    "amount" DECIMAL(18,3),
    "currency" CHAR(3),
    "outcome" VARCHAR(30) NOT NULL,
    "detail" VARCHAR(500),
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "payment_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "payment_events_payment_request_id_idx" ON "payment_events"("payment_request_id");

-- CreateIndex
CREATE INDEX "payment_events_outcome_received_at_idx" ON "payment_events"("outcome", "received_at");

-- CreateIndex
CREATE UNIQUE INDEX "payment_requests_reference_key" ON "payment_requests"("reference");
