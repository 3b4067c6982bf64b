import { Readable } from 'node:stream'
import sharp, { type OutputInfo, type Sharp } from 'sharp'
import { rgbaToThumbHash, thumbHashToDataURL } from 'thumbhash'
import { loadImagesConfig, type ImagesConfig, type VariantSpec } from '../config/index.js'
import { FORMATS } from '../domain/index.js'
import { LocalexError } from '../errors/index.js'
import { mapLimit } from '../lib/index.js'
import { displayP3Profile, sharpSourceOf, type SharpSource } from './decoded-input.js'
import { applyEncoder, applySanitisedEncoder, LARGE_OUTPUT_SIDE, type EncoderProfile } from './encoders.js'
import { defaultHeifDecoder, type HeifDecoder } from './heif-decoder.js'
import { validatePdf, type PdfFacts } from './pdf.js'
import { PURPOSE_RULES, variantsFor } from './purposes.js'
import { readLimited } from './read-limited.js'
import { sniffType } from './sniff.js'
import type {
  ImageFacts,
  ImageInput,
  ImageOptions,
  Output,
  OutputFormat,
  Placeholder,
  PreparedOriginal,
  ProcessedImage,
  Purpose,
  RenderOptions,
} from './types.js'
import { mapSharpError, NCLX_DISPLAY_P3, validateImageBuffer, type Validated } from './validate.js'

export interface PipelineOptions {
  /**
   * JPEG encoder settings. `compact` (default): progressive, trellis quantisation, overshoot
   * deringing, quantisation table 3 — mozjpeg's bytes and PSNR at half its CPU. `fast`: progressive
   * with table 3 only — about 3× cheaper to encode, ~15 % larger files. See docs/images.md.
   */
  readonly encoderProfile?: EncoderProfile
  /** Outputs of one image encoded at the same time (each encode is single-threaded). Default 2. */
  readonly parallelism?: number
  /**
   * Decodes HEIC/HEIF, which libvips cannot. Default: the process-wide WebAssembly decoder
   * (libheif-js in worker threads, `defaultHeifDecoder()`).
   */
  readonly heifDecoder?: HeifDecoder
}

export interface ImagePipeline {
  readonly config: Readonly<ImagesConfig>
  /** Header-only validation: facts, or a LocalexError with a stable code. PDFs only for `document`. */
  validate(input: ImageInput, opts?: ImageOptions): Promise<ImageFacts>
  /**
   * The synchronous part of an upload: validation, the sanitised original (upright, sRGB, at most
   * `maxSide`, no metadata, re-encoded cheaply: quality-100 sequential JPEG, or PNG when
   * transparent) and its placeholder. Storing this is what an upload waits for. With
   * `uploadOriginal: 'optimised'` (IMAGE_UPLOAD_ORIGINAL) it returns the optimised original
   * instead, as `process()` does: slower uploads, less work in all (`stage` says which).
   */
  prepareOriginal(input: ImageInput, opts?: ImageOptions): Promise<PreparedOriginal>
  /**
   * The queued part, from the stored sanitised original: first the optimised original that replaces
   * it (progressive JPEG with the profile's settings, or PNG level 9), then its WebP (and AVIF)
   * copies and every variant in each format. With `reencodeOriginal: false` (the source already is
   * the optimised original, as in a reprocess) the optimised original is not rendered again.
   * Deterministic: the same source gives the same bytes.
   */
  renderVariants(original: Buffer, opts?: RenderOptions): Promise<Output[]>
  /** Both of the above, decoding the upload once. */
  process(input: ImageInput, opts?: ImageOptions): Promise<ProcessedImage>
  /** Validates a verification-document PDF and returns the copy to store (its checked objects, written out again). */
  validatePdf(input: Buffer): Promise<PdfFacts>
}

/** Decoded, upright, sRGB, 8-bit pixels at most `maxSide` on a side. */
interface Pixels {
  readonly data: Buffer
  readonly width: number
  readonly height: number
  readonly channels: 3 | 4
}

