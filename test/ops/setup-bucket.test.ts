import {
  GetBucketCorsCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketVersioningCommand,
  HeadBucketCommand,
  DeleteBucketCommand,
} from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../src/cli/main.js'
import { createObjectStore } from '../../src/storage/index.js'
import { setupBucket } from '../../src/ops/setup-bucket.js'
import { createTestDatabase, testConfig, type TestDatabase } from '../support/db.js'
import { createTestBucket, s3ConfigEnv, s3TestClient, type TestBucket } from '../support/s3.js'
import { capture } from './helpers.js'

describe('setup-bucket on radosgw', () => {
  let bucket: TestBucket
  let testDb: TestDatabase
  beforeAll(async () => {
    bucket = await createTestBucket('setup')
    testDb = await createTestDatabase('sqlite')
  })
  afterAll(async () => {
    await bucket?.cleanup()
    await testDb?.destroy()
  })

  const open = (env: Record<string, string> = {}) => {
    const config = testConfig(
      { ...s3ConfigEnv(bucket.bucket), SQLITE_PATH: testDb.config.db.sqlitePath, ...env },
      testDb.dir,
    )
    return { config, store: createObjectStore(config), db: testDb.db }
  }

  it('--dry-run prints the exact configuration and changes nothing', async () => {
    const ctx = open()
    try {
      const summary = await setupBucket(ctx, { dryRun: true })
      expect(summary.steps.map((s) => [s.feature, s.status])).toEqual([
        ['bucket', 'skipped'],
        ['public_access_block', 'planned'],
        ['encryption', 'planned'],
        ['versioning', 'planned'],
        ['cors', 'planned'],
        ['lifecycle', 'planned'],
      ])
      const lifecycle = summary.steps.find((s) => s.feature === 'lifecycle')?.request as {
        LifecycleConfiguration: { Rules: Array<{ ID: string }> }
      }
      expect(lifecycle.LifecycleConfiguration.Rules.map((r) => r.ID)).toEqual([
        'expire-temp',
        'abort-incomplete-multipart',
        'expire-noncurrent',
        'tier-items',
        'tier-profiles',
        'tier-verification',
      ])
      expect(lifecycle.LifecycleConfiguration.Rules[3]).toMatchObject({
        Filter: { Prefix: 'items/' },
        Transitions: [
          { Days: 30, StorageClass: 'INTELLIGENT_TIERING' },
          { Days: 365, StorageClass: 'GLACIER_IR' },
        ],
      })
      // Nothing reached the bucket.
      const versioning = await bucket.client.send(new GetBucketVersioningCommand({ Bucket: bucket.bucket }))
      expect(versioning.Status).toBeUndefined()
      await expect(bucket.client.send(new GetBucketCorsCommand({ Bucket: bucket.bucket }))).rejects.toMatchObject({
        name: 'NoSuchCORSConfiguration',
      })
      await expect(
        bucket.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket.bucket })),
      ).rejects.toMatchObject({ name: 'NoSuchLifecycleConfiguration' })
    } finally {
      await ctx.store.close()
    }
  })

  it('applies versioning, CORS and the lifecycle rules radosgw accepts, and reports the refused ones', async () => {
    const ctx = open({ BUCKET_CORS_ORIGINS: 'https://app.example,https://admin.example' })
    try {
      const summary = await setupBucket(ctx)
      const byFeature = Object.fromEntries(summary.steps.map((s) => [s.feature, s]))
      expect(byFeature.versioning?.status).toBe('applied')
      expect(byFeature.cors?.status).toBe('applied')
      expect(byFeature.lifecycle?.status).toBe('applied')
      expect(byFeature.public_access_block?.status).toBe('applied')
      // radosgw 16 has no SSE-S3: it answers PutBucketEncryption with 400 InvalidArgument.
      expect(byFeature.encryption).toMatchObject({ status: 'refused', code: 'InvalidArgument' })
      expect(summary.refused).toEqual(['encryption'])
      // Whatever radosgw refuses is named, with its code, and did not stop the rest.
      for (const s of summary.steps.filter((s) => s.status === 'refused')) {
        expect(s.code).toBeTruthy()
        expect(summary.refused).toContain(s.feature)
      }

      const versioning = await bucket.client.send(new GetBucketVersioningCommand({ Bucket: bucket.bucket }))
      expect(versioning.Status).toBe('Enabled')
      const cors = await bucket.client.send(new GetBucketCorsCommand({ Bucket: bucket.bucket }))
      expect([...(cors.CORSRules?.[0]?.AllowedOrigins ?? [])].sort()).toEqual([
        'https://admin.example',
        'https://app.example',
      ])
      expect(cors.CORSRules?.[0]?.AllowedMethods).toEqual(expect.arrayContaining(['POST', 'PUT', 'GET', 'HEAD']))
      const lifecycle = await bucket.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket.bucket }))
      const rules = Object.fromEntries((lifecycle.Rules ?? []).map((r) => [r.ID, r]))
      expect(rules['expire-temp']).toMatchObject({ Status: 'Enabled', Expiration: { Days: 1 } })
      expect(rules['expire-temp']?.Filter?.Prefix ?? rules['expire-temp']?.Prefix).toBe('temp/')
      expect(rules['abort-incomplete-multipart']).toMatchObject({
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
      })
      expect(rules['expire-noncurrent']).toMatchObject({ NoncurrentVersionExpiration: { NoncurrentDays: 30 } })
      // The bucket holds exactly the rules reported as accepted; the refused ones are reported.
      expect(Object.keys(rules).sort()).toEqual([...(summary.lifecycle?.accepted ?? [])].sort())
      const refusedRules = summary.lifecycle?.refused.map((r) => r.id) ?? []
      expect([...Object.keys(rules), ...refusedRules].sort()).toEqual([
        'abort-incomplete-multipart',
        'expire-noncurrent',
        'expire-temp',
        'tier-items',
        'tier-profiles',
        'tier-verification',
      ])

      // Idempotent: a second run ends in the same state.
      const again = await setupBucket(ctx)
      expect(again.steps.map((s) => s.status)).toEqual(
        summary.steps.map((s) => (s.feature === 'bucket' ? 'skipped' : s.status)),
      )
    } finally {
      await ctx.store.close()
    }
  })

  it('creates a missing bucket; the CLI prints JSON and says what the store refused', async () => {
    const name = `${bucket.bucket.slice(0, 40)}-new`
    const env = {
      ...s3ConfigEnv(name),
      SQLITE_PATH: testDb.config.db.sqlitePath,
      DATA_DIR: testDb.dir,
      LOG_LEVEL: 'silent',
    }
    const client = s3TestClient()
    try {
      const out = capture()
      const code = await runCli(['setup-bucket', '--json'], { env, stdout: out.stream, stderr: capture().stream })
      expect(code).toBe(0)
      const summary = JSON.parse(out.text()) as { steps: Array<{ feature: string; status: string }>; refused: string[] }
      expect(summary.steps[0]).toMatchObject({ feature: 'bucket', status: 'applied' })
      await client.send(new HeadBucketCommand({ Bucket: name }))
      const text = capture()
      expect(await runCli(['setup-bucket'], { env, stdout: text.stream, stderr: capture().stream })).toBe(0)
      expect(text.text()).toMatch(/applied\s+versioning/)
      expect(summary.refused).toEqual(['encryption'])
      expect(text.text()).toMatch(/refused\s+encryption \(InvalidArgument\)/)
      expect(text.text()).toContain('The store refused: encryption.')
    } finally {
      await emptyAndDelete(name)
      client.destroy()
    }
  })
})

async function emptyAndDelete(name: string): Promise<void> {
  const client = s3TestClient()
  try {
    await client.send(new DeleteBucketCommand({ Bucket: name }))
  } catch (error) {
    if ((error as { name?: string }).name !== 'NoSuchBucket') throw error
  } finally {
    client.destroy()
  }
}
