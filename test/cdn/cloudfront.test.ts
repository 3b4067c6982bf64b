import { readFile } from 'node:fs/promises'
import {
  CloudFrontClient,
  CreateInvalidationCommand,
  type CreateInvalidationCommandInput,
} from '@aws-sdk/client-cloudfront'
import { mockClient } from 'aws-sdk-client-mock'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { createStorage, type Storage } from '../../src/app.js'
import { CloudFrontInvalidator, createCdn } from '../../src/cdn/index.js'
import { silentLogger } from '../../src/jobs/index.js'
import { outboxRows } from '../../src/db/index.js'
import type { Actor } from '../../src/files/types.js'
import { createTestDatabase, testConfig, type TestDatabase } from '../support/db.js'
import { fixture } from '../support/fixtures.js'
import { settledWithoutTime } from '../support/wait.js'

/**
 * CloudFront has no local server: these tests stop at the request boundary. The CloudFront
 * client is replaced by aws-sdk-client-mock, which records each CreateInvalidation the provider
 * sends and answers (or fails) as the real API would; nothing here proves CloudFront accepts it.
 */

const DISTRIBUTION = 'E2EXAMPLE0001'
const cf = mockClient(CloudFrontClient)
const client = new CloudFrontClient({ region: 'us-east-1' })

function throttled(name: 'TooManyInvalidationsInProgress' | 'Throttling', status = 400): Error {
  return Object.assign(new Error(`${name} (mocked)`), { name, $metadata: { httpStatusCode: status }, $fault: 'client' })
}

function sent(): CreateInvalidationCommandInput[] {
  return cf.commandCalls(CreateInvalidationCommand).map((c) => c.args[0].input)
}

function invalidator(
  extra: Partial<ConstructorParameters<typeof CloudFrontInvalidator>[0]> = {},
): CloudFrontInvalidator {
  return new CloudFrontInvalidator({
    distributionId: DISTRIBUTION,
    client,
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
    ...extra,
  })
}

afterEach(() => {
  cf.reset()
})

