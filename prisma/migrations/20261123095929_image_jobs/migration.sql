-- CreateEnum
CREATE TYPE "image_kind" AS ENUM ('bill', 'group');

-- CreateEnum
CREATE TYPE "image_job_state" AS ENUM ('pending', 'processing', 'completed', 'failed');

-- AlterTable
ALTER TABLE "bills" ADD COLUMN     "bill_image_job_id" UUID,
ADD COLUMN     "group_image_job_id" UUID,
ADD COLUMN     "user_set_fields" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- CreateTable
CREATE TABLE "image_jobs" (
    "id" UUID NOT NULL,
    "bill_id" UUID NOT NULL,
    "kind" "image_kind" NOT NULL,
    "state" "image_job_state" NOT NULL DEFAULT 'pending',
    "file_name" VARCHAR(100) NOT NULL,
    "mime_type" VARCHAR(50) NOT NULL,
    "size_bytes" INTEGER NOT NULL,
    "ai_job_id" VARCHAR(128),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_attempt_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),
    "error" VARCHAR(1000),
    "result" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "image_jobs_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "image_jobs_bill_id_kind_idx" ON "image_jobs"("bill_id", "kind");

-- CreateIndex
CREATE INDEX "image_jobs_state_last_attempt_at_idx" ON "image_jobs"("state", "last_attempt_at");

-- CreateIndex
CREATE UNIQUE INDEX "bills_bill_image_job_id_key" ON "bills"("bill_image_job_id");

-- CreateIndex
CREATE UNIQUE INDEX "bills_group_image_job_id_key" ON "bills"("group_image_job_id");

-- AddForeignKey
ALTER TABLE "image_jobs" ADD CONSTRAINT "image_jobs_bill_id_fkey" FOREIGN KEY ("bill_id") REFERENCES "bills"("id") ON DELETE CASCADE ON UPDATE CASCADE;
