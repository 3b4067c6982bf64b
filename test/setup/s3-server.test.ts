import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { ensureGeneratedSecrets, loadConfig } from '../../src/config/index.js'
import { createTestBucket, s3ConfigEnv, s3TestClient, s3TestEnv, type TestBucket } from '../support/s3.js'

// Guards the premise of every S3 test: that it talks to a real server which checks signatures,
// not to something that accepts anything.
describe('test S3 server (radosgw)', () => {
  let t: TestBucket
  beforeAll(async () => {
    t = await createTestBucket('setup')
  })
  afterAll(async () => {
    await t?.cleanup()
  })

  it('is reachable with the same settings through inject and the environment', () => {
    const provided = inject('s3')
    expect(provided.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(s3TestEnv()).toEqual(provided)
    expect(process.env.LOCALEX_TEST_S3_ENDPOINT).toBe(provided.endpoint)
    expect(process.env.LOCALEX_TEST_S3_ACCESS_KEY).toBe(provided.accessKeyId)
    expect(process.env.LOCALEX_TEST_S3_SECRET_KEY).toBe(provided.secretAccessKey)
  })

  it('stores and returns the exact bytes', async () => {
    const body = randomBytes(256 * 1024)
    await t.client.send(
      new PutObjectCommand({
        Bucket: t.bucket,
        Key: 'dir/blob.bin',
        Body: body,
        ContentType: 'application/octet-stream',
      }),
    )
    const got = await t.client.send(new GetObjectCommand({ Bucket: t.bucket, Key: 'dir/blob.bin' }))
    expect(got.ContentType).toBe('application/octet-stream')
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true)
  })

  it('refuses a request signed with the wrong secret with 403 SignatureDoesNotMatch', async () => {
    const forged = s3TestClient({ secretAccessKey: 'not-the-secret-0123456789abcdef' })
    try {
      const error = await forged.send(new ListObjectsV2Command({ Bucket: t.bucket })).then(
        () => undefined,
        (e: unknown) => e as { name?: string; $metadata?: { httpStatusCode?: number } },
      )
      expect(error?.name).toBe('SignatureDoesNotMatch')
      expect(error?.$metadata?.httpStatusCode).toBe(403)
    } finally {
      forged.destroy()
    }
  })

  it('cleanup removes objects, open multipart uploads and the bucket', async () => {
    const other = await createTestBucket('setup-cleanup')
    const { client, bucket } = other
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'a.txt', Body: 'a' }))
    const mpu = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'big.bin' }))
    await client.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: 'big.bin',
        UploadId: mpu.UploadId,
        PartNumber: 1,
        Body: randomBytes(1024),
      }),
    )
    await other.cleanup()

    const probe = s3TestClient()
    try {
      const error = await probe.send(new HeadBucketCommand({ Bucket: bucket })).then(
        () => undefined,
        (e: unknown) => e as { $metadata?: { httpStatusCode?: number } },
      )
      expect(error?.$metadata?.httpStatusCode).toBe(404)
    } finally {
      probe.destroy()
    }
  })

  it('s3ConfigEnv points loadConfig at the bucket', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'localex-s3env-'))
    try {
      ensureGeneratedSecrets({ DATA_DIR: dataDir, ...s3ConfigEnv(t.bucket) })
      const config = loadConfig({ DATA_DIR: dataDir, ...s3ConfigEnv(t.bucket) })
      const env = s3TestEnv()
      expect(config.storage.driver).toBe('s3')
      expect(config.storage.s3).toMatchObject({
        bucket: t.bucket,
        endpoint: env.endpoint,
        region: env.region,
        forcePathStyle: true,
        credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      })
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  })
})
