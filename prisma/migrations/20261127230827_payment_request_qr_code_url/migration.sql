-- The spec ERD names the QR image URL of a payment request (docs/data-model.md). qr_code keeps
-- the EMVCo payload the image encodes.

-- PaymentRequests.qr_code_url: the QR image of a payment-link request, relative to the public
-- base URL, for every request already handed to the payment system (the image exists from then on)
ALTER TABLE "payment_requests" ADD COLUMN "qr_code_url" TEXT;
UPDATE "payment_requests" SET "qr_code_url" = '/pay/' || "pay_token" || '/qr.png'
 WHERE "channel" = 'payment_link' AND "pay_token" IS NOT NULL AND "payment_link" IS NOT NULL;
