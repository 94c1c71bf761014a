-- The spec ERD gives notifications an updated_at (docs/data-model.md). Filled for existing rows,
-- then required like on the other tables.

-- Notifications.updated_at: the last change a row records (created, sent or read), then NOT NULL
ALTER TABLE "notifications" ADD COLUMN "updated_at" TIMESTAMPTZ(3);
UPDATE "notifications" SET "updated_at" = GREATEST("created_at", "sent_at", "read_at");
ALTER TABLE "notifications" ALTER COLUMN "updated_at" SET NOT NULL;
