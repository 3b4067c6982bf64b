import sharp, { type SharpOptions } from 'sharp'

/** Pixels decoded outside libvips (HEIF), 8-bit interleaved. */
export interface DecodedPixels {
  readonly data: Buffer
  readonly width: number
  readonly height: number
  readonly channels: 3 | 4
}

/** What sharp opens: an input and the constructor options that say how to read it. */
export interface SharpSource {
  readonly input: Buffer
  readonly options: SharpOptions
}

/**
 * Decoded pixels as sharp input. Without a colour profile (or with an sRGB one) they go in raw.
 * With one, they are wrapped in a minimal uncompressed TIFF that carries it, because sharp's raw
 * input has no way to say which colour space the pixels are in: libvips then converts them to sRGB
 * from that profile exactly as it does for a JPEG with an embedded Display P3 profile.
 */
export function sharpSourceOf(pixels: DecodedPixels, icc?: Buffer): SharpSource {
  const { data, width, height, channels } = pixels
  if (!icc) return { input: data, options: { raw: { width, height, channels } } }
  return { input: tiffWithIcc(pixels, icc), options: {} }
}

const TIFF = { SHORT: 3, LONG: 4, UNDEFINED: 7 } as const

/**
 * Little-endian baseline TIFF: header, the pixels as one uncompressed strip, then the IFD, the
 * BitsPerSample array and the ICC profile (tag 34675). One copy of the pixels.
 */
function tiffWithIcc({ data, width, height, channels }: DecodedPixels, icc: Buffer): Buffer {
  const entries: [tag: number, type: number, count: number, value: number][] = []
  const pixelsEnd = 8 + data.length
  const ifdAt = pixelsEnd + (pixelsEnd % 2) // the IFD starts on a word boundary
  const count = channels === 4 ? 12 : 11
  const bitsAt = ifdAt + 2 + count * 12 + 4
  const iccAt = bitsAt + channels * 2
  entries.push(
    [256, TIFF.LONG, 1, width],
    [257, TIFF.LONG, 1, height],
    [258, TIFF.SHORT, channels, bitsAt], // BitsPerSample: 8 per channel, stored out of line
    [259, TIFF.SHORT, 1, 1], // no compression
    [262, TIFF.SHORT, 1, 2], // RGB
    [273, TIFF.LONG, 1, 8], // the strip starts after the header
    [277, TIFF.SHORT, 1, channels],
    [278, TIFF.LONG, 1, height], // one strip
    [279, TIFF.LONG, 1, data.length],
    [284, TIFF.SHORT, 1, 1], // interleaved
  )
  if (channels === 4) entries.push([338, TIFF.SHORT, 1, 2]) // ExtraSamples: unassociated alpha
  entries.push([34675, TIFF.UNDEFINED, icc.length, iccAt])
  const out = Buffer.alloc(iccAt + icc.length)
  out.write('II', 0, 'latin1')
  out.writeUInt16LE(42, 2)
  out.writeUInt32LE(ifdAt, 4)
  data.copy(out, 8)
  out.writeUInt16LE(entries.length, ifdAt)
  entries.forEach(([tag, type, n, value], i) => {
    const at = ifdAt + 2 + i * 12
    out.writeUInt16LE(tag, at)
    out.writeUInt16LE(type, at + 2)
    out.writeUInt32LE(n, at + 4)
    // A single SHORT sits in the first two bytes of the value field; everything else is a LONG or an offset.
    if (type === TIFF.SHORT && n === 1) out.writeUInt16LE(value, at + 8)
    else out.writeUInt32LE(value, at + 8)
  })
  out.writeUInt32LE(0, ifdAt + 2 + entries.length * 12) // no next IFD
  for (let c = 0; c < channels; c++) out.writeUInt16LE(8, bitsAt + c * 2)
  icc.copy(out, iccAt)
  return out
}

let displayP3: Promise<Buffer> | undefined

/**
 * libvips' own Display P3 profile, for HEIF files that name their colours by nclx primaries
 * (12, P3-D65) instead of embedding a profile. Read once from an image sharp tags with it.
 */
export function displayP3Profile(): Promise<Buffer> {
  displayP3 ??= sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } })
    .withIccProfile('p3')
    .png()
    .toBuffer()
    .then(async (png) => {
      const { icc } = await sharp(png).metadata()
      if (!icc) throw new Error('libvips has no built-in Display P3 profile')
      return icc
    })
  return displayP3
}
