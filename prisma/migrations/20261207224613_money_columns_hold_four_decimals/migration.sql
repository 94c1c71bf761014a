-- Money columns go from DECIMAL(18,3) to DECIMAL(19,4): CLF and UYW have 4 minor units (ISO 4217),
-- and with 3 decimals 10.0001 CLF was stored as 10.0000 and an equal split of 3.3333 x3 as 3.3330 x3.
-- 15 digits before the point, as before: every stored value fits unchanged. share_weight gets 15
-- digits before the point too (DECIMAL(21,6)), the most the API accepts for a weight.
-- Each ALTER rewrites its table under an exclusive lock (short at the sizes this project has).

-- AlterTable
ALTER TABLE "bills" ALTER COLUMN "total_amount" SET DATA TYPE DECIMAL(19,4);

-- AlterTable
ALTER TABLE "participants" ALTER COLUMN "amount_to_pay" SET DATA TYPE DECIMAL(19,4),
ALTER COLUMN "share_weight" SET DATA TYPE DECIMAL(21,6),
ALTER COLUMN "paid_amount" SET DATA TYPE DECIMAL(19,4),
ALTER COLUMN "outstanding_amount" SET DATA TYPE DECIMAL(19,4),
ALTER COLUMN "refund_due" SET DATA TYPE DECIMAL(19,4);

-- AlterTable
ALTER TABLE "payment_events" ALTER COLUMN "amount" SET DATA TYPE DECIMAL(19,4);

-- AlterTable
ALTER TABLE "payment_requests" ALTER COLUMN "amount" SET DATA TYPE DECIMAL(19,4);

-- AlterTable
ALTER TABLE "payments" ALTER COLUMN "amount" SET DATA TYPE DECIMAL(19,4);
