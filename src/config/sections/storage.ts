import { join, resolve } from 'node:path'
import { z } from 'zod'
import { bool, byteSize, defineSection, duration, int, url } from '../env.js'
import { missingSecret } from '../secrets.js'
import { general } from './general.js'
import { http } from './http.js'

const checksumMode = z.enum(['WHEN_SUPPORTED', 'WHEN_REQUIRED']).default('WHEN_SUPPORTED')
/** The S3 minimum part size (every part but the last). */
const MIN_PART_SIZE = 5 * 1024 * 1024

export const storage = defineSection({
  title: 'Object store',
  summary:
    '`config.storage`: where objects are kept (the disk driver or an S3-compatible bucket) and how requests to it ' +
    'behave.',
  variables: {
    STORAGE_DRIVER: {
      schema: z.enum(['disk', 's3']).optional(),
      default: '`s3` when `S3_BUCKET` is set, else `disk`',
      doc: 'Object store driver.',
    },
    STORAGE_DISK_ROOT: {
      schema: z.string().min(1).optional(),
      default: '`$DATA_DIR/storage`',
      doc: 'Root folder of the disk driver.',
    },
    S3_BUCKET: {
      schema: z
        .string()
        .regex(
          /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
          'expected an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)',
        )
        .optional(),
      default: 'localex-storage',
      doc: 'Bucket name. Setting it selects the `s3` driver.',
    },
    S3_REGION: { schema: z.string().min(1).optional(), default: '`AWS_REGION`, else us-east-1', doc: 'Bucket region.' },
    AWS_REGION: {
      schema: z.string().min(1).optional(),
      default: '—',
      doc: "The SDK's region variable; used when `S3_REGION` is unset.",
    },
    S3_ENDPOINT: {
      schema: url.optional(),
      default: '— (AWS)',
      doc: 'Endpoint of an S3-compatible store: R2, MinIO, Ceph RGW, LocalStack.',
    },
    S3_FORCE_PATH_STYLE: {
      schema: bool.default(false),
      default: 'false',
      doc: 'Path-style addressing (`endpoint/bucket/key`); needed by MinIO, Ceph and LocalStack.',
    },
    S3_PUBLIC_URL: {
      schema: url.optional(),
      default: '—',
      doc: 'Public base URL of the bucket, when the bucket itself is served publicly (rare; prefer a CDN).',
    },
    AWS_ACCESS_KEY_ID: {
      schema: z.string().min(1).optional(),
      default: "— (the SDK's default chain)",
      doc: 'Access key. Unset: the SDK default chain (env, profile, SSO, IAM role).',
      secret: true,
    },
    AWS_SECRET_ACCESS_KEY: {
      schema: z.string().min(1).optional(),
      default: "— (the SDK's default chain)",
      doc: 'Secret key; required when `AWS_ACCESS_KEY_ID` is set.',
      secret: true,
    },
    AWS_SESSION_TOKEN: {
      schema: z.string().min(1).optional(),
      default: '—',
      doc: 'Session token for temporary credentials.',
      secret: true,
    },
    AWS_REQUEST_CHECKSUM_CALCULATION: {
      schema: checksumMode,
      default: 'WHEN_SUPPORTED',
      doc: 'Set `WHEN_REQUIRED` for stores that reject aws-chunked trailing checksums (Ceph RGW, older MinIO).',
    },
    AWS_RESPONSE_CHECKSUM_VALIDATION: {
      schema: checksumMode,
      default: 'WHEN_SUPPORTED',
      doc: 'Set `WHEN_REQUIRED` together with the one above.',
    },
    S3_CONDITIONAL_WRITES: {
      schema: bool.default(true),
      default: 'true',
      doc: 'Send `If-None-Match: *` on new objects so nothing is overwritten by accident.',
    },
    S3_MULTIPART_THRESHOLD: {
      schema: byteSize.default('5MiB'),
      default: '5MiB',
      doc: 'Bodies larger than this (or of unknown length) go up as multipart uploads.',
    },
    S3_PART_SIZE: {
      schema: byteSize.default('5MiB'),
      default: '5MiB',
      doc: 'Part size of multipart uploads (S3 minimum 5 MiB).',
    },
    S3_UPLOAD_CONCURRENCY: {
      schema: int(1, 64).default(4),
      default: '4',
      doc: 'Parts of one multipart upload sent at once.',
    },
    STORAGE_MAX_ATTEMPTS: {
      schema: int(1, 20).default(4),
      default: '4',
      doc: 'Attempts per store request (throttling, 5xx and network errors are retried; 4xx never).',
    },
    STORAGE_RETRY_BASE_MS: {
      schema: duration.default(100),
      default: '100',
      doc: 'First retry delay; doubles each attempt, with full jitter, capped at 5 s.',
    },
    STORAGE_TIMEOUT_MS: {
      schema: duration.default('30s'),
      default: '30s',
      doc: 'Connection and socket timeout of one store request.',
    },
    URL_SIGNING_SECRET: {
      schema: z.string().min(32, 'expected at least 32 characters').optional(),
      default: 'generated into `$DATA_DIR/secrets.json`',
      doc: "HMAC key of the disk driver's signed URLs.",
      secret: true,
    },
  },
  uses: {
    DATA_DIR: general.variables.DATA_DIR,
    PUBLIC_BASE_URL: general.variables.PUBLIC_BASE_URL,
    PORT: http.variables.PORT,
  },
  build(v, problem) {
    const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = v
    if (accessKeyId && !secretAccessKey) problem('AWS_SECRET_ACCESS_KEY: required when AWS_ACCESS_KEY_ID is set')
    if (!accessKeyId && secretAccessKey) problem('AWS_ACCESS_KEY_ID: required when AWS_SECRET_ACCESS_KEY is set')
    if (v.S3_PART_SIZE < MIN_PART_SIZE) problem('S3_PART_SIZE: expected at least 5MiB (the S3 minimum part size)')
    const dataDir = resolve(v.DATA_DIR)
    const signingSecret = v.URL_SIGNING_SECRET ?? v.generatedSecrets.URL_SIGNING_SECRET
    if (signingSecret === undefined) problem(missingSecret('URL_SIGNING_SECRET', dataDir))
    const driver: 'disk' | 's3' = v.STORAGE_DRIVER ?? (v.S3_BUCKET ? 's3' : 'disk')
    return {
      storage: {
        driver,
        disk: { root: resolve(v.STORAGE_DISK_ROOT ?? join(dataDir, 'storage')) },
        s3: {
          bucket: v.S3_BUCKET ?? 'localex-storage',
          region: v.S3_REGION ?? v.AWS_REGION ?? 'us-east-1',
          endpoint: v.S3_ENDPOINT,
          forcePathStyle: v.S3_FORCE_PATH_STYLE,
          publicUrl: v.S3_PUBLIC_URL,
          /** Absent: the SDK's default provider chain (env, profile, SSO, IAM role). */
          credentials:
            accessKeyId && secretAccessKey
              ? { accessKeyId, secretAccessKey, sessionToken: v.AWS_SESSION_TOKEN }
              : undefined,
          requestChecksumCalculation: v.AWS_REQUEST_CHECKSUM_CALCULATION,
          responseChecksumValidation: v.AWS_RESPONSE_CHECKSUM_VALIDATION,
          conditionalWrites: v.S3_CONDITIONAL_WRITES,
          multipartThreshold: v.S3_MULTIPART_THRESHOLD,
          partSize: v.S3_PART_SIZE,
          uploadConcurrency: v.S3_UPLOAD_CONCURRENCY,
        },
        retry: { maxAttempts: v.STORAGE_MAX_ATTEMPTS, baseDelayMs: v.STORAGE_RETRY_BASE_MS, maxDelayMs: 5000 },
        timeoutMs: v.STORAGE_TIMEOUT_MS,
        /** HMAC key of signed delivery URLs (disk driver and the service's own delivery route). */
        signingSecret: signingSecret ?? '',
        // Unset: the port the service listens on, so that `PORT=8080 npm start` hands out URLs that work.
        publicBaseUrl: (v.PUBLIC_BASE_URL ?? `http://localhost:${v.PORT}`).replace(/\/+$/, ''),
      },
    }
  },
})
