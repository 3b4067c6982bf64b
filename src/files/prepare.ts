import type { Readable } from 'node:stream'
import { FORMATS, ORIGINAL_VARIANT, type Purpose, type StoredObject } from '../domain/index.js'
import { LocalexError } from '../errors/index.js'
import { readLimited, sniffType } from '../images/index.js'
import type { FilesDeps } from './deps.js'

/** What a file about to be written needs, after validation and before any record exists. */
export interface Prepared {
  purpose: Purpose
  contentType: string
  ext: string
  data: Buffer
  width: number | null
  height: number | null
  bytes: number
  sha256: string
  placeholder: string | null
  dominantColor: string | null
  /** The first stored object (original in its main format). */
  original: Omit<StoredObject, 'key'>
  /** Documents that are PDFs need no variants. */
  needsVariants: boolean
  /** Images: whether the stored original is still to be replaced by the optimised one. */
  stage: 'sanitised' | 'optimised' | null
}

/**
 * The validate step of an upload: the bytes are read within the size limit, checked from their
 * content, and turned into what is stored (a validated PDF written out again, or a sanitised
 * original). All of it happens before anything is written.
 */
export async function prepareUpload(
  deps: FilesDeps,
  body: Buffer | Readable,
  purpose: Purpose,
  signal?: AbortSignal,
): Promise<Prepared> {
  const { maxBytes } = deps.config.images
  const started = performance.now()
  const data = Buffer.isBuffer(body) ? body : await readLimited(body, maxBytes, signal)
  if (data.length > maxBytes) {
    throw new LocalexError('FILE_TOO_LARGE', `File is larger than ${maxBytes} bytes`, { details: { maxBytes } })
  }
  if (purpose === 'document' && sniffType(data).kind === 'pdf') {
    const pdf = await deps.images.validatePdf(data)
    deps.observe('validate', (performance.now() - started) / 1000)
    const { contentType, ext } = FORMATS.pdf
    // What is stored is the validated document written out again (validatePdf), not the upload.
    return {
      purpose,
      contentType,
      ext,
      data: pdf.data,
      width: null,
      height: null,
      bytes: data.length,
      sha256: pdf.sha256,
      placeholder: null,
      dominantColor: null,
      original: { variant: ORIGINAL_VARIANT, format: 'pdf', contentType, size: pdf.data.length },
      needsVariants: false,
      stage: null,
    }
  }
  const result = await deps.images.prepareOriginal(data, { purpose, signal })
  deps.observe('original', (performance.now() - started) / 1000)
  const o = result.original
  return {
    purpose,
    contentType: o.contentType,
    ext: o.ext,
    data: o.data,
    width: o.width,
    height: o.height,
    bytes: data.length,
    sha256: result.facts.sha256,
    placeholder: result.placeholder.thumbhash,
    dominantColor: result.dominantColor,
    original: {
      variant: ORIGINAL_VARIANT,
      format: o.format,
      contentType: o.contentType,
      size: o.size,
      width: o.width,
      height: o.height,
    },
    needsVariants: true,
    stage: result.stage,
  }
}
