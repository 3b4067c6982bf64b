import { z } from 'zod'
import { IMAGE_TYPES, ORIGINAL_VARIANT } from '../../domain/index.js'
import { bool, byteSize, defineSection, duration, int, list } from '../env.js'

export const images = defineSection({
  title: 'Images',
  summary: '`config.images`: what uploads may be, and how photos and documents are re-encoded.',
  variables: {
    MAX_FILE_SIZE: {
      schema: byteSize.default('10MiB'),
      default: '10MiB (10485760 bytes)',
      doc: 'Largest accepted upload (photos and documents).',
    },
    ALLOWED_IMAGE_TYPES: {
      schema: list.pipe(z.array(z.enum(IMAGE_TYPES)).min(1)).default(IMAGE_TYPES.join(',')),
      default: IMAGE_TYPES.join(','),
      doc:
        'Photo types accepted (decided from the bytes, never from the name or Content-Type). `image/heic` and ' +
        '`image/heif` (iPhone photos) are decoded by libheif in WebAssembly worker threads; leaving both out ' +
        'refuses HEIC for documents too.',
    },
    IMAGE_QUALITY: { schema: int(1, 100).default(85), default: '85', doc: 'JPEG/WebP quality of photos.' },
    DOCUMENT_IMAGE_QUALITY: {
      schema: int(1, 100).default(92),
      default: '92',
      doc: 'JPEG quality of verification documents (kept higher for reviewers).',
    },
    IMAGE_WEBP: {
      schema: bool.default(true),
      default: 'true',
      doc: 'Write a WebP of the original and of each variant.',
    },
    IMAGE_AVIF: { schema: bool.default(false), default: 'false', doc: 'Also write AVIF (slow; off by default).' },
    IMAGE_STRIP_METADATA: {
      schema: bool.default(true),
      default: 'true',
      doc:
        'Strip EXIF, GPS, XMP, IPTC and comments from every output. Turning it off keeps only the ICC profile and ' +
        'copyright; GPS is always removed.',
    },
    IMAGE_MAX_INPUT_PIXELS: {
      schema: int(1).default(50_000_000),
      default: '50000000',
      doc: 'Largest accepted input in pixels (decompression-bomb guard).',
    },
    IMAGE_MAX_INPUT_SIDE: {
      schema: int(1).default(10_000),
      default: '10000',
      doc: 'Largest accepted input side in pixels.',
    },
    IMAGE_DECODE_TIMEOUT: {
      schema: duration.pipe(z.number().int().min(1)).default('30s'),
      default: '30s',
      doc:
        'Longest a HEIC/HEIF decode may run in its worker thread (a 12 MP photo takes ~1.5 s); past it the worker ' +
        'is stopped and the upload refused as `INVALID_IMAGE`.',
    },
    IMAGE_MAX_SIDE: {
      schema: int(16).default(4000),
      default: '4000',
      doc: 'Longest side of the stored original; larger inputs are downscaled.',
    },
    IMAGE_UPLOAD_ORIGINAL: {
      schema: z.enum(['sanitised', 'optimised']).default('sanitised'),
      default: 'sanitised',
      doc:
        'What an upload stores before it answers. `sanitised`: a cheap quality-100 JPEG that the variants job ' +
        'replaces with the optimised original (fast uploads). `optimised`: the final progressive original at once ' +
        '(uploads wait for the trellis encode; ~5 % less image CPU per photo and a third of the bytes through the ' +
        'store).',
    },
    IMAGE_OVERSIZE: {
      schema: z.enum(['downscale', 'reject']).default('downscale'),
      default: 'downscale',
      doc: '`reject` refuses inputs over `IMAGE_MAX_SIDE` instead of downscaling them.',
    },
    IMAGE_MAX_FRAMES: {
      schema: int(1).default(100),
      default: '100',
      doc: 'Most animation frames accepted (only the first is kept).',
    },
    IMAGE_VARIANTS: {
      schema: z
        .string()
        .regex(
          /^[a-z][a-z0-9_-]*:\d+(,[a-z][a-z0-9_-]*:\d+)*$/,
          'expected name:size pairs such as thumbnail:300,medium:800',
        )
        .default('thumbnail:300,medium:800,large:1200'),
      default: 'thumbnail:300,medium:800,large:1200',
      doc: 'Variant names and longest side in pixels.',
    },
    IMAGE_SQUARE_VARIANTS: {
      schema: list.default(''),
      default: '—',
      doc: 'Variants cut as square cover crops (attention strategy), e.g. `thumbnail`.',
    },
  },
  build: (v, problem) => ({
    images: {
      maxBytes: v.MAX_FILE_SIZE,
      allowedTypes: v.ALLOWED_IMAGE_TYPES,
      quality: v.IMAGE_QUALITY,
      documentQuality: v.DOCUMENT_IMAGE_QUALITY,
      webp: v.IMAGE_WEBP,
      avif: v.IMAGE_AVIF,
      stripMetadata: v.IMAGE_STRIP_METADATA,
      maxInputPixels: v.IMAGE_MAX_INPUT_PIXELS,
      maxInputSide: v.IMAGE_MAX_INPUT_SIDE,
      decodeTimeoutMs: v.IMAGE_DECODE_TIMEOUT,
      maxSide: v.IMAGE_MAX_SIDE,
      oversize: v.IMAGE_OVERSIZE,
      /** What `prepareOriginal` (the synchronous part of an upload) returns; see IMAGE_UPLOAD_ORIGINAL. */
      uploadOriginal: v.IMAGE_UPLOAD_ORIGINAL,
      maxFrames: v.IMAGE_MAX_FRAMES,
      variants: parseVariants(v.IMAGE_VARIANTS, v.IMAGE_SQUARE_VARIANTS, problem),
    },
  }),
})

export interface VariantSpec {
  readonly name: string
  /** Longest side in pixels (square crops: the side). */
  readonly size: number
  readonly square: boolean
}

function parseVariants(spec: string, square: readonly string[], problem: (message: string) => void): VariantSpec[] {
  const out: VariantSpec[] = []
  for (const pair of spec.split(',')) {
    const [name = '', size = ''] = pair.split(':')
    if (out.some((o) => o.name === name)) problem(`IMAGE_VARIANTS: variant "${name}" appears twice`)
    if (name === ORIGINAL_VARIANT) problem(`IMAGE_VARIANTS: "${ORIGINAL_VARIANT}" is reserved`)
    out.push({ name, size: Number(size), square: square.includes(name) })
  }
  for (const name of square) {
    if (!out.some((o) => o.name === name)) problem(`IMAGE_SQUARE_VARIANTS: "${name}" is not one of IMAGE_VARIANTS`)
  }
  return out
}
