import { buildEmvPayload, crc16CcittFalse, emvCurrencySupported, parseEmvFields } from "../../src/domain/emv-qr";

const payment = {
  schemeId: "com.chillbill",
  merchantId: "CHILLBILL",
  merchantName: "Phở 24 – Hai Bà Trưng",
  merchantCity: "Ho Chi Minh City",
  countryCode: "VN",
  currency: "VND",
  amount: "33334",
  reference: "CB7Q2K9X4M",
};

describe("CRC-16/CCITT-FALSE", () => {
  it("matches the standard check value for 123456789", () => {
    expect(crc16CcittFalse("123456789")).toBe("29B1");
  });
  it("pads to four upper-case hex digits", () => {
    expect(crc16CcittFalse("")).toBe("FFFF");
    expect(crc16CcittFalse("A")).toMatch(/^[0-9A-F]{4}$/);
  });
});

describe("EMV merchant-presented payload", () => {
  const payload = buildEmvPayload(payment);
  const fields = parseEmvFields(payload);

  it("is dynamic, carries amount, currency, country and reference", () => {
    expect(fields.get("00")).toBe("01");
    expect(fields.get("01")).toBe("12");
    expect(fields.get("53")).toBe("704");
    expect(fields.get("54")).toBe("33334");
    expect(fields.get("58")).toBe("VN");
    expect(parseEmvFields(fields.get("62")!).get("05")).toBe("CB7Q2K9X4M");
    expect(parseEmvFields(fields.get("26")!)).toEqual(
      new Map([
        ["00", "com.chillbill"],
        ["01", "CHILLBILL"],
      ]),
    );
  });

  it("keeps names within their lengths and in ASCII", () => {
    expect(fields.get("59")).toBe("Pho 24  Hai Ba Trung");
    expect(fields.get("59")!.length).toBeLessThanOrEqual(25);
    expect(fields.get("60")).toBe("Ho Chi Minh Cit");
  });

  it("ends with a CRC over everything up to and including 6304", () => {
    expect(payload.slice(-8, -4)).toBe("6304");
    expect(payload.slice(-4)).toBe(crc16CcittFalse(payload.slice(0, -4)));
    const tampered = payload.replace("5405333345", "5405333335");
    expect(tampered.slice(-4)).not.toBe(crc16CcittFalse(tampered.slice(0, -4)));
  });

  it("uses the numeric currency code, and refuses currencies it has none for", () => {
    expect(parseEmvFields(buildEmvPayload({ ...payment, currency: "USD", amount: "33.34" })).get("53")).toBe("840");
    expect(emvCurrencySupported("KWD")).toBe(true);
    // ISO 4217 numeric codes of the two currencies with four minor units.
    expect(parseEmvFields(buildEmvPayload({ ...payment, currency: "CLF", amount: "3.3334" })).get("53")).toBe("990");
    expect(parseEmvFields(buildEmvPayload({ ...payment, currency: "UYW", amount: "3.3334" })).get("53")).toBe("927");
    expect(parseEmvFields(buildEmvPayload({ ...payment, currency: "CLF", amount: "10.0001" })).get("54")).toBe("10.0001");
    expect(emvCurrencySupported("BHD")).toBe(false);
    expect(() => buildEmvPayload({ ...payment, currency: "BHD" })).toThrow(RangeError);
  });
});