/** An upload that passed validation, opened for libvips. */
interface Opened {
  readonly source: SharpSource
  readonly validated: Validated
}

/**
 * The synchronous path stores a `sanitised` original (by default); the queued job (and `process()`) an
 * `optimised` one.
 */
type Stage = PreparedOriginal['stage']

let defaults: Readonly<ImagesConfig> | undefined
/** The configuration's own defaults (one source of truth). */
function defaultImagesConfig(): Readonly<ImagesConfig> {
  defaults ??= loadImagesConfig()
  return defaults
}

export function createImagePipeline(config: Partial<ImagesConfig> = {}, options: PipelineOptions = {}): ImagePipeline {
  const cfg: ImagesConfig = Object.freeze({ ...defaultImagesConfig(), ...config })
  const profile = options.encoderProfile ?? 'compact'
  const parallelism = Math.max(1, options.parallelism ?? 2)
  const heif = options.heifDecoder ?? defaultHeifDecoder()
  const { maxInputPixels, maxInputSide, decodeTimeoutMs } = cfg
  const heifLimits = { maxInputPixels, maxInputSide, decodeTimeoutMs }
  // libvips' operation cache only pays off for repeated identical operations, which unique uploads
  // never are; without it memory stays proportional to the images in flight.
  sharp.cache(false)

  const purposeOf = (opts?: ImageOptions): Purpose => opts?.purpose ?? 'item_photo'

  async function bytesOf(input: ImageInput, signal?: AbortSignal): Promise<Buffer> {
    if (Buffer.isBuffer(input)) {
      if (input.length === 0) throw new LocalexError('EMPTY_FILE', 'File is empty')
      if (input.length > cfg.maxBytes)
        throw new LocalexError('FILE_TOO_LARGE', `File is larger than ${cfg.maxBytes} bytes`, {
          details: { maxBytes: cfg.maxBytes, bytes: input.length },
        })
      return input
    }
    if (input instanceof Readable) return readLimited(input, cfg.maxBytes, signal)
    throw new LocalexError('VALIDATION_FAILED', 'Input must be a Buffer or a Readable stream')
  }

  async function validateBuffer(
    buffer: Buffer,
    purpose: Purpose,
    signal?: AbortSignal,
  ): Promise<Validated | { pdf: PdfFacts }> {
    if (PURPOSE_RULES[purpose].pdf && sniffType(buffer).kind === 'pdf') return { pdf: await validatePdf(buffer) }
    return validateImageBuffer(buffer, purpose, { config: cfg, heif, ...(signal ? { signal } : {}) })
  }

  /** Validated, and opened for libvips: the upload itself, or for HEIF the pixels the decoder port produced. */
  async function validateForProcessing(input: ImageInput, opts?: ImageOptions): Promise<Opened> {
    const buffer = await bytesOf(input, opts?.signal)
    checkAborted(opts?.signal)
    const validated = await validateBuffer(buffer, purposeOf(opts), opts?.signal)
    if ('pdf' in validated) {
      throw new LocalexError(
        'UNSUPPORTED_TYPE',
        'PDFs are validated and written out again by validatePdf(); they are not processed as images',
        { details: { detected: 'pdf' } },
      )
    }
    checkAborted(opts?.signal)
    const source = validated.heif
      ? await decodeHeif(buffer, validated, opts?.signal)
      : { input: buffer, options: { page: 0, pages: 1 } }
    checkAborted(opts?.signal)
    return { source, validated }
  }

  /**
   * HEIF pixels, off the event loop: upright (the container's transforms applied), with the
   * embedded profile (or Display P3 when nclx primaries name it) for libvips to convert to sRGB.
   * Everything else in the file (EXIF with GPS, XMP, depth maps, thumbnails) is never read.
   */
  async function decodeHeif(buffer: Buffer, validated: Validated, signal?: AbortSignal): Promise<SharpSource> {
    const decoded = await heif.decode(buffer, { limits: heifLimits, ...(signal ? { signal } : {}) })
    const p3 = decoded.primaries === NCLX_DISPLAY_P3
    const icc = validated.srgbProfile ? undefined : (decoded.icc ?? (p3 ? await displayP3Profile() : undefined))
    return sharpSourceOf(decoded, icc)
  }

  /** Decode once: first frame, auto-orient, sRGB, 8-bit, capped at maxSide. */
  async function decode(source: SharpSource, validated: Validated): Promise<Pixels> {
    return toPixels(upright(source, validated))
  }

  function open(source: SharpSource, validated: Validated): Sharp {
    const { srgbProfile } = validated
    const limitInputPixels = cfg.maxInputPixels
    return sharp(source.input, { failOn: 'warning', limitInputPixels, ignoreIcc: srgbProfile, ...source.options })
  }

  /** The upload as a sharp pipeline: first frame, auto-oriented, capped at maxSide, sRGB. */
  function upright(source: SharpSource, validated: Validated): Sharp {
    const { width, height } = validated.facts
    let image = open(source, validated).autoOrient()
    if (Math.max(width, height) > cfg.maxSide)
      image = image.resize(cfg.maxSide, cfg.maxSide, { fit: 'inside', withoutEnlargement: true })
    return image.toColourspace('srgb')
  }

  async function toPixels(image: Sharp): Promise<Pixels> {
    let result: { data: Buffer; info: OutputInfo }
    try {
      result = await image.toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true })
    } catch (cause) {
      throw mapSharpError(cause)
    }
    const { data, info } = result
    if (info.channels !== 3 && info.channels !== 4)
      throw new LocalexError('INVALID_IMAGE', `Image decoded to ${info.channels} channels`)
    const pixels: Pixels = { data, width: info.width, height: info.height, channels: info.channels }
    // An alpha channel nobody uses (fully opaque) is dropped, so the photo is stored as JPEG.
    if (pixels.channels === 4 && isOpaque(data)) {
      const rgb = await fromPixels(pixels).removeAlpha().raw().toBuffer()
      return { data: rgb, width: pixels.width, height: pixels.height, channels: 3 }
    }
    return pixels
  }

  function mainFormat(pixels: Pixels): OutputFormat {
    return pixels.channels === 4 ? 'png' : 'jpeg'
  }

  function alternateFormats(purpose: Purpose, variant: string): OutputFormat[] {
    const rule = PURPOSE_RULES[purpose]
    if (rule.alternates === 'none' || (rule.alternates === 'original' && variant !== 'original')) return []
    return [...(cfg.webp ? ['webp' as const] : []), ...(cfg.avif ? ['avif' as const] : [])]
  }

  async function encode(
    pixels: Pixels,
    variant: string,
    format: OutputFormat,
    purpose: Purpose,
    stage: Stage = 'optimised',
  ): Promise<Output> {
    return encodeImage(
      fromPixels(pixels),
      variant,
      format,
      purpose,
      Math.max(pixels.width, pixels.height) >= LARGE_OUTPUT_SIDE,
      stage,
    )
  }

  async function encodeImage(
    source: Sharp,
    variant: string,
    format: OutputFormat,
    purpose: Purpose,
    large: boolean,
    stage: Stage = 'optimised',
  ): Promise<Output> {
    const document = PURPOSE_RULES[purpose].document
    const quality = document ? cfg.documentQuality : cfg.quality
    let image =
      stage === 'sanitised' && (format === 'jpeg' || format === 'png')
        ? applySanitisedEncoder(source, format, document)
        : applyEncoder(source, { format, quality, large, document, profile })
    // Metadata is never copied from the input (sharp writes none unless asked); with stripping
    // turned off the outputs only say what they are: sRGB.
    if (!cfg.stripMetadata) image = image.withIccProfile('srgb')
    let result: { data: Buffer; info: OutputInfo }
    try {
      result = await image.toBuffer({ resolveWithObject: true })
    } catch (cause) {
      throw mapSharpError(cause)
    }
    const { data, info } = result
    return { variant, format, ...FORMATS[format], width: info.width, height: info.height, size: data.length, data }
  }

  async function resizeFor(pixels: Pixels, spec: VariantSpec): Promise<Pixels> {
    const image = fromPixels(pixels)
    if (spec.square) {
      const side = Math.min(spec.size, pixels.width, pixels.height)
      image.resize(side, side, { fit: 'cover', position: 'attention' })
    } else if (Math.max(pixels.width, pixels.height) > spec.size) {
      image.resize(spec.size, spec.size, { fit: 'inside', withoutEnlargement: true })
    } else {
      return pixels
    }
    const { data, info } = await image.raw().toBuffer({ resolveWithObject: true })
    return { data, width: info.width, height: info.height, channels: pixels.channels }
  }

  async function placeholderOf(source: Sharp): Promise<{ placeholder: Placeholder; dominantColor: string }> {
    let result: { data: Buffer; info: OutputInfo }
    try {
      result = await source
        .resize(100, 100, { fit: 'inside', withoutEnlargement: true })
        .ensureAlpha()
        .raw()
        .toBuffer({ resolveWithObject: true })
    } catch (cause) {
      throw mapSharpError(cause)
    }
    const { data, info } = result
    const hash = rgbaToThumbHash(info.width, info.height, data)
    return {
      placeholder: { thumbhash: Buffer.from(hash).toString('base64'), dataUrl: thumbHashToDataURL(hash) },
      dominantColor: dominantColor(data),
    }
  }

  /** The original's alternates and every variant in every format, from decoded pixels. */
  async function variantOutputs(pixels: Pixels, purpose: Purpose, signal?: AbortSignal): Promise<Output[]> {
    const main = mainFormat(pixels)
    const tasks: (() => Promise<Output>)[] = alternateFormats(purpose, 'original').map(
      (f) => () => encode(pixels, 'original', f, purpose),
    )
    for (const spec of variantsFor(purpose, cfg)) {
      let sized: Promise<Pixels> | undefined
      const once = () => (sized ??= resizeFor(pixels, spec))
      for (const format of [main, ...alternateFormats(purpose, spec.name)]) {
        tasks.push(async () => encode(await once(), spec.name, format, purpose))
      }
    }
    // No encode keeps running behind a failure or an abort; each checks the signal before it starts.
    return mapLimit(tasks, parallelism, async (task) => {
      checkAborted(signal)
      return task()
    })
  }

  /** process(): decode once to pixels, then every output from them. */
  async function prepareFromPixels(
    { source, validated }: Opened,
    opts: ImageOptions | undefined,
    stage: Stage,
  ): Promise<PreparedOriginal & { pixels: Pixels }> {
    const purpose = purposeOf(opts)
    const pixels = await decode(source, validated)
    checkAborted(opts?.signal)
    const [original, look] = await Promise.all([
      encode(pixels, 'original', mainFormat(pixels), purpose, stage),
      placeholderOf(fromPixels(pixels)),
    ])
    checkAborted(opts?.signal)
    return { facts: validated.facts, original, stage, ...look, hasAlpha: pixels.channels === 4, pixels }
  }

  /**
   * prepareOriginal(): the latency path. Without an alpha channel to inspect, the sanitised original
   * is encoded straight from the decoding pipeline (libvips overlaps decode, rotate, resize and the
   * encoder; no 36 MB pixel copy into JavaScript), while the placeholder is computed on the other
   * core from a shrink-on-load decode. Same pixels as the decode-once path, so the same bytes.
   */
  async function prepareStreaming(input: ImageInput, opts?: ImageOptions): Promise<PreparedOriginal> {
    const purpose = purposeOf(opts)
    const opened = await validateForProcessing(input, opts)
    const { source, validated } = opened
    if (validated.facts.hasAlpha) {
      const { pixels: _pixels, ...prepared } = await prepareFromPixels(opened, opts, cfg.uploadOriginal)
      return prepared
    }
    const { width, height } = validated.facts
    const large = Math.min(cfg.maxSide, Math.max(width, height)) >= LARGE_OUTPUT_SIDE
    const placeholderSource = open(source, validated).autoOrient().toColourspace('srgb')
    const [original, look] = await Promise.all([
      encodeImage(upright(source, validated), 'original', 'jpeg', purpose, large, cfg.uploadOriginal),
      placeholderOf(placeholderSource),
    ])
    checkAborted(opts?.signal)
    return { facts: validated.facts, original, stage: cfg.uploadOriginal, ...look, hasAlpha: false }
  }

  return {
    config: cfg,

    async validate(input, opts) {
      const buffer = await bytesOf(input, opts?.signal)
      checkAborted(opts?.signal)
      const result = await validateBuffer(buffer, purposeOf(opts), opts?.signal)
      if ('pdf' in result) {
        const { pages, bytes, sha256, contentType } = result.pdf
        return {
          format: 'pdf',
          contentType,
          width: 0,
          height: 0,
          pages,
          hasAlpha: false,
          orientation: 1,
          bytes,
          sha256,
        }
      }
      return result.facts
    },

    prepareOriginal: prepareStreaming,

    async renderVariants(original, opts) {
      const purpose = purposeOf(opts)
      if (!Buffer.isBuffer(original) || original.length === 0) throw new LocalexError('EMPTY_FILE', 'Original is empty')
      checkAborted(opts?.signal)
      const pixels = await toPixels(
        sharp(original, { failOn: 'warning', limitInputPixels: cfg.maxInputPixels }).autoOrient(),
      )
      checkAborted(opts?.signal)
      // The optimised original first: it is the one output every later step (and a reader) needs.
      const optimised =
        opts?.reencodeOriginal === false ? [] : [await encode(pixels, 'original', mainFormat(pixels), purpose)]
      checkAborted(opts?.signal)
      return [...optimised, ...(await variantOutputs(pixels, purpose, opts?.signal))]
    },

    async process(input, opts) {
      const opened = await validateForProcessing(input, opts)
      const { pixels, ...prepared } = await prepareFromPixels(opened, opts, 'optimised')
      const rest = await variantOutputs(pixels, purposeOf(opts), opts?.signal)
      return { ...prepared, outputs: [prepared.original, ...rest] }
    },

    validatePdf,
  }
}

