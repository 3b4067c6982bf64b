import { z } from 'zod'

/**
 * Every environment variable the package reads, in one list: its schema (with the default), the
 * README line that documents it, and whether it is a secret. `loadConfig` validates the whole
 * environment against this list once at boot; `npm run docs:config` and a test keep the README's
 * configuration table in step with it.
 */

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 }

/** Accepts `10485760`, `10MB`, `10 MiB`, `512kb`. */
export const byteSize = z.union([z.number(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value)
  const unit = SIZE_UNITS[(m?.[2] || 'b').toLowerCase()]
  if (!m || unit === undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected a byte size such as 10485760, 10MB or 5MiB' })
    return z.NEVER
  }
  return Math.round(Number(m[1]) * unit)
}).pipe(z.number().int().positive())

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }

/** Accepts `1500` (milliseconds), `30s`, `5m`, `1h`, `7d`; yields milliseconds. */
export const duration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(value)
  if (!m) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected a duration such as 1500, 30s, 5m, 1h or 7d' })
    return z.NEVER
  }
  return Math.round(Number(m[1]) * (DURATION_UNITS[(m[2] ?? 'ms').toLowerCase()] ?? 1))
}).pipe(z.number().int().nonnegative())

export const bool = z.union([z.boolean(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'boolean') return value
  const v = value.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(v)) return true
  if (['0', 'false', 'no', 'off'].includes(v)) return false
  ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected true or false' })
  return z.NEVER
})

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max)
const list = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
const url = z.string().url()

export interface Setting {
  schema: z.ZodTypeAny
  /** What the README says the default is (computed defaults are described in words). */
  default: string
  doc: string
  secret?: boolean
  group: string
}

const s = <T extends z.ZodTypeAny>(group: string, schema: T, def: string, doc: string, secret = false) => ({ group, schema, default: def, doc, secret })

