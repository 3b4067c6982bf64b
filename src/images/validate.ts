import { createHash } from 'node:crypto'
import sharp, { type Metadata } from 'sharp'
import type { ImagesConfig } from '../config/index.js'
import { FORMATS, IMAGE_INPUT_FORMATS, type ImageType } from '../domain/index.js'
import { LocalexError } from '../errors/index.js'
import { readHeader } from './headers.js'
import type { HeifDecoder, HeifHeader } from './heif-decoder.js'
import { isSrgbProfile } from './icc.js'
import { checkDimensions } from './limits.js'
import { acceptedTypes, PURPOSE_RULES } from './purposes.js'
import { sniffType, type SniffedKind } from './sniff.js'
import type { ImageFacts, Purpose } from './types.js'

/** Photo kinds the pipeline can decode; everything else the sniffer names is refused. */
const KIND_TO_TYPE: Partial<Record<SniffedKind, ImageType>> = Object.fromEntries(
  IMAGE_INPUT_FORMATS.map((format) => [format, FORMATS[format].contentType]),
)

/** Why a kind is refused, in words a client can act on. */
const REFUSAL: Partial<Record<SniffedKind, string>> = {
  'avif-sequence': 'animated AVIF (image sequences) is not supported; upload a still image',
  svg: 'SVG is not accepted (it can carry scripts and external references)',
  html: 'HTML is not an image',
  xml: 'XML is not an image',
  tiff: 'TIFF is not accepted; upload JPEG, PNG, WebP, GIF or AVIF',
  bmp: 'BMP is not accepted; upload JPEG, PNG, WebP, GIF or AVIF',
  jxl: 'JPEG XL is not accepted yet; upload JPEG, PNG, WebP, GIF or AVIF',
  pdf: 'PDF is accepted only for verification documents',
}

/** What the pipeline needs to decode an image validated here. */
export interface Validated {
  readonly facts: ImageFacts
  /** The embedded ICC profile is sRGB: skip lcms' no-op transform. */
  readonly srgbProfile: boolean
  /** HEIC/HEIF: the container's header. libvips cannot decode these; the HEIF decoder port does. */
  readonly heif?: HeifHeader
}

/** What validation needs besides the bytes. */
export interface ValidationContext {
  readonly config: ImagesConfig
  readonly heif: HeifDecoder
  readonly signal?: AbortSignal
}

/** nclx colour primaries that name Display P3 (SMPTE EG 432-1, P3 with a D65 white). */
export const NCLX_DISPLAY_P3 = 12

/**
 * Checks a photo or document image from its headers only: type from the magic bytes, byte size,
 * stored and displayed dimensions, pixel count, frames. Nothing is decoded, so a decompression bomb
 * costs microseconds. Broken data that only a decode reveals is caught by `process()` (`failOn:
 * 'warning'`), also as INVALID_IMAGE.
 */
export async function validateImageBuffer(
  input: Buffer,
  purpose: Purpose,
  context: ValidationContext,
): Promise<Validated> {
  const { config } = context
  if (input.length === 0) throw new LocalexError('EMPTY_FILE', 'File is empty')
  if (input.length > config.maxBytes) {
    throw new LocalexError('FILE_TOO_LARGE', `File is larger than ${config.maxBytes} bytes`, {
      details: { maxBytes: config.maxBytes, bytes: input.length },
    })
  }
  const { kind, mime } = sniffType(input)
  const type = KIND_TO_TYPE[kind]
  const accepted = acceptedTypes(purpose, config)
  if (!type || !accepted.includes(type)) {
    const reason = !type
      ? (REFUSAL[kind] ?? 'File is not a recognised image')
      : kind === 'heic' || kind === 'heif'
        ? `${mime} is not accepted here; export the photo as JPEG ` +
          '(on iPhone: Settings > Camera > Formats > Most Compatible)'
        : `${mime} is not accepted for ${purpose.replace('_', ' ')}s`
    throw new LocalexError('UNSUPPORTED_TYPE', reason, {
      details: {
        detected: kind,
        accepted: [...accepted, ...(PURPOSE_RULES[purpose].pdf ? [FORMATS.pdf.contentType] : [])],
      },
    })
  }

  if (kind === 'heic' || kind === 'heif') return validateHeif(input, kind, type, context)

  // 1. Our own header read: dimensions before libvips sees the file.
  const header = readHeader(kind, input)
  if (header) {
    if (header.precision !== undefined && header.precision !== 8) {
      throw new LocalexError(
        'UNSUPPORTED_TYPE',
        `${header.precision}-bit JPEG is not supported; save it as an ordinary 8-bit JPEG`,
        { details: { detected: 'jpeg', precision: header.precision } },
      )
    }
    // Dimensions first when the header had them: a bomb is a bomb even if it is also truncated.
    if (header.width > 0 && header.height > 0) checkDimensions(header.width, header.height, config)
    if (header.problem) throw new LocalexError('INVALID_IMAGE', header.problem, { details: { detected: kind } })
    checkDimensions(header.width, header.height, config)
  }

  // 2. libvips' header read (still no pixel decode): orientation, channels, frames, ICC.
  let meta: Metadata
  try {
    meta = await sharp(input, { failOn: 'warning', limitInputPixels: config.maxInputPixels }).metadata()
  } catch (cause) {
    throw mapSharpError(cause)
  }
  checkDimensions(meta.width, meta.height, config)
  const pages = meta.pages ?? 1
  if (pages > config.maxFrames) {
    throw new LocalexError(
      'TOO_MANY_FRAMES',
      `Animation has ${pages} frames; at most ${config.maxFrames} are accepted`,
      { details: { frames: pages, maxFrames: config.maxFrames } },
    )
  }
  const orientation = meta.orientation && meta.orientation >= 1 && meta.orientation <= 8 ? meta.orientation : 1
  const storedHeight = meta.height
  const swap = orientation >= 5
  const width = swap ? storedHeight : meta.width
  const height = swap ? meta.width : storedHeight
  const facts = factsOf(input, kind, type, { width, height, pages, hasAlpha: meta.hasAlpha, orientation }, config)
  return { facts, srgbProfile: meta.space === 'srgb' && isSrgbProfile(meta.icc) }
}