describe('CloudFront invalidation (mocked CloudFront API)', () => {
  it('sends at most 3,000 paths per CreateInvalidation, each batch with its own caller reference', async () => {
    cf.on(CreateInvalidationCommand).resolves({
      Invalidation: { Id: 'I1', Status: 'InProgress', CreateTime: new Date(), InvalidationBatch: undefined },
    })
    const paths = Array.from({ length: 7001 }, (_, i) => `/items/i${i}/photos/p/original.jpg`)
    await invalidator().invalidate(paths, { reference: 'job-1' })
    const calls = sent()
    expect(calls.map((c) => c.InvalidationBatch?.Paths?.Quantity)).toEqual([3000, 3000, 1001])
    expect(calls.every((c) => c.DistributionId === DISTRIBUTION)).toBe(true)
    expect(calls.every((c) => c.InvalidationBatch?.Paths?.Items?.length === c.InvalidationBatch?.Paths?.Quantity)).toBe(
      true,
    )
    expect(calls.map((c) => c.InvalidationBatch?.CallerReference)).toEqual(['job-1-0', 'job-1-1', 'job-1-2'])
    // Every path sent exactly once.
    const all = calls.flatMap((c) => c.InvalidationBatch?.Paths?.Items ?? [])
    expect(new Set(all).size).toBe(7001)
  })

  it('deduplicates, and drops paths a wildcard of the same call covers (one path per photo folder)', async () => {
    cf.on(CreateInvalidationCommand).resolves({})
    await invalidator().invalidate([
      '/items/a/photos/p1/*',
      '/items/a/photos/p1/original.jpg',
      '/items/a/photos/p1/large.webp',
      '/items/a/photos/p1/*',
      '/profiles/u/photo/x/original.jpg',
      'profiles/u/photo/x/original.jpg',
      '/items/a/photos/p1/sub/*',
    ])
    expect(sent()).toHaveLength(1)
    expect(sent()[0]?.InvalidationBatch?.Paths?.Items).toEqual([
      '/items/a/photos/p1/*',
      '/profiles/u/photo/x/original.jpg',
    ])
  })

  it(
    'gives every call a unique caller reference unless the caller passes one (a redelivered job reuses its ' + 'own)',
    async () => {
      cf.on(CreateInvalidationCommand).resolves({})
      const inv = invalidator()
      await inv.invalidate(['/a'])
      await inv.invalidate(['/a'])
      await inv.invalidate(['/a'], { reference: 'outbox-row-7' })
      await inv.invalidate(['/a'], { reference: 'outbox-row-7' })
      const refs = sent().map((c) => c.InvalidationBatch?.CallerReference)
      expect(refs[0]).not.toBe(refs[1])
      expect(refs[0]).toMatch(/^[0-9a-f-]{36}-0$/)
      expect(refs.slice(2)).toEqual(['outbox-row-7-0', 'outbox-row-7-0'])
    },
  )

  it("encodes odd keys the way public URLs do, under the CDN URL's path", async () => {
    cf.on(CreateInvalidationCommand).resolves({})
    const keys = [
      'items/a b/photos/ü/original.jpg',
      'items/x/photos/100%/a?b#c.jpg',
      'items/x/photos/y/star*name.jpg',
      'items/x/photos/y/plus+&=.jpg',
    ]
    await invalidator({ pathPrefix: '/media' }).invalidate([...keys.map((k) => `/${k}`), '/items/odd folder/*'])
    expect(sent()[0]?.InvalidationBatch?.Paths?.Items).toEqual([
      '/media/items/a%20b/photos/%C3%BC/original.jpg',
      '/media/items/odd%20folder/*',
      '/media/items/x/photos/100%25/a%3Fb%23c.jpg',
      '/media/items/x/photos/y/plus%2B%26%3D.jpg',
      // A literal * inside a key is not a wildcard.
      '/media/items/x/photos/y/star%2Aname.jpg',
    ])
    // The same encoding as the public URL of the object (apart from the literal *).
    const cdn = createCdn(testConfig({ CDN_URL: 'https://cdn.example.com/media' }))
    expect(new URL(cdn.publicUrl(keys[0] as string)).pathname).toBe('/media/items/a%20b/photos/%C3%BC/original.jpg')
    expect(new URL(cdn.publicUrl(keys[1] as string)).pathname).toBe('/media/items/x/photos/100%25/a%3Fb%23c.jpg')
  })

  it(
    'retries throttling and TooManyInvalidationsInProgress with backoff, then succeeds with the same caller ' +
      'reference',
    async () => {
      cf.on(CreateInvalidationCommand)
        .rejectsOnce(throttled('TooManyInvalidationsInProgress'))
        .rejectsOnce(throttled('Throttling'))
        .rejectsOnce(
          Object.assign(new Error('Service Unavailable (mocked)'), {
            name: 'ServiceUnavailable',
            $metadata: { httpStatusCode: 503 },
          }),
        )
        .resolves({
          Invalidation: { Id: 'I2', Status: 'InProgress', CreateTime: new Date(), InvalidationBatch: undefined },
        })
      await invalidator().invalidate(['/items/a/photos/p/*'], { reference: 'r' })
      expect(sent().map((c) => c.InvalidationBatch?.CallerReference)).toEqual(['r-0', 'r-0', 'r-0', 'r-0'])
    },
  )

  it(
    'gives up after its attempts with a retryable CDN_ERROR (the outbox retries later); refusals are not ' + 'retried',
    async () => {
      cf.on(CreateInvalidationCommand).rejects(throttled('TooManyInvalidationsInProgress'))
      await expect(
        invalidator({ retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 } }).invalidate(['/a']),
      ).rejects.toMatchObject({ code: 'CDN_ERROR', retryable: true })
      expect(sent()).toHaveLength(3)

      cf.reset()
      cf.on(CreateInvalidationCommand).rejects(
        Object.assign(new Error('Access denied (mocked)'), {
          name: 'AccessDenied',
          $metadata: { httpStatusCode: 403 },
        }),
      )
      await expect(invalidator().invalidate(['/a'])).rejects.toMatchObject({
        code: 'CDN_ERROR',
        details: { error: 'AccessDenied' },
      })
      expect(sent()).toHaveLength(1)
    },
  )

  it('stops waiting for a retry when the job is aborted', async () => {
    cf.on(CreateInvalidationCommand).rejects(throttled('Throttling'))
    // The clock stands still: the ~10 s backoff after the first attempt can only end by the abort.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const controller = new AbortController()
      const retry = { maxAttempts: 10, baseDelayMs: 10_000, maxDelayMs: 10_000, random: () => 0.99 }
      const run = invalidator({ retry }).invalidate(['/a'], { signal: controller.signal })
      expect((await settledWithoutTime(run)).settled).toBe(false)
      expect(sent()).toHaveLength(1)
      controller.abort()
      const after = await settledWithoutTime(run)
      expect(after.settled).toBe(true)
      expect(after.error).toMatchObject({ code: 'ABORTED' })
      expect(sent()).toHaveLength(1)
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('FileManager with CloudFront (mocked CloudFront API)', () => {
  const alice: Actor = { id: 'alice', role: 'user' }
  let testDb: TestDatabase
  let storage: Storage

  beforeAll(async () => {
    testDb = await createTestDatabase('sqlite')
    const config = testConfig(
      {
        SQLITE_PATH: testDb.config.db.sqlitePath,
        CDN_PROVIDER: 'cloudfront',
        CDN_URL: 'https://d111111abcdef8.cloudfront.net',
        CLOUDFRONT_DISTRIBUTION_ID: DISTRIBUTION,
        JOB_BACKOFF_MS: '50',
      },
      testDb.dir,
    )
    storage = await createStorage(config, {
      workers: true,
      migrate: false,
      logger: silentLogger,
      relayOptions: { intervalMs: 50, retryDelayMs: 100 },
      cdn: { cloudFrontClient: client, retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 } },
    })
  })
  afterAll(async () => {
    await storage?.close()
    await testDb?.destroy()
  })

  async function drain(): Promise<void> {
    const deadline = Date.now() + 20_000
    for (;;) {
      const counts = await outboxRows.counts(storage.db)
      if (counts.pending === 0 && counts.dispatched === 0) return
      if (Date.now() > deadline) throw new Error(`outbox not drained: ${JSON.stringify(counts)}`)
      storage.relay?.notify()
      await new Promise((r) => setTimeout(r, 25))
    }
  }

  it(
    'public URLs point at the distribution; deleting a photo invalidates its folder once, with the outbox row as ' +
      'caller reference',
    async () => {
      cf.on(CreateInvalidationCommand).resolves({})
      const photo = await readFile(fixture('images/png-rgba-alpha.png'))
      const view = await storage.files.uploadItemPhoto(alice, 'item-cf', { body: photo, wait: true })
      expect(view.url).toBe(`https://d111111abcdef8.cloudfront.net/items/item-cf/photos/${view.id}/original.png`)
      expect(view.variants.every((v) => v.url?.startsWith('https://d111111abcdef8.cloudfront.net/'))).toBe(true)
      await storage.files.deleteFile(alice, view.id)
      await drain()
      const calls = sent()
      expect(calls).toHaveLength(1)
      expect(calls[0]?.InvalidationBatch?.Paths?.Items).toEqual([`/items/item-cf/photos/${view.id}/*`])
      const [row] = await outboxRows.list(storage.db, { kind: 'purge_cdn', fileId: view.id })
      expect(row?.status).toBe('done')
      expect(calls[0]?.InvalidationBatch?.CallerReference).toBe(`${row?.id}-0`)
    },
  )

  it('a failing invalidation never fails the delete: the outbox retries it until CloudFront accepts', async () => {
    cf.on(CreateInvalidationCommand)
      .rejectsOnce(throttled('TooManyInvalidationsInProgress'))
      .rejectsOnce(throttled('TooManyInvalidationsInProgress'))
      .rejectsOnce(throttled('TooManyInvalidationsInProgress'))
      .resolves({})
    const photo = await readFile(fixture('images/png-rgba-alpha.png'))
    const view = await storage.files.uploadItemPhoto(alice, 'item-cf2', { body: photo, wait: true })
    await storage.files.deleteFile(alice, view.id)
    await drain()
    // Two attempts per job run (provider retry), so the first job run failed and the outbox ran it again.
    const refs = sent().map((c) => c.InvalidationBatch?.CallerReference)
    expect(refs).toHaveLength(4)
    expect(new Set(refs).size).toBe(1)
  })
})
