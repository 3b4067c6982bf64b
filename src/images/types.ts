import type { Readable } from 'node:stream'
import type { InputFormat, OutputExt, OutputFormat, Purpose } from '../domain/index.js'

// The images API speaks the domain vocabulary (`pdf` input only for documents, through `validatePdf`).
export type { InputFormat, OutputExt, OutputFormat, Purpose } from '../domain/index.js'

export type ImageInput = Buffer | Readable

export interface ImageOptions {
  /** Decides which formats are accepted and which outputs are written. Default `item_photo`. */
  purpose?: Purpose
  signal?: AbortSignal
}

export interface RenderOptions extends ImageOptions {
  /**
   * Render the optimised original from the source (default). `false` when the source already is
   * the optimised original, so a reprocess does not re-encode it once more.
   */
  reencodeOriginal?: boolean
}

/** What validation learned from the headers (nothing was decoded). */
export interface ImageFacts {
  readonly format: InputFormat
  readonly contentType: string
  /** Displayed size: after EXIF orientation. For PDFs 0. */
  readonly width: number
  readonly height: number
  /** Frames of an animation, pages of a PDF; 1 for still images. */
  readonly pages: number
  /** Whether the input has an alpha channel (it may still be fully opaque). */
  readonly hasAlpha: boolean
  /** EXIF orientation 1–8 (1 when absent or invalid). */
  readonly orientation: number
  readonly bytes: number
  /** Hex SHA-256 of the input bytes. */
  readonly sha256: string
}

export interface Output {
  /** `original` or a variant name from the config (`thumbnail`, `medium`, `large`, …). */
  readonly variant: string
  readonly format: OutputFormat
  readonly contentType: string
  readonly ext: OutputExt
  readonly width: number
  readonly height: number
  /** Bytes of `data`. */
  readonly size: number
  readonly data: Buffer
}

export interface Placeholder {
  /** ThumbHash, base64. */
  readonly thumbhash: string
  /** The ThumbHash rendered as a small PNG data URL, ready for an `<img src>`. */
  readonly dataUrl?: string
}

/** The synchronous part of an upload: what is stored before the client gets an answer. */
export interface PreparedOriginal {
  readonly facts: ImageFacts
  /**
   * The sanitised original in its main format: quality-100 sequential JPEG, or PNG when
   * transparent. `renderVariants` turns it into the optimised original; `process()` returns the
   * optimised one here directly.
   */
  readonly original: Output
  /**
   * `sanitised` (the default of `prepareOriginal`, see `IMAGE_UPLOAD_ORIGINAL`): `renderVariants`
   * must turn `original` into the optimised original. `optimised`: it already is (`process()`
   * always; `prepareOriginal` with `uploadOriginal: 'optimised'`).
   */
  readonly stage: 'sanitised' | 'optimised'
  readonly placeholder: Placeholder
  /** `#rrggbb`. */
  readonly dominantColor: string
  /** True when some pixel is not fully opaque (an unused alpha channel is dropped). */
  readonly hasAlpha: boolean
}

export interface ProcessedImage extends PreparedOriginal {
  /** The original, its WebP (and AVIF when enabled) and every variant in each format. */
  readonly outputs: readonly Output[]
}