/**
 * HEIC/HEIF: the header comes from the HEIF decoder (libheif parses the container; no pixel is
 * decoded), so its size is the one the decode will produce, after the container's rotation and
 * mirror. Those are applied by the decoder, never an EXIF orientation: in HEIF the EXIF tag is
 * informative only, and iPhones write both, so honouring it as well would turn photos twice.
 */
async function validateHeif(
  input: Buffer,
  kind: 'heic' | 'heif',
  type: ImageType,
  context: ValidationContext,
): Promise<Validated> {
  const { config } = context
  const { maxInputPixels, maxInputSide, decodeTimeoutMs } = config
  const limits = { maxInputPixels, maxInputSide, decodeTimeoutMs }
  const header = await context.heif.probe(input, { limits, ...(context.signal ? { signal: context.signal } : {}) })
  checkDimensions(header.width, header.height, config)
  const { width, height, hasAlpha } = header
  const facts = factsOf(input, kind, type, { width, height, pages: 1, hasAlpha, orientation: 1 }, config)
  const srgbProfile = header.icc ? isSrgbProfile(header.icc) : header.primaries !== NCLX_DISPLAY_P3
  return { facts, srgbProfile, heif: header }
}

function factsOf(
  input: Buffer,
  kind: SniffedKind,
  type: ImageType,
  read: Pick<ImageFacts, 'width' | 'height' | 'pages' | 'hasAlpha' | 'orientation'>,
  config: ImagesConfig,
): ImageFacts {
  const { width, height } = read
  if (config.oversize === 'reject' && Math.max(width, height) > config.maxSide) {
    throw new LocalexError(
      'DIMENSIONS_TOO_LARGE',
      `Image is ${width}x${height}; the longest side may be at most ${config.maxSide} px`,
      { details: { width, height, maxSide: config.maxSide } },
    )
  }
  return {
    format: kind as ImageFacts['format'],
    contentType: type,
    ...read,
    bytes: input.length,
    sha256: createHash('sha256').update(input).digest('hex'),
  }
}

/** libvips' words for an input it cannot decode at all (a format or a variant it was built without). */
const UNDECODABLE =
  /unsupported image format|not built in|has not been built|unsupported JPEG data precision|unsupported colou?r ?space/i

/**
 * Maps a libvips/sharp failure to the catalogue. sharp reports everything as plain `Error`s with
 * the decoder's text, so this matches on that text — one place to adjust when libvips rewords.
 * Whatever is not recognised is INVALID_IMAGE: a decoder refusing the bytes is the client's file.
 */
export function mapSharpError(cause: unknown): LocalexError {
  if (cause instanceof LocalexError) return cause
  const message = cause instanceof Error ? cause.message : String(cause)
  if (/pixel limit/i.test(message)) {
    return new LocalexError('DIMENSIONS_TOO_LARGE', 'Image has more pixels than accepted', { cause })
  }
  if (UNDECODABLE.test(message)) {
    return new LocalexError('UNSUPPORTED_TYPE', 'Image uses a format or coding that cannot be decoded', { cause })
  }
  return new LocalexError('INVALID_IMAGE', `Image data is broken or truncated (${firstLine(message)})`, { cause })
}

function firstLine(text: string): string {
  return (text.split('\n')[0] ?? '').slice(0, 160)
}
