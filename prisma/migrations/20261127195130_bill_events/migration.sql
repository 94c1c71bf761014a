-- Live events of a bill (docs/deployment.md), so that every instance can stream them: each is
-- written in the transaction that makes the change, and sent with NOTIFY in that same transaction.
-- The bigserial id is the resume position (Last-Event-ID) of a stream of one bill.
-- (No semicolons or quotes in these comments: the migration runner splits the script on them.)
-- CreateTable
CREATE TABLE "bill_events" (
    "id" BIGSERIAL NOT NULL,
    "bill_id" UUID NOT NULL,
    "type" VARCHAR(40) NOT NULL,
    "data" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "bill_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "bill_events_bill_id_id_idx" ON "bill_events"("bill_id", "id");

-- AddForeignKey
ALTER TABLE "bill_events" ADD CONSTRAINT "bill_events_bill_id_fkey" FOREIGN KEY ("bill_id") REFERENCES "bills"("id") ON DELETE CASCADE ON UPDATE CASCADE;