function fromPixels(p: Pixels): Sharp {
  return sharp(p.data, { raw: { width: p.width, height: p.height, channels: p.channels } })
}

/**
 * The dominant colour of a small RGBA image: the most populated cell of a 16×16×16 RGB histogram
 * (mostly transparent pixels ignored, so a cut-out's colour is not its empty background), reported
 * as the mean of the pixels in that cell rather than the cell's centre.
 */
export function dominantColor(rgba: Uint8Array): string {
  const count = new Uint32Array(4096)
  const sums = new Float64Array(4096 * 3)
  let any = false
  for (let pass = 0; pass < 2 && !any; pass++) {
    for (let i = 0; i + 3 < rgba.length; i += 4) {
      if (pass === 0 && (rgba[i + 3] as number) < 128) continue
      const r = rgba[i] as number
      const g = rgba[i + 1] as number
      const b = rgba[i + 2] as number
      const cell = ((r >> 4) << 8) | ((g >> 4) << 4) | (b >> 4)
      count[cell] = (count[cell] as number) + 1
      sums[cell * 3] = (sums[cell * 3] as number) + r
      sums[cell * 3 + 1] = (sums[cell * 3 + 1] as number) + g
      sums[cell * 3 + 2] = (sums[cell * 3 + 2] as number) + b
      any = true
    }
  }
  let best = 0
  for (let cell = 1; cell < 4096; cell++) if ((count[cell] as number) > (count[best] as number)) best = cell
  const n = Math.max(1, count[best] as number)
  const hex = (v: number) =>
    Math.round(v / n)
      .toString(16)
      .padStart(2, '0')
  return `#${hex(sums[best * 3] as number)}${hex(sums[best * 3 + 1] as number)}${hex(sums[best * 3 + 2] as number)}`
}

function isOpaque(rgba: Buffer): boolean {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) return false
  return true
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new LocalexError('ABORTED', 'Image processing was aborted', { cause: signal.reason })
}
