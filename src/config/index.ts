import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { z } from 'zod'
import { LocalexError } from '../errors/index.js'
import { SECRET_SETTINGS, SETTINGS, type Setting, type SettingName } from './env.js'

export { SETTINGS, SECRET_SETTINGS } from './env.js'
export type { SettingName } from './env.js'

export type ChecksumMode = 'WHEN_SUPPORTED' | 'WHEN_REQUIRED'
export type ImageType = 'image/jpeg' | 'image/png' | 'image/webp' | 'image/gif' | 'image/avif'

export interface VariantSpec {
  readonly name: string
  /** Longest side in pixels (square crops: the side). */
  readonly size: number
  readonly square: boolean
}

export interface S3Config {
  readonly bucket: string
  readonly region: string
  readonly endpoint?: string
  readonly forcePathStyle: boolean
  readonly publicUrl?: string
  /** Absent: the SDK's default provider chain (env, profile, SSO, IAM role). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string }
  readonly requestChecksumCalculation: ChecksumMode
  readonly responseChecksumValidation: ChecksumMode
  readonly conditionalWrites: boolean
  readonly multipartThreshold: number
  readonly partSize: number
  readonly uploadConcurrency: number
}

export interface RetryConfig {
  readonly maxAttempts: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
}

export interface StorageConfig {
  readonly driver: 'disk' | 's3'
  readonly disk: { readonly root: string }
  readonly s3: S3Config
  readonly retry: RetryConfig
  readonly timeoutMs: number
  /** HMAC key of signed delivery URLs (disk driver and the service's own delivery route). */
  readonly signingSecret: string
  readonly publicBaseUrl: string
}

export interface ImagesConfig {
  readonly maxBytes: number
  readonly allowedTypes: readonly ImageType[]
  readonly quality: number
  readonly documentQuality: number
  readonly webp: boolean
  readonly avif: boolean
  readonly stripMetadata: boolean
  readonly maxInputPixels: number
  readonly maxInputSide: number
  readonly maxSide: number
  readonly oversize: 'downscale' | 'reject'
  /** What `prepareOriginal` (the synchronous part of an upload) returns; see IMAGE_UPLOAD_ORIGINAL. */
  readonly uploadOriginal: 'sanitised' | 'optimised'
  readonly maxFrames: number
  readonly variants: readonly VariantSpec[]
}

export interface Config {
  readonly dataDir: string
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  readonly storage: StorageConfig
  readonly images: ImagesConfig
  readonly db: { readonly url?: string; readonly sqlitePath: string; readonly poolMax: number; readonly migrateOnStart: boolean }
  readonly queue: {
    readonly redisUrl?: string
    readonly prefix: string
    readonly concurrency: number
    readonly attempts: number
    readonly backoffMs: number
    readonly serveWorkers: number
    readonly lockDurationMs: number
    readonly stalledIntervalMs: number
  }
  readonly files: {
    readonly maxPhotosPerItem: number
    readonly signedUrlTtlMs: number
    readonly privateUrlTtlMs: number
    readonly cacheControl: { readonly public: string; readonly processing: string; readonly document: string; readonly temp: string }
    readonly uploadGraceMs: number
    readonly tempUploadTtlMs: number
    readonly failedRetentionMs: number
    readonly deletedRetentionMs: number
    readonly pricePerGbMonth: number
  }
  readonly ops: {
    readonly bucket: {
      readonly blockPublicAccess: boolean
      readonly encryption: 'AES256' | 'none'
      readonly versioning: boolean
      readonly corsOrigins: readonly string[]
    }
    /** Days; 0 means no such rule. */
    readonly lifecycle: {
      readonly tempDays: number
      readonly multipartDays: number
      readonly noncurrentDays: number
      readonly transitionDays: number
      readonly transitionClass: 'INTELLIGENT_TIERING' | 'STANDARD_IA' | 'ONEZONE_IA'
      readonly archiveDays: number
      readonly archiveClass: 'GLACIER_IR' | 'GLACIER' | 'DEEP_ARCHIVE'
    }
    /** Milliseconds; 0 means not scheduled. */
    readonly schedule: { readonly cleanupEveryMs: number; readonly orphansEveryMs: number }
  }
  readonly http: {
    readonly port: number
    readonly host: string
    readonly trustProxy: boolean
    readonly headersTimeoutMs: number
    readonly requestTimeoutMs: number
    readonly uploadRateLimit: number
    /** Bearer token `/metrics` requires (METRICS_TOKEN); absent: open. */
    readonly metricsToken?: string
    /** A second, internal listener that alone serves /metrics and /docs (INTERNAL_PORT). */
    readonly internal?: { readonly host: string; readonly port: number }
  }
  readonly auth: {
    readonly secret?: string
    readonly publicKey?: string
    readonly jwksUrl?: string
    readonly algorithms: readonly string[]
    readonly issuer: string
    readonly audience: string
    /** Serve POST /v1/dev/token (DEV_TOKENS; see src/http/dev-token.ts). */
    readonly devTokens: boolean
    /** Why development sign-in is on or off, in words, for the start-up line of `serve`. */
    readonly devTokensReason: string
  }
  readonly cdn: {
    readonly provider: 'none' | 'cloudfront' | 'http-purge'
    readonly url?: string
    readonly cloudfront: { readonly distributionId?: string; readonly keyPairId?: string; readonly privateKey?: string }
    readonly purgeUrls: readonly string[]
    readonly warm: boolean
    readonly warmConcurrency: number
  }
}

