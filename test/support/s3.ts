import { randomBytes } from 'node:crypto'
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  S3Client,
  type ObjectIdentifier,
} from '@aws-sdk/client-s3'
import { inject } from 'vitest'

/** Where the test S3 server (radosgw, started by test/setup/global-setup.ts) listens. */
export interface S3TestEnv {
  readonly endpoint: string
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly region: string
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3: S3TestEnv
  }
}

export function s3TestEnv(): S3TestEnv {
  let provided: S3TestEnv | undefined
  try {
    provided = inject('s3')
  } catch {
    // Outside a Vitest worker there is nothing to inject; the environment may still have it.
  }
  if (provided) return provided
  const {
    LOCALEX_TEST_S3_ENDPOINT: endpoint,
    LOCALEX_TEST_S3_ACCESS_KEY: accessKeyId,
    LOCALEX_TEST_S3_SECRET_KEY: secretAccessKey,
  } = process.env
  if (!endpoint || !accessKeyId || !secretAccessKey) {
    throw new Error(
      'No test S3 server: test/setup/global-setup.ts did not run (is it in vitest.config.ts globalSetup?)',
    )
  }
  return { endpoint, accessKeyId, secretAccessKey, region: 'us-east-1' }
}

/**
 * A client for the test server. The checksum settings are the ones S3-compatible servers need:
 * the SDK's default sends aws-chunked bodies with trailing checksums, which radosgw 16 answers
 * with 411. Path style, because `bucket.127.0.0.1` does not resolve.
 */
export function s3TestClient(overrides: { secretAccessKey?: string } = {}): S3Client {
  const env = s3TestEnv()
  return new S3Client({
    endpoint: env.endpoint,
    region: env.region,
    credentials: { accessKeyId: env.accessKeyId, secretAccessKey: overrides.secretAccessKey ?? env.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
}

export interface TestBucket {
  readonly bucket: string
  readonly client: S3Client
  /** Deletes every object (and version), aborts open multipart uploads, deletes the bucket. */
  readonly cleanup: () => Promise<void>
}

/**
 * A fresh bucket per test file: test files run in parallel against one server, so they must
 * never share a bucket name.
 */
export async function createTestBucket(prefix = 'test'): Promise<TestBucket> {
  const suffix = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
  const stem =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'test'
  const bucket = `${stem.slice(0, 62 - suffix.length)}-${suffix}`
  const client = s3TestClient()
  await client.send(new CreateBucketCommand({ Bucket: bucket }))
  return { bucket, client, cleanup: () => emptyAndDeleteBucket(client, bucket) }
}

async function emptyAndDeleteBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await abortMultipartUploads(client, bucket)
    await deleteAllVersions(client, bucket)
    await client.send(new DeleteBucketCommand({ Bucket: bucket }))
  } catch (error) {
    // A test that deleted its own bucket has already done the work.
    if ((error as { name?: string }).name !== 'NoSuchBucket') throw error
  } finally {
    client.destroy()
  }
}

async function abortMultipartUploads(client: S3Client, bucket: string): Promise<void> {
  let KeyMarker: string | undefined
  let UploadIdMarker: string | undefined
  for (;;) {
    const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, KeyMarker, UploadIdMarker }))
    for (const upload of page.Uploads ?? []) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }))
    }
    if (!page.IsTruncated) return
    KeyMarker = page.NextKeyMarker
    UploadIdMarker = page.NextUploadIdMarker
  }
}

// Versions rather than a plain listing, so a test that turned on versioning cannot leave a
// bucket behind that DeleteBucket refuses as not empty.
async function deleteAllVersions(client: S3Client, bucket: string): Promise<void> {
  let KeyMarker: string | undefined
  let VersionIdMarker: string | undefined
  for (;;) {
    const page = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, KeyMarker, VersionIdMarker }))
    const objects: ObjectIdentifier[] = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]
      .filter((v): v is typeof v & { Key: string } => v.Key !== undefined)
      .map((v) => ({ Key: v.Key, VersionId: v.VersionId }))
    for (let i = 0; i < objects.length; i += 1000) {
      const result = await client.send(
        new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects.slice(i, i + 1000), Quiet: true } }),
      )
      const failed = result.Errors ?? []
      if (failed.length)
        throw new Error(
          `could not delete ${failed.length} objects of ${bucket}: ` +
            `${failed.map((e) => `${e.Key}: ${e.Code}`).join(', ')}`,
        )
    }
    if (!page.IsTruncated) return
    KeyMarker = page.NextKeyMarker
    VersionIdMarker = page.NextVersionIdMarker
  }
}

/** The environment `loadConfig` (src/config) needs to use `bucket` on the test server. */
export function s3ConfigEnv(bucket: string): Record<string, string> {
  const env = s3TestEnv()
  return {
    STORAGE_DRIVER: 's3',
    S3_BUCKET: bucket,
    S3_ENDPOINT: env.endpoint,
    S3_REGION: env.region,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: env.accessKeyId,
    AWS_SECRET_ACCESS_KEY: env.secretAccessKey,
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
  }
}
