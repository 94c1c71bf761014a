-- CreateEnum
CREATE TYPE "bill_status" AS ENUM ('created', 'active', 'completed', 'cancelled');

-- CreateEnum
CREATE TYPE "split_method" AS ENUM ('equal', 'custom_amount', 'percentage', 'shares', 'itemized');

-- CreateEnum
CREATE TYPE "participant_payment_status" AS ENUM ('pending', 'requested', 'paid');

-- CreateEnum
CREATE TYPE "payment_request_status" AS ENUM ('pending', 'sent', 'paid', 'failed', 'expired', 'cancelled');

-- CreateEnum
CREATE TYPE "payment_channel" AS ENUM ('in_app', 'payment_link');

-- CreateEnum
CREATE TYPE "notification_type" AS ENUM ('payment_request', 'reminder', 'payment_received', 'bill_completed', 'bill_cancelled');

-- CreateEnum
CREATE TYPE "notification_channel" AS ENUM ('in_app', 'sms', 'email');

-- CreateEnum
CREATE TYPE "notification_status" AS ENUM ('pending', 'sent', 'failed');

-- CreateEnum
CREATE TYPE "status_entity" AS ENUM ('bill', 'participant', 'payment_request');

-- CreateTable
CREATE TABLE "bills" (
    "id" UUID NOT NULL,
    "creator_user_id" VARCHAR(128) NOT NULL,
    "total_amount" DECIMAL(18,3),
    "currency" CHAR(3),
    "merchant_name" VARCHAR(200),
    "bill_date" DATE,
    "note" VARCHAR(1000),
    "status" "bill_status" NOT NULL DEFAULT 'created',
    "split_method" "split_method",
    "needs_resplit" BOOLEAN NOT NULL DEFAULT false,
    "bill_image_url" TEXT,
    "group_image_url" TEXT,
    "ai_processed" BOOLEAN NOT NULL DEFAULT false,
    "line_items" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,
    "completed_at" TIMESTAMPTZ(3),
    "cancelled_at" TIMESTAMPTZ(3),

    CONSTRAINT "bills_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "participants" (
    "id" UUID NOT NULL,
    "bill_id" UUID NOT NULL,
    "user_id" VARCHAR(128),
    "name" VARCHAR(200) NOT NULL,
    "phone" VARCHAR(20),
    "email" VARCHAR(254),
    "is_bank_customer" BOOLEAN NOT NULL DEFAULT false,
    "is_creator" BOOLEAN NOT NULL DEFAULT false,
    "ai_face_id" VARCHAR(128),
    "amount_to_pay" DECIMAL(18,3),
    "percentage" DECIMAL(7,4),
    "share_weight" DECIMAL(18,6),
    "payment_status" "participant_payment_status" NOT NULL DEFAULT 'pending',
    "paid_amount" DECIMAL(18,3),
    "paid_at" TIMESTAMPTZ(3),
    "payment_method" VARCHAR(50),
    "payment_note" VARCHAR(500),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "participants_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "payment_requests" (
    "id" UUID NOT NULL,
    "bill_id" UUID NOT NULL,
    "participant_id" UUID NOT NULL,
    "amount" DECIMAL(18,3) NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "channel" "payment_channel" NOT NULL,
    "payment_id" VARCHAR(128),
    "payment_link" TEXT,
    "pay_token" VARCHAR(64),
    "qr_code" TEXT,
    "status" "payment_request_status" NOT NULL DEFAULT 'pending',
    "expiry_date" TIMESTAMPTZ(3) NOT NULL,
    "retry_count" INTEGER NOT NULL DEFAULT 0,
    "paid_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "payment_requests_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "notifications" (
    "id" UUID NOT NULL,
    "bill_id" UUID NOT NULL,
    "participant_id" UUID,
    "recipient_user_id" VARCHAR(128),
    "type" "notification_type" NOT NULL,
    "channel" "notification_channel" NOT NULL,
    "recipient" VARCHAR(254),
    "message" TEXT NOT NULL,
    "status" "notification_status" NOT NULL DEFAULT 'pending',
    "error" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "sent_at" TIMESTAMPTZ(3),
    "read_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "notifications_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "status_history" (
    "id" UUID NOT NULL,
    "bill_id" UUID NOT NULL,
    "participant_id" UUID,
    "entity_type" "status_entity" NOT NULL,
    "previous_status" VARCHAR(32),
    "new_status" VARCHAR(32) NOT NULL,
    "changed_by" VARCHAR(128) NOT NULL,
    "reason" VARCHAR(500),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "status_history_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "idempotency_keys" (
    "user_id" VARCHAR(128) NOT NULL,
    "key" VARCHAR(255) NOT NULL,
    "route" VARCHAR(200) NOT NULL,
    "request_hash" CHAR(64) NOT NULL,
    "response_status" INTEGER NOT NULL,
    "response_body" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "idempotency_keys_pkey" PRIMARY KEY ("user_id","route","key")
);

-- CreateIndex
CREATE INDEX "bills_creator_user_id_created_at_id_idx" ON "bills"("creator_user_id", "created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "bills_creator_user_id_status_created_at_id_idx" ON "bills"("creator_user_id", "status", "created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "participants_user_id_idx" ON "participants"("user_id");

-- CreateIndex
CREATE UNIQUE INDEX "participants_bill_id_user_id_key" ON "participants"("bill_id", "user_id");

-- CreateIndex
CREATE UNIQUE INDEX "participants_bill_id_phone_key" ON "participants"("bill_id", "phone");

-- CreateIndex
CREATE UNIQUE INDEX "participants_bill_id_ai_face_id_key" ON "participants"("bill_id", "ai_face_id");

-- CreateIndex
CREATE UNIQUE INDEX "payment_requests_payment_id_key" ON "payment_requests"("payment_id");

-- CreateIndex
CREATE UNIQUE INDEX "payment_requests_pay_token_key" ON "payment_requests"("pay_token");

-- CreateIndex
CREATE INDEX "payment_requests_bill_id_idx" ON "payment_requests"("bill_id");

-- CreateIndex
CREATE INDEX "payment_requests_participant_id_status_idx" ON "payment_requests"("participant_id", "status");

-- CreateIndex
CREATE INDEX "payment_requests_status_expiry_date_idx" ON "payment_requests"("status", "expiry_date");

-- CreateIndex
CREATE INDEX "notifications_bill_id_created_at_idx" ON "notifications"("bill_id", "created_at");

-- CreateIndex
CREATE INDEX "notifications_participant_id_type_created_at_idx" ON "notifications"("participant_id", "type", "created_at");

-- CreateIndex
CREATE INDEX "notifications_recipient_user_id_created_at_idx" ON "notifications"("recipient_user_id", "created_at" DESC);

-- CreateIndex
CREATE INDEX "status_history_bill_id_created_at_idx" ON "status_history"("bill_id", "created_at");

-- CreateIndex
CREATE INDEX "status_history_participant_id_idx" ON "status_history"("participant_id");

-- CreateIndex
CREATE INDEX "idempotency_keys_created_at_idx" ON "idempotency_keys"("created_at");

-- AddForeignKey
ALTER TABLE "participants" ADD CONSTRAINT "participants_bill_id_fkey" FOREIGN KEY ("bill_id") REFERENCES "bills"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "payment_requests" ADD CONSTRAINT "payment_requests_bill_id_fkey" FOREIGN KEY ("bill_id") REFERENCES "bills"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "payment_requests" ADD CONSTRAINT "payment_requests_participant_id_fkey" FOREIGN KEY ("participant_id") REFERENCES "participants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_bill_id_fkey" FOREIGN KEY ("bill_id") REFERENCES "bills"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "notifications" ADD CONSTRAINT "notifications_participant_id_fkey" FOREIGN KEY ("participant_id") REFERENCES "participants"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "status_history" ADD CONSTRAINT "status_history_bill_id_fkey" FOREIGN KEY ("bill_id") REFERENCES "bills"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "status_history" ADD CONSTRAINT "status_history_participant_id_fkey" FOREIGN KEY ("participant_id") REFERENCES "participants"("id") ON DELETE CASCADE ON UPDATE CASCADE;