export type Env = Record<string, string | undefined>

type Values = { [K in SettingName]: z.output<(typeof SETTINGS)[K]['schema']> }

export interface LoadConfigOptions {
  /**
   * Where secrets that are not configured come from. `'generate'` (the default) reads them from
   * `$DATA_DIR/secrets.json`, creating it with fresh random values on first use, so that the
   * service, the worker and `localex-storage token` agree without configuration. `'require'`
   * fails instead, naming the variable.
   */
  secrets?: 'generate' | 'require'
}

/**
 * Validates the environment once and returns a deeply frozen config. Fails with CONFIG_INVALID,
 * naming every offending variable and what was expected; values of secrets never appear.
 */
export function loadConfig(env: Env = process.env, options: LoadConfigOptions = {}): Readonly<Config> {
  const issues: string[] = []
  const values: Partial<Record<SettingName, unknown>> = {}
  for (const [name, setting] of Object.entries(SETTINGS) as [SettingName, Setting][]) {
    const raw = env[name]
    const input = raw === undefined || raw.trim() === '' ? undefined : raw.trim()
    const parsed = setting.schema.safeParse(input)
    if (parsed.success) values[name] = parsed.data
    else issues.push(`${name}: ${parsed.error.issues.map((i) => i.message).join('; ')}${setting.secret || input === undefined ? '' : ` (got "${truncate(input)}")`}`)
  }
  if (issues.length) throw configError(issues)
  const v = values as Values

  if (v.AWS_ACCESS_KEY_ID && !v.AWS_SECRET_ACCESS_KEY) issues.push('AWS_SECRET_ACCESS_KEY: required when AWS_ACCESS_KEY_ID is set')
  if (!v.AWS_ACCESS_KEY_ID && v.AWS_SECRET_ACCESS_KEY) issues.push('AWS_ACCESS_KEY_ID: required when AWS_SECRET_ACCESS_KEY is set')
  const driver = v.STORAGE_DRIVER ?? (v.S3_BUCKET ? 's3' : 'disk')
  if (v.S3_PART_SIZE < 5 * 1024 * 1024) issues.push('S3_PART_SIZE: expected at least 5MiB (the S3 minimum part size)')
  if (v.CDN_PROVIDER === 'cloudfront' && !v.CLOUDFRONT_DISTRIBUTION_ID) issues.push('CLOUDFRONT_DISTRIBUTION_ID: required when CDN_PROVIDER is cloudfront')
  if (v.CDN_PROVIDER === 'http-purge' && v.CDN_PURGE_URLS.length === 0) issues.push('CDN_PURGE_URLS: required when CDN_PROVIDER is http-purge')
  if (v.CDN_PROVIDER !== 'none' && !v.CDN_URL) issues.push(`CDN_URL: required when CDN_PROVIDER is ${v.CDN_PROVIDER}`)
  if (v.CLOUDFRONT_KEY_PAIR_ID && !v.CDN_URL) issues.push('CDN_URL: required when CLOUDFRONT_KEY_PAIR_ID is set (signed URLs are CDN URLs)')
  if (Boolean(v.CLOUDFRONT_KEY_PAIR_ID) !== Boolean(v.CLOUDFRONT_PRIVATE_KEY)) issues.push('CLOUDFRONT_KEY_PAIR_ID and CLOUDFRONT_PRIVATE_KEY: set both or neither')
  for (const u of v.CDN_PURGE_URLS) if (!z.string().url().safeParse(u).success) issues.push(`CDN_PURGE_URLS: expected comma-separated URLs (got "${truncate(u)}")`)
  const variants = parseVariants(v.IMAGE_VARIANTS, v.IMAGE_SQUARE_VARIANTS, issues)
  if (v.LIFECYCLE_TRANSITION_DAYS > 0 && v.LIFECYCLE_ARCHIVE_DAYS > 0 && v.LIFECYCLE_ARCHIVE_DAYS <= v.LIFECYCLE_TRANSITION_DAYS) issues.push('LIFECYCLE_ARCHIVE_DAYS: expected more days than LIFECYCLE_TRANSITION_DAYS')
  const production = v.NODE_ENV?.toLowerCase() === 'production'
  if (production && v.DEV_TOKENS === 'true') {
    issues.push('DEV_TOKENS: "true" is not allowed with NODE_ENV=production (anyone reaching the service could mint an admin token); use localex-storage token or your identity provider')
  }
  const hsAlgorithm = !v.JWT_ALGORITHMS || v.JWT_ALGORITHMS.some((a) => a.startsWith('HS'))
  if (v.DEV_TOKENS === 'true' && (!hsAlgorithm || (!v.JWT_SECRET && (v.JWT_PUBLIC_KEY || v.JWKS_URL)))) {
    issues.push('DEV_TOKENS: needs an HS secret to sign tokens (JWT_SECRET, or none of JWT_PUBLIC_KEY/JWKS_URL) and an HS algorithm')
  }
  if (issues.length) throw configError(issues)

  const dataDir = resolve(v.DATA_DIR)
  const needsJwtSecret = !v.JWT_PUBLIC_KEY && !v.JWKS_URL
  const secrets = resolveSecrets(dataDir, {
    URL_SIGNING_SECRET: v.URL_SIGNING_SECRET,
    JWT_SECRET: needsJwtSecret ? v.JWT_SECRET : v.JWT_SECRET ?? '',
  }, options.secrets ?? 'generate')

  const config: Config = {
    dataDir,
    logLevel: v.LOG_LEVEL,
    storage: {
      driver,
      disk: { root: resolve(v.STORAGE_DISK_ROOT ?? join(dataDir, 'storage')) },
      s3: {
        bucket: v.S3_BUCKET ?? 'localex-storage',
        region: v.S3_REGION ?? v.AWS_REGION ?? 'us-east-1',
        ...(v.S3_ENDPOINT ? { endpoint: v.S3_ENDPOINT } : {}),
        forcePathStyle: v.S3_FORCE_PATH_STYLE,
        ...(v.S3_PUBLIC_URL ? { publicUrl: v.S3_PUBLIC_URL } : {}),
        ...(v.AWS_ACCESS_KEY_ID && v.AWS_SECRET_ACCESS_KEY
          ? { credentials: { accessKeyId: v.AWS_ACCESS_KEY_ID, secretAccessKey: v.AWS_SECRET_ACCESS_KEY, ...(v.AWS_SESSION_TOKEN ? { sessionToken: v.AWS_SESSION_TOKEN } : {}) } }
          : {}),
        requestChecksumCalculation: v.AWS_REQUEST_CHECKSUM_CALCULATION,
        responseChecksumValidation: v.AWS_RESPONSE_CHECKSUM_VALIDATION,
        conditionalWrites: v.S3_CONDITIONAL_WRITES,
        multipartThreshold: v.S3_MULTIPART_THRESHOLD,
        partSize: v.S3_PART_SIZE,
        uploadConcurrency: v.S3_UPLOAD_CONCURRENCY,
      },
      retry: { maxAttempts: v.STORAGE_MAX_ATTEMPTS, baseDelayMs: v.STORAGE_RETRY_BASE_MS, maxDelayMs: 5000 },
      timeoutMs: v.STORAGE_TIMEOUT_MS,
      signingSecret: secrets.URL_SIGNING_SECRET,
      // Unset: the port the service listens on, so that `PORT=8080 npm start` hands out URLs that work.
      publicBaseUrl: (v.PUBLIC_BASE_URL ?? `http://localhost:${v.PORT}`).replace(/\/+$/, ''),
    },
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
      maxSide: v.IMAGE_MAX_SIDE,
      oversize: v.IMAGE_OVERSIZE,
      uploadOriginal: v.IMAGE_UPLOAD_ORIGINAL,
      maxFrames: v.IMAGE_MAX_FRAMES,
      variants,
    },
    db: {
      ...(v.DATABASE_URL ? { url: v.DATABASE_URL } : {}),
      sqlitePath: resolve(v.SQLITE_PATH ?? join(dataDir, 'meta.sqlite')),
      poolMax: v.DATABASE_POOL_MAX,
      migrateOnStart: v.MIGRATE_ON_START,
    },
    queue: {
      ...(v.REDIS_URL ? { redisUrl: v.REDIS_URL } : {}),
      prefix: v.QUEUE_PREFIX,
      concurrency: v.WORKER_CONCURRENCY,
      attempts: v.JOB_ATTEMPTS,
      backoffMs: v.JOB_BACKOFF_MS,
      serveWorkers: v.SERVE_WORKERS ?? (v.REDIS_URL ? 0 : 1),
      lockDurationMs: v.JOB_LOCK_DURATION,
      stalledIntervalMs: v.JOB_STALLED_INTERVAL,
    },
    files: {
      maxPhotosPerItem: v.MAX_PHOTOS_PER_ITEM,
      signedUrlTtlMs: v.SIGNED_URL_TTL,
      privateUrlTtlMs: v.PRIVATE_URL_TTL,
      cacheControl: { public: v.CACHE_CONTROL_PUBLIC, processing: v.CACHE_CONTROL_PROCESSING, document: v.CACHE_CONTROL_DOCUMENT, temp: v.CACHE_CONTROL_TEMP },
      uploadGraceMs: v.UPLOAD_GRACE,
      tempUploadTtlMs: v.TEMP_UPLOAD_TTL,
      failedRetentionMs: v.FAILED_RETENTION,
      deletedRetentionMs: v.DELETED_RETENTION,
      pricePerGbMonth: v.STORAGE_PRICE_PER_GB_MONTH,
    },
    ops: {
      bucket: {
        blockPublicAccess: v.BUCKET_BLOCK_PUBLIC_ACCESS,
        encryption: v.BUCKET_ENCRYPTION,
        versioning: v.BUCKET_VERSIONING,
        corsOrigins: v.BUCKET_CORS_ORIGINS,
      },
      lifecycle: {
        tempDays: v.LIFECYCLE_TEMP_DAYS,
        multipartDays: v.LIFECYCLE_MULTIPART_DAYS,
        noncurrentDays: v.LIFECYCLE_NONCURRENT_DAYS,
        transitionDays: v.LIFECYCLE_TRANSITION_DAYS,
        transitionClass: v.LIFECYCLE_TRANSITION_CLASS,
        archiveDays: v.LIFECYCLE_ARCHIVE_DAYS,
        archiveClass: v.LIFECYCLE_ARCHIVE_CLASS,
      },
      schedule: { cleanupEveryMs: v.CLEANUP_INTERVAL, orphansEveryMs: v.ORPHANS_INTERVAL },
    },
    http: {
      port: v.PORT,
      host: v.HOST,
      trustProxy: v.TRUST_PROXY,
      headersTimeoutMs: v.HTTP_HEADERS_TIMEOUT,
      requestTimeoutMs: v.HTTP_REQUEST_TIMEOUT,
      uploadRateLimit: v.UPLOAD_RATE_LIMIT,
      ...(v.METRICS_TOKEN ? { metricsToken: v.METRICS_TOKEN } : {}),
      ...(v.INTERNAL_PORT !== undefined ? { internal: { host: v.INTERNAL_HOST, port: v.INTERNAL_PORT } } : {}),
    },
    auth: {
      ...(secrets.JWT_SECRET ? { secret: secrets.JWT_SECRET } : {}),
      ...(v.JWT_PUBLIC_KEY ? { publicKey: v.JWT_PUBLIC_KEY } : {}),
      ...(v.JWKS_URL ? { jwksUrl: v.JWKS_URL } : {}),
      algorithms: v.JWT_ALGORITHMS ?? (needsJwtSecret ? ['HS256'] : ['RS256', 'ES256']),
      issuer: v.JWT_ISSUER,
      audience: v.JWT_AUDIENCE,
      // A generated secret means nobody configured auth: a development setup, unless it listens
      // beyond this machine.
      ...devTokens(v, production, needsJwtSecret),
    },
    cdn: {
      provider: v.CDN_PROVIDER,
      ...(v.CDN_URL ? { url: v.CDN_URL.replace(/\/+$/, '') } : {}),
      cloudfront: {
        ...(v.CLOUDFRONT_DISTRIBUTION_ID ? { distributionId: v.CLOUDFRONT_DISTRIBUTION_ID } : {}),
        ...(v.CLOUDFRONT_KEY_PAIR_ID ? { keyPairId: v.CLOUDFRONT_KEY_PAIR_ID } : {}),
        ...(v.CLOUDFRONT_PRIVATE_KEY ? { privateKey: v.CLOUDFRONT_PRIVATE_KEY.replace(/\\n/g, '\n') } : {}),
      },
      purgeUrls: v.CDN_PURGE_URLS.map((u) => u.replace(/\/+$/, '')),
      warm: v.CDN_WARM,
      warmConcurrency: v.CDN_WARM_CONCURRENCY,
    },
  }
  return deepFreeze(config)
}

