// The page a payment link opens (served here on behalf of the mock payment system): no login, the
// unguessable token is the key. Plain server-rendered HTML that escapes everything it prints, works
// on a phone, and in mock mode has a "Pay now" button that completes the payment through the same
// signed webhook the payment system sends. What it shows (payable, paid in full, partly paid,
// superseded, cancelled, expired, failed, not ready) is decided by payPageState from the ledger's
// balances and reason codes; this file only renders it.
import { Router, type Request, type Response } from "express";
import QRCode from "qrcode";
import type { MockPaymentSystem } from "../../adapters/payments/mock-payment-system";
import type { Sql } from "../../db/sql";
import { formatAmount } from "../../domain/money";
import { allowOnly } from "../../http/api-router";
import { PAY_PAGE_HTTP_STATUS, payPageState, type CancelReason, type Money, type PayPageState, type Standing } from "./pay-page-state";
import { findByPayToken, type PayableRequest } from "./payments.repository";

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
  res.status(status).set({
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy":
      "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
  }).send(`<!doctype html>
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
  button:focus, a:focus { outline: 3px solid #ffbf47; outline-offset: 2px; }
  a.next { display: block; text-align: center; font-size: 1.1rem; padding: .85rem; border-radius: 8px; background: #0a6cff; color: #fff; text-decoration: none; font-weight: 600; }
  .note { color: #555; font-size: .9rem; }
</style>
</head>
<body><main>${body}</main></body>
</html>`);
}

function money(m: Money): string {
  return escapeHtml(`${m.amount} ${m.currency}`);
}

function balance(received: Money, owed: Money): string {
  return `<dl>
  <dt>Received</dt><dd>${money(received)}</dd>
  <dt>Still owed</dt><dd>${money(owed)}</dd>
</dl>`;
}

function payAtLink(payToken: string, amount: Money, label: string): string {
  return `<p><a class="next" href="/pay/${escapeHtml(encodeURIComponent(payToken))}">${escapeHtml(label)}: ${money(amount)}</a></p>`;
}

/** Why nothing is owed through a cancelled link, by its reason code (`who` is already escaped). */
const CANCELLED: Record<CancelReason, (who: string) => string> = {
  bill_cancelled: () => "This bill was cancelled; nothing is owed.",
  participant_removed: (who) => `${who} is no longer on this bill; nothing is owed.`,
  nothing_owed: () => "The split changed and nothing is owed through this link.",
  paid_elsewhere: () => "This share was settled another way; nothing is owed through this link.",
  other: () => "This payment request was cancelled; nothing is owed through it.",
};

/** What is owed back, said precisely: all they paid (a cancelled bill, a removed person) or the excess. */
function owedBack(received: Money | null, refundDue: Money): string {
  return received && received.amount === refundDue.amount
    ? `The ${money(refundDue)} you paid is owed back to you.`
    : `${money(refundDue)} of what you paid is owed back to you.`;
}

/**
 * A link that can no longer be paid (410): why, then where its person stands: what they owe and
 * where to pay it, or that nothing more is owed, with what was received and what is owed back.
 * `why` is HTML (constant text, or with the name already escaped).
 */
