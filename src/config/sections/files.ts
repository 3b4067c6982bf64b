import { z } from 'zod'
import { defineSection, duration, int } from '../env.js'

/** Signed URLs of private documents may not outlive this. */
const PRIVATE_URL_TTL_MAX_MS = 300_000

export const files = defineSection({
  title: 'Files',
  summary: '`config.files`: limits, URL lifetimes, caching and retention of stored files.',
  variables: {
    MAX_PHOTOS_PER_ITEM: { schema: int(1, 1000).default(10), default: '10', doc: 'Photos one item may have.' },
    SIGNED_URL_TTL: {
      schema: duration.default('1h'),
      default: '1h',
      doc: 'Lifetime of signed URLs of `authenticated` files.',
    },
    PRIVATE_URL_TTL: {
      schema: duration
        .pipe(z.number().max(PRIVATE_URL_TTL_MAX_MS, 'private URLs live at most 5 minutes'))
        .default('5m'),
      default: '5m',
      doc: 'Lifetime of signed URLs of private files (at most 5 minutes).',
    },
    CACHE_CONTROL_PUBLIC: {
      schema: z.string().min(1).default('public, max-age=2592000, immutable'),
      default: 'public, max-age=2592000, immutable',
      doc: 'Cache-Control of public images.',
    },
    CACHE_CONTROL_PROCESSING: {
      schema: z.string().min(1).default('public, max-age=60'),
      default: 'public, max-age=60',
      doc:
        "Cache-Control of a public photo's sanitised original, stored at upload and replaced by the optimised one " +
        'when its variants are ready.',
    },
    CACHE_CONTROL_DOCUMENT: {
      schema: z.string().min(1).default('private, max-age=604800'),
      default: 'private, max-age=604800',
      doc: 'Cache-Control of verification documents (never public).',
    },
    CACHE_CONTROL_TEMP: {
      schema: z.string().min(1).default('no-store'),
      default: 'no-store',
      doc: 'Cache-Control of temporary uploads.',
    },
    UPLOAD_GRACE: {
      schema: duration.default('1h'),
      default: '1h',
      doc: 'Age below which an upload in progress or an unreferenced object is never cleaned up.',
    },
    TEMP_UPLOAD_TTL: {
      schema: duration.default('1d'),
      default: '1d',
      doc: 'How long a direct upload may stay unfinished.',
    },
    FAILED_RETENTION: {
      schema: duration.default('7d'),
      default: '7d',
      doc: 'How long failed files are kept for inspection.',
    },
    DELETED_RETENTION: { schema: duration.default('30d'), default: '30d', doc: 'How long soft-deleted rows are kept.' },
    STORAGE_PRICE_PER_GB_MONTH: {
      schema: z.coerce.number().nonnegative().default(0.023),
      default: '0.023',
      doc: 'Price used by `stats` to estimate the monthly cost.',
    },
  },
  build: (v) => ({
    files: {
      maxPhotosPerItem: v.MAX_PHOTOS_PER_ITEM,
      signedUrlTtlMs: v.SIGNED_URL_TTL,
      privateUrlTtlMs: v.PRIVATE_URL_TTL,
      cacheControl: {
        public: v.CACHE_CONTROL_PUBLIC,
        processing: v.CACHE_CONTROL_PROCESSING,
        document: v.CACHE_CONTROL_DOCUMENT,
        temp: v.CACHE_CONTROL_TEMP,
      },
      uploadGraceMs: v.UPLOAD_GRACE,
      tempUploadTtlMs: v.TEMP_UPLOAD_TTL,
      failedRetentionMs: v.FAILED_RETENTION,
      deletedRetentionMs: v.DELETED_RETENTION,
      pricePerGbMonth: v.STORAGE_PRICE_PER_GB_MONTH,
    },
  }),
})
