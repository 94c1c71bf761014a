// The page a payment link opens (served here on behalf of the mock payment system): no login, the
// unguessable token is the key. Plain server-rendered HTML that escapes everything it prints, works
// on a phone, and in mock mode has a "Pay now" button that completes the payment through the same
// signed webhook the payment system sends.
import { Router, type Request, type Response } from "express";
import QRCode from "qrcode";
import type { MockPaymentSystem } from "../../adapters/payments/mock-payment-system";
import type { Sql } from "../../db/sql";
import { formatAmount } from "../../domain/money";
import { allowOnly } from "../../http/api-router";
import { findByPayToken } from "./payments.repository";

const QR_IMAGE_PATH = /^\/pay\/([A-Za-z0-9_-]{32})\/qr\.(svg|png)$/;

const TOKEN = /^[A-Za-z0-9_-]{32}$/;

/**
 * Where a request's QR image is served, relative to the public base URL. Stored as
 * payment_requests.qr_code_url without the base, so a new host name does not leave stale URLs.
 */
export function qrImagePath(payToken: string, format: "png" | "svg" = "png"): string {
  return `/pay/${payToken}/qr.${format}`;
}

export function escapeHtml(value: unknown): string {
  return String(value ?? "").replace(/[&<>"'`=/]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(res: Response, status: number, title: string, body: string, refreshSeconds?: number): void {
  res
    .status(status)
    .set({
      "Content-Type": "text/html; charset=utf-8",
      "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
      "Cache-Control": "no-store",
      "Referrer-Policy": "no-referrer",
      "X-Content-Type-Options": "nosniff",
    })
    .send(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${refreshSeconds ? `<meta http-equiv="refresh" content="${refreshSeconds}">` : ""}
<title>${escapeHtml(title)} · ChillBill</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; padding: 1rem; background: #f5f7fa; color: #1a1a1a; }
  main { max-width: 26rem; margin: 0 auto; background: #fff; border-radius: 12px; padding: 1.25rem; box-shadow: 0 1px 4px rgba(0,0,0,.1); }
  h1 { font-size: 1.25rem; margin-top: 0; }
  dl { display: grid; grid-template-columns: auto 1fr; gap: .4rem 1rem; }
  dt { color: #555; } dd { margin: 0; font-weight: 600; }
  .amount { font-size: 1.75rem; font-weight: 700; margin: .5rem 0 1rem; }
  .qr svg, .qr img { width: 100%; max-width: 16rem; height: auto; display: block; margin: 0 auto; }
  button { width: 100%; font-size: 1.1rem; padding: .85rem; border: 0; border-radius: 8px; background: #0a6cff; color: #fff; cursor: pointer; }
  button:focus { outline: 3px solid #ffbf47; outline-offset: 2px; }
  .note { color: #555; font-size: .9rem; }
</style>
</head>
<body><main>${body}</main></body>
</html>`);
}

export function payPageRouter(sql: Sql, mock: MockPaymentSystem | undefined, webhookUrl: () => string): Router {
  const router = Router();

  async function load(req: Request) {
    const token = String(req.params.token);
    if (!TOKEN.test(token)) return undefined;
    return findByPayToken(sql, token);
  }

  router.get("/pay/:token", async (req, res) => {
    const request = await load(req);
    if (!request) {
      page(res, 404, "Link not valid", `<h1>This payment link is not valid</h1><p>Check the link you received, or ask the person who shared the bill to send it again.</p>`);
      return;
    }
    const amount = `${formatAmount(request.amount, request.currency)} ${request.currency}`;
    const who = escapeHtml(request.participant.name);
    const merchant = escapeHtml(request.bill.merchantName ?? "your bill");
    if (request.status === "paid" || (request.participant.paymentStatus === "paid" && request.status !== "sent")) {
      page(res, 200, "Paid", `<h1>Paid, thank you</h1><p>${who}'s share of ${merchant} (${escapeHtml(amount)}) has been paid.</p>`);
      return;
    }
    // A superseded request says why: the amount owed changed and a new link was sent for it.
    const why = request.statusReason ? ` (${request.statusReason})` : "";
    const closed: Record<string, string> = {
      expired: "This payment request has expired. Ask for a new link.",
      failed: "This payment did not go through. Ask for a new link to try again.",
      cancelled: request.statusReason?.startsWith("superseded")
        ? `This link is no longer valid: the amount owed changed${why}. Use the newest link you received.`
        : `This payment request was cancelled${why}; nothing is owed through it.`,
    };
    if (request.bill.status === "cancelled" || closed[request.status]) {
      const text = request.bill.status === "cancelled" ? "This bill was cancelled; nothing is owed." : closed[request.status];
      page(res, 410, "Not payable", `<h1>This link can no longer be paid</h1><p>${escapeHtml(text)}</p>`);
      return;
    }
    if (request.status === "pending") {
      page(res, 503, "Not ready", `<h1>This payment link is not ready yet</h1><p>Try again in a minute.</p>`, 30);
      return;
    }
    const submitted = req.query.submitted === "1";
    const qr = await QRCode.toString(request.qrCode ?? request.paymentLink ?? "", { type: "svg", margin: 1, errorCorrectionLevel: "M" });
    const date = request.bill.billDate ? request.bill.billDate.toISOString().slice(0, 10) : "";
    page(
      res,
      200,
      `Pay ${amount}`,
      `<h1>${merchant}</h1>
<p class="amount" aria-label="Amount to pay">${escapeHtml(amount)}</p>
<dl>
  <dt>For</dt><dd>${who}</dd>
  ${date ? `<dt>Date</dt><dd>${escapeHtml(date)}</dd>` : ""}
  <dt>Reference</dt><dd>${escapeHtml(request.reference)}</dd>
</dl>
<figure class="qr" role="img" aria-label="QR code to pay ${escapeHtml(amount)} with your banking app">${qr}</figure>
${
  submitted
    ? `<p role="status">Payment submitted. This page updates when the payment is confirmed.</p>`
    : mock
      ? `<form method="post" action="/pay/${escapeHtml(req.params.token)}/pay"><button type="submit">Pay now</button></form>
<p class="note">Test mode: the button pays through the mock payment system.</p>`
      : `<p class="note">Scan the QR code with your banking app to pay.</p>`
}`,
      submitted ? 2 : undefined,
    );
  });

  router.get(QR_IMAGE_PATH, async (req, res) => {
    const [token, format] = [req.params[0], req.params[1]];
    const request = await findByPayToken(sql, token);
    const payload = request?.qrCode ?? request?.paymentLink;
    if (!request || !payload) {
      res.status(404).type("text/plain").send("No QR code for this link");
      return;
    }
    // A closed request's QR must not be scannable any more.
    if (request.status !== "sent") {
      res.status(410).type("text/plain").send("This payment request can no longer be paid");
      return;
    }
    res.set("Cache-Control", "no-store");
    if (format === "svg") {
      res.type("image/svg+xml").send(await QRCode.toString(payload, { type: "svg", margin: 1, errorCorrectionLevel: "M" }));
    } else {
      res.type("image/png").send(await QRCode.toBuffer(payload, { type: "png", margin: 1, width: 320, errorCorrectionLevel: "M" }));
    }
  });

  if (mock) {
    router.post("/pay/:token/pay", async (req, res) => {
      const request = await load(req);
      if (!request || !request.paymentId || request.status !== "sent" || request.bill.status === "cancelled") {
        res.redirect(303, `/pay/${encodeURIComponent(String(req.params.token))}`);
        return;
      }
      mock.settle({
        paymentId: request.paymentId,
        reference: request.reference,
        amount: formatAmount(request.amount, request.currency),
        currency: request.currency,
        webhookUrl: webhookUrl(),
      });
      res.redirect(303, `/pay/${encodeURIComponent(request.payToken)}?submitted=1`);
    });
    router.all("/pay/:token/pay", allowOnly("post"));
  }
  router.all(["/pay/:token", QR_IMAGE_PATH], allowOnly("get"));
  return router;
}
