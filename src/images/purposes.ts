import type { ImagesConfig, VariantSpec } from '../config/index.js'
import { THUMBNAIL_VARIANT, type ImageType, type Purpose } from '../domain/index.js'

/**
 * What each purpose accepts and writes. One row per purpose; the key layout in DESIGN.md follows it:
 * - item photos: every configured variant, WebP (and AVIF when enabled) of the original and of each variant;
 * - profile photos: `thumbnail` and the original, plus `original.webp`;
 * - verification documents: JPEG/PNG, and HEIC/HEIF (a phone's camera photographs the ID card) when
 *   `allowedTypes` has them (PDFs go through `validatePdf`); kept at `documentQuality` with 4:4:4
 *   chroma so small print stays legible, and only a `thumbnail` for reviewers; private, so no
 *   WebP/AVIF copies.
 */
export interface PurposeRule {
  /** Input types accepted, or `config` for the configured `allowedTypes`. */
  readonly types: readonly ImageType[] | 'config'
  readonly pdf: boolean
  /** Variant names to write, or `all` for every configured variant. */
  readonly variants: readonly string[] | 'all'
  /** Which outputs also get WebP/AVIF copies: `all`, or only the original. */
  readonly alternates: 'all' | 'original' | 'none'
  readonly document: boolean
}

export const PURPOSE_RULES: Readonly<Record<Purpose, PurposeRule>> = {
  item_photo: { types: 'config', pdf: false, variants: 'all', alternates: 'all', document: false },
  profile_photo: { types: 'config', pdf: false, variants: [THUMBNAIL_VARIANT], alternates: 'all', document: false },
  document: {
    types: ['image/jpeg', 'image/png', 'image/heic', 'image/heif'],
    pdf: true,
    variants: [THUMBNAIL_VARIANT],
    alternates: 'none',
    document: true,
  },
}

/** Used when a purpose needs `thumbnail` but the configuration names no such variant. */
const DEFAULT_THUMBNAIL: VariantSpec = { name: THUMBNAIL_VARIANT, size: 300, square: false }

export function variantsFor(purpose: Purpose, config: ImagesConfig): readonly VariantSpec[] {
  const rule = PURPOSE_RULES[purpose]
  if (rule.variants === 'all') return config.variants
  return rule.variants.map((name) => config.variants.find((v) => v.name === name) ?? { ...DEFAULT_THUMBNAIL, name })
}

/** HEIC/HEIF need the WebAssembly decoder; `ALLOWED_IMAGE_TYPES` without them switches it off for every purpose. */
const DECODER_SWITCHED_TYPES: readonly ImageType[] = ['image/heic', 'image/heif']

export function acceptedTypes(purpose: Purpose, config: ImagesConfig): readonly ImageType[] {
  const rule = PURPOSE_RULES[purpose]
  if (rule.types === 'config') return config.allowedTypes
  return rule.types.filter((type) => !DECODER_SWITCHED_TYPES.includes(type) || config.allowedTypes.includes(type))
}