/** The config as it is safe to print: every secret replaced by `[redacted]`. */
/**
 * Only the `images` section, for the image pipeline used without the rest of the service. Secrets
 * play no part in it, so placeholders stand in for them: nothing is read from or written to
 * `$DATA_DIR/secrets.json`.
 */
export function loadImagesConfig(env: Env = {}): Readonly<ImagesConfig> {
  const placeholder = 'x'.repeat(32)
  return loadConfig({ ...env, URL_SIGNING_SECRET: placeholder, JWT_SECRET: placeholder }, { secrets: 'require' }).images
}

export function redactConfig(config: Config): unknown {
  const secretValues = new Set<string>()
  const s3 = config.storage.s3.credentials
  for (const value of [config.storage.signingSecret, config.auth.secret, config.cdn.cloudfront.privateKey, config.http.metricsToken, s3?.secretAccessKey, s3?.sessionToken, s3?.accessKeyId]) {
    if (value) secretValues.add(value)
  }
  return JSON.parse(JSON.stringify(config, (_key, value: unknown) => {
    if (typeof value !== 'string') return value
    if (secretValues.has(value)) return '[redacted]'
    if (/^(postgres(ql)?|rediss?):\/\//i.test(value)) return redactConnectionUrl(value)
    return value
  }))
}

/** Query parameters of connection URLs that carry credentials (libpq's and ioredis's spellings). */
const SECRET_PARAMS = /^(password|pass|pwd|secret|token|sslpassword|sslkey)$/i

/**
 * A connection URL without its credentials: the password of the userinfo (also when there is no
 * user, as in `redis://:secret@host`) and credential query parameters. Parsed as a URL, not matched
 * by pattern, so that no spelling slips through; an unparseable value is hidden whole.
 */
function redactConnectionUrl(value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return '[redacted]'
  }
  if (url.password) url.password = 'redacted'
  for (const key of [...url.searchParams.keys()]) if (SECRET_PARAMS.test(key)) url.searchParams.set(key, 'redacted')
  return url.toString().replace(/:redacted@/, ':[redacted]@').replace(/=redacted(?=&|$)/g, '=[redacted]')
}

