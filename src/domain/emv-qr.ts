// EMVCo merchant-presented QR payloads (EMV QRCPS-MPM): TLV fields, each "ID (2 digits) + length
// (2 digits) + value", ending with a CRC-16/CCITT-FALSE over everything before its value.
// A banking app scans this to pay the exact amount with our reference.

/** ISO 4217 numeric codes for the currencies the QR is issued in; other currencies get the link only. */
const NUMERIC_CURRENCY: Record<string, string> = {
  AUD: "036",
  CAD: "124",
  CHF: "756",
  CLF: "990",
  CNY: "156",
  EUR: "978",
  GBP: "826",
  HKD: "344",
  IDR: "360",
  INR: "356",
  JPY: "392",
  KHR: "116",
  KRW: "410",
  KWD: "414",
  LAK: "418",
  MYR: "458",
  PHP: "608",
  SGD: "702",
  THB: "764",
  USD: "840",
  UYW: "927",
  VND: "704",
};

export interface EmvPayment {
  /** Globally unique id of the payment scheme (reverse domain), e.g. "com.chillbill". */
  schemeId: string;
  merchantId: string;
  merchantName: string;
  merchantCity: string;
  countryCode: string;
  currency: string;
  /** A decimal string in the currency's minor units. */
  amount: string;
  reference: string;
  /** Merchant category code; 5812 is "eating places and restaurants". */
  categoryCode?: string;
}

function field(id: string, value: string): string {
  if (value.length > 99) throw new RangeError(`EMV field ${id} is longer than 99 characters`);
  return `${id}${String(value.length).padStart(2, "0")}${value}`;
}

/** ASCII-only and within the field's maximum length (EMV allows the "ANS" character set). */
function ans(value: string, max: number): string {
  return value
    .normalize("NFKD")
    .replace(/[^\x20-\x7e]/g, "")
    .trim()
    .slice(0, max);
}

export function emvCurrencySupported(currency: string): boolean {
  return currency in NUMERIC_CURRENCY;
}

export function buildEmvPayload(p: EmvPayment): string {
  const numeric = NUMERIC_CURRENCY[p.currency];
  if (!numeric) throw new RangeError(`No EMV currency code for ${p.currency}`);
  const body =
    field("00", "01") + // payload format indicator
    field("01", "12") + // point of initiation: 12 = dynamic (one payment, fixed amount)
    field("26", field("00", ans(p.schemeId, 32)) + field("01", ans(p.merchantId, 32))) +
    field("52", p.categoryCode ?? "5812") +
    field("53", numeric) +
    field("54", p.amount) +
    field("58", p.countryCode) +
    field("59", ans(p.merchantName, 25) || "ChillBill") +
    field("60", ans(p.merchantCity, 15) || "NA") +
    field("62", field("05", ans(p.reference, 25))) +
    "6304";
  return body + crc16CcittFalse(body);
}

/** CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, no reflection, no final XOR; 4 upper-case hex digits. */
export function crc16CcittFalse(text: string): string {
  let crc = 0xffff;
  for (const byte of Buffer.from(text, "utf8")) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit += 1) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc.toString(16).toUpperCase().padStart(4, "0");
}

/** Reads a payload back into its top-level fields (for tests and diagnostics). */
export function parseEmvFields(payload: string): Map<string, string> {
  const fields = new Map<string, string>();
  let i = 0;
  while (i < payload.length) {
    const id = payload.slice(i, i + 2);
    const length = Number(payload.slice(i + 2, i + 4));
    if (!/^\d{2}$/.test(id) || Number.isNaN(length)) throw new SyntaxError(`Bad EMV field at ${i}`);
    fields.set(id, payload.slice(i + 4, i + 4 + length));
    i += 4 + length;
  }
  return fields;
}
