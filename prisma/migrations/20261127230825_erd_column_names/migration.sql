-- Columns take the names of the spec ERD (docs/data-model.md). Renames only: no column is
-- dropped and re-created, so no row loses data. The API field names do not change.

-- Bills.creator_id, and the indexes whose names carry the column (Prisma names them by column)
ALTER TABLE "bills" RENAME COLUMN "creator_user_id" TO "creator_id";
ALTER INDEX "bills_creator_user_id_created_at_id_idx" RENAME TO "bills_creator_id_created_at_id_idx";
ALTER INDEX "bills_creator_user_id_status_created_at_id_idx" RENAME TO "bills_creator_id_status_created_at_id_idx";

-- Bills.bill_image_path and group_image_path hold the stored file name, a path rather than a URL
ALTER TABLE "bills" RENAME COLUMN "bill_image_url" TO "bill_image_path";
ALTER TABLE "bills" RENAME COLUMN "group_image_url" TO "group_image_path";

-- Participants.is_cake_user (a customer of the bank)
ALTER TABLE "participants" RENAME COLUMN "is_bank_customer" TO "is_cake_user";