export function describeSecretSettings(): readonly string[] {
  return SECRET_SETTINGS
}

function parseVariants(spec: string, square: readonly string[], issues: string[]): VariantSpec[] {
  const out: VariantSpec[] = []
  for (const pair of spec.split(',')) {
    const [name = '', size = ''] = pair.split(':')
    if (out.some((o) => o.name === name)) issues.push(`IMAGE_VARIANTS: variant "${name}" appears twice`)
    if (name === 'original') issues.push('IMAGE_VARIANTS: "original" is reserved')
    out.push({ name, size: Number(size), square: square.includes(name) })
  }
  for (const name of square) if (!out.some((o) => o.name === name)) issues.push(`IMAGE_SQUARE_VARIANTS: "${name}" is not one of IMAGE_VARIANTS`)
  return out
}

function resolveSecrets<K extends string>(dataDir: string, given: Record<K, string | undefined>, mode: 'generate' | 'require'): Record<K, string> {
  const missing = (Object.keys(given) as K[]).filter((k) => given[k] === undefined)
  if (missing.length === 0) return given as Record<K, string>
  if (mode === 'require') throw configError(missing.map((k) => `${k}: required (expected at least 32 characters)`))
  const file = join(dataDir, 'secrets.json')
  let stored: Record<string, string> = {}
  try {
    stored = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new LocalexError('CONFIG_INVALID', `Cannot read generated secrets at ${file}`, { cause: error })
    }
  }
  let changed = false
  for (const k of missing) {
    if (!stored[k]) {
      stored[k] = randomBytes(32).toString('base64url')
      changed = true
    }
  }
  if (changed) {
    mkdirSync(dataDir, { recursive: true })
    writeFileSync(file, JSON.stringify(stored, null, 2) + '\n', { mode: 0o600 })
  }
  const out = { ...given } as Record<K, string>
  for (const k of missing) out[k] = stored[k] as string
  return out
}

