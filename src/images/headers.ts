/**
 * Header-only readers: the stored dimensions of JPEG, PNG, GIF and WebP files, read from the first
 * bytes without decoding anything, so that decompression bombs are refused before libvips is called.
 * The JPEG reader also walks the marker segments up to the first scan, which catches 12-bit data,
 * junk between markers and a missing end of image — what libjpeg would only report mid-decode.
 */

export interface HeaderInfo {
  /** Stored size (before EXIF orientation). */
  readonly width: number
  readonly height: number
  /** JPEG sample precision in bits (8, or 12/16 for the extended and lossless processes). */
  readonly precision?: number
  /** Why the file is broken, when the header walk finds it so. */
  readonly problem?: string
}

export function readHeader(kind: string, b: Buffer): HeaderInfo | undefined {
  switch (kind) {
    case 'jpeg':
      return readJpeg(b)
    case 'png':
      return b.length >= 24 && b.toString('latin1', 12, 16) === 'IHDR'
        ? { width: b.readUInt32BE(16), height: b.readUInt32BE(20) }
        : { width: 0, height: 0, problem: 'PNG has no IHDR chunk' }
    case 'gif':
      return b.length >= 10
        ? { width: b.readUInt16LE(6), height: b.readUInt16LE(8) }
        : { width: 0, height: 0, problem: 'GIF header is truncated' }
    case 'webp':
      return readWebp(b)
    default:
      return undefined
  }
}

const SOF_MARKERS = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf])

function readJpeg(b: Buffer): HeaderInfo {
  let at = 2
  let sof: { width: number; height: number; precision: number } | undefined
  while (at + 4 <= b.length) {
    if (b[at] !== 0xff)
      return {
        ...(sof ?? { width: 0, height: 0 }),
        problem: `JPEG has ${countJunk(b, at)} extraneous bytes before a marker`,
      }
    const marker = b[at + 1] as number
    if (marker === 0xff) {
      at += 1
      continue
    } // fill bytes are allowed
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2
      continue
    }
    if (marker === 0xd9) return { ...(sof ?? { width: 0, height: 0 }), problem: 'JPEG ends before its first scan' }
    const length = b.readUInt16BE(at + 2)
    if (length < 2 || at + 2 + length > b.length)
      return { ...(sof ?? { width: 0, height: 0 }), problem: 'JPEG is truncated inside a header segment' }
    if (SOF_MARKERS.has(marker) && !sof && length >= 8) {
      sof = { precision: b[at + 4] as number, height: b.readUInt16BE(at + 5), width: b.readUInt16BE(at + 7) }
    }
    if (marker === 0xda) {
      if (!sof) return { width: 0, height: 0, problem: 'JPEG has a scan before its frame header' }
      // Entropy-coded data stuffs every 0xFF as FF 00, so FF D9 after the first scan is the real
      // end of image (or trailing data after it, which re-encoding drops anyway).
      if (b.lastIndexOf(EOI) < at) return { ...sof, problem: 'JPEG is truncated (no end-of-image marker)' }
      return sof
    }
    at += 2 + length
  }
  return { ...(sof ?? { width: 0, height: 0 }), problem: 'JPEG is truncated before its first scan' }
}

const EOI = Buffer.from([0xff, 0xd9])

function countJunk(b: Buffer, from: number): number {
  let n = 0
  while (from + n < b.length && b[from + n] !== 0xff) n++
  return n
}

function readWebp(b: Buffer): HeaderInfo {
  if (b.length < 30) return { width: 0, height: 0, problem: 'WebP header is truncated' }
  const chunk = b.toString('latin1', 12, 16)
  if (chunk === 'VP8X') return { width: 1 + b.readUIntLE(24, 3), height: 1 + b.readUIntLE(27, 3) }
  if (chunk === 'VP8 ') return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff }
  if (chunk === 'VP8L') {
    const bits = b.readUInt32LE(21)
    return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >> 14) & 0x3fff) }
  }
  return { width: 0, height: 0, problem: `WebP has an unknown first chunk "${chunk}"` }
}