function closedPage(res: Response, status: number, why: string, next: Standing, options: { ask: string; saysNothingOwed?: boolean }): void {
  let standing: string;
  switch (next.kind) {
    case "pay_at":
      standing = `<p>${money(next.amount)} is owed now, through a newer link.</p>${payAtLink(next.payToken, next.amount, "Pay with the current link")}`;
      break;
    case "ask":
      standing = `<p>${money(next.owed)} is still owed. ${escapeHtml(options.ask)}</p>`;
      break;
    case "settled": {
      const text = [options.saysNothingOwed ? "" : "Nothing more is owed.", next.refundDue ? owedBack(next.received, next.refundDue) : ""]
        .filter(Boolean)
        .join(" ");
      const rows = [
        next.received ? `<dt>Received</dt><dd>${money(next.received)}</dd>` : "",
        next.refundDue ? `<dt>Owed back to you</dt><dd>${money(next.refundDue)}</dd>` : "",
      ].join("");
      standing = `${text ? `<p>${text}</p>` : ""}${rows ? `<dl>${rows}</dl>` : ""}`;
      break;
    }
    default: {
      const _exhaustive: never = next;
      throw new Error(`unhandled standing ${JSON.stringify(_exhaustive)}`);
    }
  }
  page(res, status, "Not payable", `<h1>This link can no longer be paid</h1><p>${why}</p>${standing}`);
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
      page(
        res,
        404,
        "Link not valid",
        `<h1>This payment link is not valid</h1><p>Check the link you received, or ask the person who shared the bill to send it again.</p>`,
      );
      return;
    }
    const state = payPageState(request);
    const status = PAY_PAGE_HTTP_STATUS[state.kind];
    const who = escapeHtml(request.participant.name);
    const merchant = escapeHtml(request.bill.merchantName ?? "your bill");
    switch (state.kind) {
      case "not_ready":
        page(res, status, "Not ready", `<h1>This payment link is not ready yet</h1><p>Try again in a minute.</p>`, 30);
        return;
      case "payable":
      case "partly_paid":
        if (state.kind === "partly_paid" && state.pay.kind !== "here") {
          page(
            res,
            status,
            "Partly paid",
            `<h1>Partly paid</h1>
<p>Part of ${who}'s share of ${merchant} has been received; the rest is still owed.</p>
${balance(state.received, state.owed)}
${state.pay.kind === "pay_at" ? payAtLink(state.pay.payToken, state.pay.amount, "Pay the rest") : `<p>Ask the person who shared the bill for a link to pay the rest.</p>`}`,
          );
          return;
        }
        await payablePage(req, res, request, state.kind === "partly_paid" ? state : undefined);
        return;
      case "paid_in_full":
        page(
          res,
          status,
          "Paid",
          `<h1>Paid, thank you</h1>
<p>${who}'s share of ${merchant} is paid in full.</p>
<dl>
  <dt>Received</dt><dd>${money(state.received)}</dd>
  ${state.refundDue ? `<dt>Owed back to you</dt><dd>${money(state.refundDue)}</dd>` : ""}
</dl>
${state.refundDue ? `<p>${owedBack(state.received, state.refundDue)}</p>` : ""}`,
        );
        return;
      case "superseded":
        closedPage(res, status, "This link is no longer valid: the amount owed changed.", state.next, {
          ask: "A new link for it will follow; you can also ask the person who shared the bill.",
        });
        return;
      case "expired":
        closedPage(res, status, "This payment request has expired.", state.next, { ask: "Ask for a new link." });
        return;
      case "failed":
        closedPage(res, status, "This payment did not go through.", state.next, { ask: "Ask for a new link to try again." });
        return;
      case "cancelled":
        closedPage(res, status, CANCELLED[state.reason](who), state.next, { ask: "Ask the person who shared the bill for a new link.", saysNothingOwed: true });
        return;
      default: {
        const _exhaustive: never = state;
        throw new Error(`unhandled pay page state ${JSON.stringify(_exhaustive)}`);
      }
    }
  });

  /** The open request, with its QR and (in mock mode) "Pay now"; after a partial payment, what arrived and what is owed. */
  async function payablePage(req: Request, res: Response, request: PayableRequest, partly: Extract<PayPageState, { kind: "partly_paid" }> | undefined) {
    const amount = `${formatAmount(request.amount, request.currency)} ${request.currency}`;
    const who = escapeHtml(request.participant.name);
    const merchant = escapeHtml(request.bill.merchantName ?? "your bill");
    const submitted = req.query.submitted === "1";
    const qr = await QRCode.toString(request.qrCode ?? request.paymentLink ?? "", { type: "svg", margin: 1, errorCorrectionLevel: "M" });
    const date = request.bill.billDate ? request.bill.billDate.toISOString().slice(0, 10) : "";
    page(
      res,
      200,
      `Pay ${amount}`,
      `<h1>${merchant}</h1>
${partly ? `<p>Partly paid: ${money(partly.received)} received. Pay the rest here.</p>` : ""}
<p class="amount" aria-label="Amount to pay">${escapeHtml(amount)}</p>
<dl>
  <dt>For</dt><dd>${who}</dd>
  ${date ? `<dt>Date</dt><dd>${escapeHtml(date)}</dd>` : ""}
  <dt>Reference</dt><dd>${escapeHtml(request.reference)}</dd>
  ${partly ? `<dt>Received</dt><dd>${money(partly.received)}</dd><dt>Still owed</dt><dd>${money(partly.owed)}</dd>` : ""}
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
  }

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