function configError(issues: string[]): LocalexError {
  return new LocalexError('CONFIG_INVALID', `Invalid configuration:\n  - ${issues.join('\n  - ')}`, { details: { issues } })
}

/**
 * DEV_TOKENS=auto turns development sign-in on only for what can only be a local run: not
 * production, nobody configured auth (the secret was generated), and a loopback listener. The
 * route still checks every request (src/http/dev-token.ts), since a proxy on the same host makes
 * a loopback listener public.
 */
function devTokens(v: Values, production: boolean, needsJwtSecret: boolean): { devTokens: boolean; devTokensReason: string } {
  if (v.DEV_TOKENS === 'true') return { devTokens: true, devTokensReason: 'DEV_TOKENS=true' }
  if (v.DEV_TOKENS === 'false') return { devTokens: false, devTokensReason: 'DEV_TOKENS=false' }
  if (production) return { devTokens: false, devTokensReason: 'DEV_TOKENS=auto and NODE_ENV=production' }
  if (!needsJwtSecret || v.JWT_SECRET) return { devTokens: false, devTokensReason: 'DEV_TOKENS=auto and auth is configured (JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL)' }
  if (!isLoopback(v.HOST)) return { devTokens: false, devTokensReason: `DEV_TOKENS=auto and HOST=${v.HOST} is not a loopback address` }
  return { devTokens: true, devTokensReason: `DEV_TOKENS=auto: NODE_ENV is not production, the JWT secret was generated, HOST=${v.HOST} is loopback; only loopback requests without proxy headers are served` }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host)
}

function truncate(value: string): string {
  return value.length > 60 ? `${value.slice(0, 57)}...` : value
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}
