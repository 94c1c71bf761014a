// What an uploaded file really is, from its first bytes (magic numbers), never from its name or
// the client's Content-Type. Only the formats phone cameras produce are accepted.

export type ImageType = "image/jpeg" | "image/png" | "image/webp" | "image/heic";

export const SNIFF_BYTES = 16;

export function sniffImageType(head: Buffer): ImageType | undefined {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return "image/jpeg";
  if (head.length >= 8 && head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return "image/png";
  }
  if (head.length >= 12 && head.toString("ascii", 0, 4) === "RIFF" && head.toString("ascii", 8, 12) === "WEBP") {
    return "image/webp";
  }
  // ISO-BMFF: a box of type "ftyp" whose brand says HEIF/HEIC.
  if (head.length >= 12 && head.toString("ascii", 4, 8) === "ftyp") {
    const brand = head.toString("ascii", 8, 12);
    if (["heic", "heix", "hevc", "heim", "heis", "mif1", "msf1"].includes(brand)) return "image/heic";
  }
  return undefined;
}

export const TAIL_BYTES = 12;

const PNG_IEND = Buffer.from([0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);

/**
 * Whether the file is whole: a PNG ends with its IEND chunk, a JPEG with the end-of-image marker,
 * a WebP's RIFF header gives its length. An upload cut short is refused rather than sent to the AI.
 * (HEIC has no cheap end marker; it is accepted on its header.)
 */
export function looksComplete(type: ImageType, head: Buffer, tail: Buffer, size: number): boolean {
  switch (type) {
    case "image/png":
      return tail.length >= PNG_IEND.length && tail.subarray(tail.length - PNG_IEND.length).equals(PNG_IEND);
    case "image/jpeg":
      return tail.length >= 2 && tail[tail.length - 2] === 0xff && tail[tail.length - 1] === 0xd9;
    case "image/webp":
      return head.length >= 8 && head.readUInt32LE(4) + 8 === size;
    case "image/heic":
      return size > 12;
  }
}
