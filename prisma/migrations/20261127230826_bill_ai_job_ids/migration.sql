-- The spec ERD keeps the AI job ids on the bill (docs/data-model.md).

-- Bills.ai_bill_id and ai_group_id: the AI service id of the current job of each image,
-- filled from that job for the bills that have one
ALTER TABLE "bills" ADD COLUMN "ai_bill_id" VARCHAR(128),
ADD COLUMN "ai_group_id" VARCHAR(128);
UPDATE "bills" AS b SET "ai_bill_id" = j."ai_job_id" FROM "image_jobs" AS j WHERE j."id" = b."bill_image_job_id" AND j."ai_job_id" IS NOT NULL;
UPDATE "bills" AS b SET "ai_group_id" = j."ai_job_id" FROM "image_jobs" AS j WHERE j."id" = b."group_image_job_id" AND j."ai_job_id" IS NOT NULL;