export const SETTINGS = {
  // General
  NODE_ENV: s('General', z.string().optional(), '—', '`production` marks a real deployment: development sign-in can never be on, and `serve`/`check` warn about settings meant for a local run.'),
  DATA_DIR: s('General', z.string().min(1).default('./var'), './var', 'Where the embedded default keeps its files (disk store, SQLite, generated secrets).'),
  LOG_LEVEL: s('General', z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), 'info', 'Log level of the service and the worker.'),
  PUBLIC_BASE_URL: s('General', url.optional(), '`http://localhost:$PORT`', "The service's own public address; delivery URLs of the embedded default start with it."),

  // Object store
  STORAGE_DRIVER: s('Object store', z.enum(['disk', 's3']).optional(), '`s3` when `S3_BUCKET` is set, else `disk`', 'Object store driver.'),
  STORAGE_DISK_ROOT: s('Object store', z.string().min(1).optional(), '`$DATA_DIR/storage`', 'Root folder of the disk driver.'),
  S3_BUCKET: s('Object store', z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)').optional(), 'localex-storage', 'Bucket name. Setting it selects the `s3` driver.'),
  S3_REGION: s('Object store', z.string().min(1).optional(), '`AWS_REGION`, else us-east-1', 'Bucket region.'),
  AWS_REGION: s('Object store', z.string().min(1).optional(), '—', "The SDK's region variable; used when `S3_REGION` is unset."),
  S3_ENDPOINT: s('Object store', url.optional(), '— (AWS)', 'Endpoint of an S3-compatible store: R2, MinIO, Ceph RGW, LocalStack.'),
  S3_FORCE_PATH_STYLE: s('Object store', bool.default(false), 'false', 'Path-style addressing (`endpoint/bucket/key`); needed by MinIO, Ceph and LocalStack.'),
  S3_PUBLIC_URL: s('Object store', url.optional(), '—', 'Public base URL of the bucket, when the bucket itself is served publicly (rare; prefer a CDN).'),
  AWS_ACCESS_KEY_ID: s('Object store', z.string().min(1).optional(), "SDK's default chain", 'Access key. Unset: the SDK default chain (env, profile, SSO, IAM role).', true),
  AWS_SECRET_ACCESS_KEY: s('Object store', z.string().min(1).optional(), "SDK's default chain", 'Secret key; required when `AWS_ACCESS_KEY_ID` is set.', true),
  AWS_SESSION_TOKEN: s('Object store', z.string().min(1).optional(), '—', 'Session token for temporary credentials.', true),
  AWS_REQUEST_CHECKSUM_CALCULATION: s('Object store', z.enum(['WHEN_SUPPORTED', 'WHEN_REQUIRED']).default('WHEN_SUPPORTED'), 'WHEN_SUPPORTED', 'Set `WHEN_REQUIRED` for stores that reject aws-chunked trailing checksums (Ceph RGW, older MinIO).'),
  AWS_RESPONSE_CHECKSUM_VALIDATION: s('Object store', z.enum(['WHEN_SUPPORTED', 'WHEN_REQUIRED']).default('WHEN_SUPPORTED'), 'WHEN_SUPPORTED', 'Set `WHEN_REQUIRED` together with the one above.'),
  S3_CONDITIONAL_WRITES: s('Object store', bool.default(true), 'true', 'Send `If-None-Match: *` on new objects so nothing is overwritten by accident.'),
  S3_MULTIPART_THRESHOLD: s('Object store', byteSize.default('5MiB'), '5MiB', 'Bodies larger than this (or of unknown length) go up as multipart uploads.'),
  S3_PART_SIZE: s('Object store', byteSize.default('5MiB'), '5MiB', 'Part size of multipart uploads (S3 minimum 5 MiB).'),
  S3_UPLOAD_CONCURRENCY: s('Object store', int(1, 64).default(4), '4', 'Parts of one multipart upload sent at once.'),
  STORAGE_MAX_ATTEMPTS: s('Object store', int(1, 20).default(4), '4', 'Attempts per store request (throttling, 5xx and network errors are retried; 4xx never).'),
  STORAGE_RETRY_BASE_MS: s('Object store', duration.default(100), '100', 'First retry delay; doubles each attempt, with full jitter, capped at 5 s.'),
  STORAGE_TIMEOUT_MS: s('Object store', duration.default('30s'), '30s', 'Connection and socket timeout of one store request.'),
  URL_SIGNING_SECRET: s('Object store', z.string().min(32, 'expected at least 32 characters').optional(), 'generated into `$DATA_DIR/secrets.json`', 'HMAC key of the disk driver\'s signed URLs.', true),

  // Images and documents
  MAX_FILE_SIZE: s('Images', byteSize.default('10MiB'), '10MiB (10485760 bytes)', 'Largest accepted upload (photos and documents).'),
  ALLOWED_IMAGE_TYPES: s('Images', list.pipe(z.array(z.enum(['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/avif'])).min(1)).default('image/jpeg,image/png,image/webp,image/gif,image/avif'), 'image/jpeg,image/png,image/webp,image/gif,image/avif', 'Photo types accepted (decided from the bytes, never from the name or Content-Type).'),
  IMAGE_QUALITY: s('Images', int(1, 100).default(85), '85', 'JPEG/WebP quality of photos.'),
  DOCUMENT_IMAGE_QUALITY: s('Images', int(1, 100).default(92), '92', 'JPEG quality of verification documents (kept higher for reviewers).'),
  IMAGE_WEBP: s('Images', bool.default(true), 'true', 'Write a WebP of the original and of each variant.'),
  IMAGE_AVIF: s('Images', bool.default(false), 'false', 'Also write AVIF (slow; off by default).'),
  IMAGE_STRIP_METADATA: s('Images', bool.default(true), 'true', 'Strip EXIF, GPS, XMP, IPTC and comments from every output. Turning it off keeps only the ICC profile and copyright; GPS is always removed.'),
  IMAGE_MAX_INPUT_PIXELS: s('Images', int(1).default(50_000_000), '50000000', 'Largest accepted input in pixels (decompression-bomb guard).'),
  IMAGE_MAX_INPUT_SIDE: s('Images', int(1).default(10_000), '10000', 'Largest accepted input side in pixels.'),
  IMAGE_MAX_SIDE: s('Images', int(16).default(4000), '4000', 'Longest side of the stored original; larger inputs are downscaled.'),
  IMAGE_UPLOAD_ORIGINAL: s('Images', z.enum(['sanitised', 'optimised']).default('sanitised'), 'sanitised', 'What an upload stores before it answers. `sanitised`: a cheap quality-100 JPEG that the variants job replaces with the optimised original (fast uploads). `optimised`: the final progressive original at once (uploads wait for the trellis encode; ~5 % less image CPU per photo and a third of the bytes through the store).'),
  IMAGE_OVERSIZE: s('Images', z.enum(['downscale', 'reject']).default('downscale'), 'downscale', '`reject` refuses inputs over `IMAGE_MAX_SIDE` instead of downscaling them.'),
  IMAGE_MAX_FRAMES: s('Images', int(1).default(100), '100', 'Most animation frames accepted (only the first is kept).'),
  IMAGE_VARIANTS: s('Images', z.string().regex(/^[a-z][a-z0-9_-]*:\d+(,[a-z][a-z0-9_-]*:\d+)*$/, 'expected name:size pairs such as thumbnail:300,medium:800').default('thumbnail:300,medium:800,large:1200'), 'thumbnail:300,medium:800,large:1200', 'Variant names and longest side in pixels.'),
  IMAGE_SQUARE_VARIANTS: s('Images', list.default(''), '—', 'Variants cut as square cover crops (attention strategy), e.g. `thumbnail`.'),

  // Metadata and queue
  DATABASE_URL: s('Database and queue', z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL').optional(), '— (SQLite)', 'PostgreSQL connection URL. Unset: SQLite at `SQLITE_PATH`.', true),
  SQLITE_PATH: s('Database and queue', z.string().min(1).optional(), '`$DATA_DIR/meta.sqlite`', 'SQLite file of the embedded default.'),
  DATABASE_POOL_MAX: s('Database and queue', int(1, 200).default(10), '10', 'PostgreSQL pool size.'),
  MIGRATE_ON_START: s('Database and queue', bool.default(true), 'true', 'Run pending migrations when the service or worker starts.'),
  REDIS_URL: s('Database and queue', z.string().regex(/^rediss?:\/\//, 'expected a redis:// URL').optional(), '— (in-process)', 'Redis for BullMQ. Unset: an in-process queue.', true),
  QUEUE_PREFIX: s('Database and queue', z.string().min(1).default('localex'), 'localex', 'BullMQ key prefix.'),
  WORKER_CONCURRENCY: s('Database and queue', int(1, 64).default(2), '2', 'Jobs one worker process runs at once.'),
  JOB_ATTEMPTS: s('Database and queue', int(1, 50).default(5), '5', 'Attempts per job before the file is marked failed.'),
  JOB_BACKOFF_MS: s('Database and queue', duration.default('1s'), '1s', 'First retry delay of a job; doubles each attempt.'),
  JOB_LOCK_DURATION: s('Database and queue', duration.default('30s'), '30s', 'BullMQ: how long a job stays locked to a worker without a renewal; a killed worker\'s job is redelivered after about this long.'),
  JOB_STALLED_INTERVAL: s('Database and queue', duration.default('30s'), '30s', 'BullMQ: how often workers look for jobs whose worker vanished.'),
  SERVE_WORKERS: s('Database and queue', int(0, 64).optional(), '1 in-process, 0 with `REDIS_URL`', 'Workers the `serve` process runs itself.'),

  // Files
  MAX_PHOTOS_PER_ITEM: s('Files', int(1, 1000).default(10), '10', 'Photos one item may have.'),
  SIGNED_URL_TTL: s('Files', duration.default('1h'), '1h', 'Lifetime of signed URLs of `authenticated` files.'),
  PRIVATE_URL_TTL: s('Files', duration.pipe(z.number().max(300_000, 'private URLs live at most 5 minutes')).default('5m'), '5m', 'Lifetime of signed URLs of private files (at most 5 minutes).'),
  CACHE_CONTROL_PUBLIC: s('Files', z.string().min(1).default('public, max-age=2592000, immutable'), 'public, max-age=2592000, immutable', 'Cache-Control of public images.'),
  CACHE_CONTROL_PROCESSING: s('Files', z.string().min(1).default('public, max-age=60'), 'public, max-age=60', 'Cache-Control of a public photo\'s sanitised original, stored at upload and replaced by the optimised one when its variants are ready.'),
  CACHE_CONTROL_DOCUMENT: s('Files', z.string().min(1).default('private, max-age=604800'), 'private, max-age=604800', 'Cache-Control of verification documents (never public).'),
  CACHE_CONTROL_TEMP: s('Files', z.string().min(1).default('no-store'), 'no-store', 'Cache-Control of temporary uploads.'),
  UPLOAD_GRACE: s('Files', duration.default('1h'), '1h', 'Age below which an upload in progress or an unreferenced object is never cleaned up.'),
  TEMP_UPLOAD_TTL: s('Files', duration.default('1d'), '1d', 'How long a direct upload may stay unfinished.'),
  FAILED_RETENTION: s('Files', duration.default('7d'), '7d', 'How long failed files are kept for inspection.'),
  DELETED_RETENTION: s('Files', duration.default('30d'), '30d', 'How long soft-deleted rows are kept.'),
  STORAGE_PRICE_PER_GB_MONTH: s('Files', z.coerce.number().nonnegative().default(0.023), '0.023', 'Price used by `stats` to estimate the monthly cost.'),

  // Operations
  BUCKET_BLOCK_PUBLIC_ACCESS: s('Operations', bool.default(true), 'true', '`setup-bucket`: block every form of public access (the CDN reads through origin access).'),
  BUCKET_ENCRYPTION: s('Operations', z.enum(['AES256', 'none']).default('AES256'), 'AES256', '`setup-bucket`: default encryption (`AES256` is SSE-S3; `none` leaves it unset).'),
  BUCKET_VERSIONING: s('Operations', bool.default(true), 'true', '`setup-bucket`: turn versioning on (noncurrent versions then expire after `LIFECYCLE_NONCURRENT_DAYS`).'),
  BUCKET_CORS_ORIGINS: s('Operations', list.default('*'), '*', '`setup-bucket`: origins allowed to upload directly from a browser (comma-separated; empty: no CORS rule).'),
  LIFECYCLE_TEMP_DAYS: s('Operations', int(0, 3650).default(1), '1', 'Lifecycle rule: expire `temp/` objects after this many days (0: no rule).'),
  LIFECYCLE_MULTIPART_DAYS: s('Operations', int(0, 3650).default(1), '1', 'Lifecycle rule: abort incomplete multipart uploads after this many days (0: no rule).'),
  LIFECYCLE_NONCURRENT_DAYS: s('Operations', int(0, 3650).default(30), '30', 'Lifecycle rule: expire noncurrent versions after this many days (0: no rule).'),
  LIFECYCLE_TRANSITION_DAYS: s('Operations', int(0, 3650).default(30), '30', 'Lifecycle rule: move stored files (`items/`, `profiles/`, `verification/`) to `LIFECYCLE_TRANSITION_CLASS` after this many days (0: no transition).'),
  LIFECYCLE_TRANSITION_CLASS: s('Operations', z.enum(['INTELLIGENT_TIERING', 'STANDARD_IA', 'ONEZONE_IA']).default('INTELLIGENT_TIERING'), 'INTELLIGENT_TIERING', 'Storage class of the first transition.'),
  LIFECYCLE_ARCHIVE_DAYS: s('Operations', int(0, 3650).default(365), '365', 'Lifecycle rule: move stored files to `LIFECYCLE_ARCHIVE_CLASS` after this many days (0: no archive transition).'),
  LIFECYCLE_ARCHIVE_CLASS: s('Operations', z.enum(['GLACIER_IR', 'GLACIER', 'DEEP_ARCHIVE']).default('GLACIER_IR'), 'GLACIER_IR', 'Archive storage class. The default keeps millisecond reads, so archived photos are still served; `GLACIER`/`DEEP_ARCHIVE` need a restore before any read.'),
  CLEANUP_INTERVAL: s('Operations', duration.default('1h'), '1h', 'How often the worker runs `cleanup` (0: never).'),
  ORPHANS_INTERVAL: s('Operations', duration.default('1d'), '1d', 'How often the worker runs a report-only `orphans` sweep (0: never).'),

  // HTTP
  PORT: s('HTTP', int(0, 65535).default(3000), '3000', 'Port of the HTTP service.'),
  HOST: s('HTTP', z.string().min(1).default('127.0.0.1'), '127.0.0.1', 'Address to listen on (`0.0.0.0` in containers).'),
  TRUST_PROXY: s('HTTP', bool.default(false), 'false', 'Trust `X-Forwarded-*` (behind a load balancer).'),
  HTTP_HEADERS_TIMEOUT: s('HTTP', duration.default('10s'), '10s', 'Time a client has to send the request headers.'),
  HTTP_REQUEST_TIMEOUT: s('HTTP', duration.default('120s'), '120s', 'Time a client has to send a whole request (slowloris guard).'),
  UPLOAD_RATE_LIMIT: s('HTTP', int(0).default(60), '60', 'Uploads per user per minute (0: unlimited).'),

  // Auth
  JWT_SECRET: s('Auth', z.string().min(32, 'expected at least 32 characters').optional(), 'generated into `$DATA_DIR/secrets.json`', 'HS256 key of bearer tokens.', true),
  JWT_PUBLIC_KEY: s('Auth', z.string().min(1).optional(), '—', 'PEM public key (RS256/ES256) of bearer tokens, instead of a secret.'),
  JWKS_URL: s('Auth', url.optional(), '—', 'JWKS endpoint of the identity provider, instead of a key.'),
  JWT_ALGORITHMS: s('Auth', list.pipe(z.array(z.enum(['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'])).min(1)).optional(), 'HS256 with a secret, RS256,ES256 with a key', 'Accepted signing algorithms (pinned).'),
  JWT_ISSUER: s('Auth', z.string().min(1).default('localex'), 'localex', 'Required `iss`.'),
  JWT_AUDIENCE: s('Auth', z.string().min(1).default('localex-storage'), 'localex-storage', 'Required `aud`.'),
  DEV_TOKENS: s('Auth', z.enum(['auto', 'true', 'false']).default('auto'), 'auto', '`POST /v1/dev/token` mints a token for any user, admins included (the example page at `/` signs in with it). `auto`: on only when `NODE_ENV` is not `production`, `JWT_SECRET` is generated by the embedded default and `HOST` is a loopback address. Even then each request must come from a loopback peer, name a loopback `Host` and carry no `Forwarded`/`X-Forwarded-*`/`X-Real-IP`/`Via` header (anything else gets the 404 of an absent route). `true` under `NODE_ENV=production` is a configuration error.'),
  METRICS_TOKEN: s('HTTP', z.string().min(16, 'expected at least 16 characters').optional(), '—', 'When set, `/metrics` answers only requests with `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise).', true),
  INTERNAL_PORT: s('HTTP', int(0, 65535).optional(), '—', 'When set, `/metrics` and `/docs` leave the public listener and are served on this port of `INTERNAL_HOST` instead (with `/healthz` and `/readyz`, which stay on both).'),
  INTERNAL_HOST: s('HTTP', z.string().min(1).default('127.0.0.1'), '127.0.0.1', 'Address of the internal listener (`INTERNAL_PORT`).'),

  // CDN
  CDN_PROVIDER: s('CDN', z.enum(['none', 'cloudfront', 'http-purge']).default('none'), 'none', 'How deleted or replaced public objects leave the edge: `cloudfront` (CreateInvalidation), `http-purge` (`PURGE` per URL: Varnish, Fastly, nginx), `none`. Needs `CDN_URL`.'),
  CDN_URL: s('CDN', url.optional(), '—', 'Public base URL of the CDN (custom domain; may end in a path). Public URLs are this + the key; unset: the bucket URL or the service\'s `/files/` route.'),
  CLOUDFRONT_DISTRIBUTION_ID: s('CDN', z.string().min(1).optional(), '—', 'Distribution to invalidate (`cloudfront`). Credentials: the SDK default chain, or `AWS_ACCESS_KEY_ID` when the store is AWS S3.'),
  CLOUDFRONT_KEY_PAIR_ID: s('CDN', z.string().min(1).optional(), '—', 'Id of the CloudFront public key whose private key signs URLs of `authenticated` files (canned policy, `SIGNED_URL_TTL`); unset: signed bucket URLs. Private documents never use it.'),
  CLOUDFRONT_PRIVATE_KEY: s('CDN', z.string().min(1).optional(), '—', 'PEM private key that signs CDN URLs.', true),
  CDN_PURGE_URLS: s('CDN', list.default(''), '—', 'Edges that receive `PURGE` (http-purge), comma-separated base URLs; each gets every path, with `CDN_URL`\'s host as `Host`.'),
  CDN_WARM: s('CDN', bool.default(false), 'false', 'Request every URL of a new public file through the CDN once it is ready (`warm_cdn` job), so the first reader hits.'),
  CDN_WARM_CONCURRENCY: s('CDN', int(1, 64).default(4), '4', 'Warming requests in flight.'),
} satisfies Record<string, Setting>

export type SettingName = keyof typeof SETTINGS
export const SECRET_SETTINGS = (Object.keys(SETTINGS) as SettingName[]).filter((k) => (SETTINGS[k] as Setting).secret)
