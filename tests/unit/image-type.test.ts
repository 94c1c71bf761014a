import { looksComplete, sniffImageType } from "../../src/domain/image-type";

const bytes = (...parts: (number[] | string)[]) => Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "ascii") : Buffer.from(p))));

describe("sniffImageType reads the first bytes, not the name", () => {
  it.each([
    ["JPEG", bytes([0xff, 0xd8, 0xff, 0xe1, 0, 0]), "image/jpeg"],
    ["PNG", bytes([0x89], "PNG", [0x0d, 0x0a, 0x1a, 0x0a, 0, 0]), "image/png"],
    ["WebP", bytes("RIFF", [1, 2, 3, 4], "WEBPVP8 "), "image/webp"],
    ["HEIC", bytes([0, 0, 0, 24], "ftypheic", [0, 0, 0, 0]), "image/heic"],
    ["HEIF (mif1)", bytes([0, 0, 0, 24], "ftypmif1", [0, 0, 0, 0]), "image/heic"],
  ])("recognises %s", (_name, head, type) => {
    expect(sniffImageType(head)).toBe(type);
  });

  it.each([
    ["a shell script", bytes("#!/bin/sh\n")],
    ["a PDF", bytes("%PDF-1.7\n")],
    ["a GIF", bytes("GIF89a")],
    ["an MP4 (ftyp, not HEIF)", bytes([0, 0, 0, 24], "ftypisom", [0, 0, 0, 0])],
    ["a RIFF that is not WebP (WAV)", bytes("RIFF", [1, 2, 3, 4], "WAVEfmt ")],
    ["a truncated PNG signature", bytes([0x89], "PNG")],
    ["an empty file", Buffer.alloc(0)],
  ])("refuses %s", (_name, head) => {
    expect(sniffImageType(head)).toBeUndefined();
  });
});

describe("looksComplete", () => {
  const png = Buffer.concat([bytes([0x89], "PNG", [0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(20), bytes([0, 0, 0, 0], "IEND", [0xae, 0x42, 0x60, 0x82])]);
  it("accepts a PNG that ends with IEND and a JPEG that ends with FFD9", () => {
    expect(looksComplete("image/png", png.subarray(0, 16), png.subarray(-12), png.length)).toBe(true);
    expect(looksComplete("image/jpeg", bytes([0xff, 0xd8, 0xff]), bytes([1, 2, 0xff, 0xd9]), 100)).toBe(true);
  });
  it("refuses the same files cut short", () => {
    const cut = png.subarray(0, png.length - 5);
    expect(looksComplete("image/png", cut.subarray(0, 16), cut.subarray(-12), cut.length)).toBe(false);
    expect(looksComplete("image/jpeg", bytes([0xff, 0xd8, 0xff]), bytes([1, 2, 3, 4]), 100)).toBe(false);
  });
  it("checks a WebP's length against its RIFF header", () => {
    const head = Buffer.concat([bytes("RIFF"), Buffer.from([92, 0, 0, 0]), bytes("WEBPVP8 ")]);
    expect(looksComplete("image/webp", head, Buffer.alloc(4), 100)).toBe(true);
    expect(looksComplete("image/webp", head, Buffer.alloc(4), 60)).toBe(false);
  });
});
