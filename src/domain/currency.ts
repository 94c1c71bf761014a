// ISO 4217 active currency codes and their minor units (the number of decimals an amount may have).
// Source: the ISO 4217 list (SIX, amendment 179, 2025); fund and metal codes (XAU, XDR, ...) are
// left out because nobody splits a dinner in them.

const ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF";
const THREE = "BHD IQD JOD KWD LYD OMR TND";
const FOUR = "CLF UYW";
const TWO =
  "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF CHE " +
  "CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD " +
  "HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP " +
  "MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD " +
  "SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS " +
  "VED VES WST XCD XCG YER ZAR ZMW ZWG";

const MINOR_UNITS: ReadonlyMap<string, number> = new Map(
  [
    [ZERO, 0],
    [TWO, 2],
    [THREE, 3],
    [FOUR, 4],
  ].flatMap(([codes, units]) =>
    String(codes)
      .split(" ")
      .map((code) => [code, Number(units)] as [string, number]),
  ),
);

export const CURRENCY_CODES: readonly string[] = [...MINOR_UNITS.keys()].sort();

export function isCurrencyCode(code: string): boolean {
  return MINOR_UNITS.has(code);
}

/** Decimals allowed for the currency; throws for a code that is not an active ISO 4217 currency. */
export function minorUnits(code: string): number {
  const units = MINOR_UNITS.get(code);
  if (units === undefined) throw new RangeError(`Unknown currency: ${code}`);
  return units;
}
