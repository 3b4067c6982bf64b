/**
 * The images layer: validation (magic bytes, limits, header-only), sanitising re-encode, variants,
 * WebP/AVIF copies, placeholders, and PDF validation for verification documents.
 *
 * ```ts
 * const images = createImagePipeline(config.images)
 * const facts = await images.validate(stream, { purpose: 'item_photo' }) // or a LocalexError
 * // sanitised, stored at once:
 * const { original, placeholder } = await images.prepareOriginal(buffer, { purpose: 'item_photo' })
 * // queued job, the optimised original first:
 * const outputs = await images.renderVariants(original.data, { purpose: 'item_photo' })
 * ```
 */
export { createImagePipeline, type ImagePipeline, type PipelineOptions } from './pipeline.js'
export { validatePdf, type PdfFacts } from './pdf.js'
export { scanPdf, DEFAULT_PDF_LIMITS, type PdfLimits, type PdfScan } from './pdf-scan.js'
export { readLimited } from './read-limited.js'
export {
  createWasmHeifDecoder,
  defaultHeifDecoder,
  type DecodedHeif,
  type HeifDecoder,
  type HeifHeader,
  type HeifLimits,
  type WasmHeifDecoderOptions,
} from './heif-decoder.js'
export { sniffType, SNIFFED_KINDS, type SniffedKind, type SniffResult } from './sniff.js'
export { isSrgbProfile } from './icc.js'
export { PURPOSE_RULES, variantsFor, type PurposeRule } from './purposes.js'
export type { EncoderProfile } from './encoders.js'
export { PURPOSES } from '../domain/index.js'
export type {
  ImageFacts,
  ImageInput,
  ImageOptions,
  InputFormat,
  Output,
  OutputExt,
  OutputFormat,
  Placeholder,
  PreparedOriginal,
  ProcessedImage,
  Purpose,
  RenderOptions,
} from './types.js'
