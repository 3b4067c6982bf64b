import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStorage, type Storage } from '../../src/app.js'
import { outboxRows } from '../../src/db/index.js'
import type { Actor } from '../../src/files/types.js'
import { createMetrics } from '../../src/http/metrics.js'
import { silentLogger } from '../../src/jobs/index.js'
import { createTestDatabase, testConfig, type TestDatabase } from '../support/db.js'
import { fixture } from '../support/fixtures.js'

/**
 * Warming when the edge misbehaves, with fetch replaced by a recording stub (the real edge is in
 * varnish.test.ts): the file is ready regardless, and the outbox retries the job.
 */
describe('warm_cdn job against a failing edge (fetch stub)', () => {
  const alice: Actor = { id: 'alice', role: 'user' }
  const requested: string[] = []
  let failuresLeft = 0
  let testDb: TestDatabase
  let storage: Storage
  const metrics = createMetrics()

  const stubFetch = (async (input: string | URL | Request) => {
    const url = String(input)
    requested.push(url)
    if (failuresLeft > 0) {
      failuresLeft--
      return new Response('edge down', { status: 503 })
    }
    return new Response('bytes', { status: 200, headers: { 'x-cache': 'Miss from cloudfront' } })
  }) as typeof fetch

  beforeAll(async () => {
    testDb = await createTestDatabase('sqlite')
    const config = testConfig(
      {
        SQLITE_PATH: testDb.config.db.sqlitePath,
        CDN_URL: 'https://cdn.example.test',
        CDN_WARM: 'true',
        CDN_WARM_CONCURRENCY: '3',
        JOB_BACKOFF_MS: '50',
      },
      testDb.dir,
    )
    storage = await createStorage(config, {
      workers: true,
      migrate: false,
      logger: silentLogger,
      metrics,
      relayOptions: { intervalMs: 50, retryDelayMs: 100 },
      cdn: { fetch: stubFetch },
    })
  })
  afterAll(async () => {
    await storage?.close()
    await testDb?.destroy()
  })

  it('retries warming from the outbox until the edge answers; the file is ready meanwhile', async () => {
    failuresLeft = 2
    const png = await readFile(fixture('images/png-rgba-alpha.png'))
    const view = await storage.files.uploadItemPhoto(alice, 'item-warm', { body: png, wait: true })
    expect(view.status).toBe('ready')
    const deadline = Date.now() + 20_000
    let row
    for (;;) {
      ;[row] = await outboxRows.list(storage.db, { kind: 'warm_cdn', fileId: view.id })
      if (row?.status === 'done' || Date.now() > deadline) break
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(row?.status).toBe('done')
    expect(row?.attempts).toBeGreaterThanOrEqual(2)
    // Every object's CDN URL was requested; the last run got through for all of them.
    const urls = view.variants.map((v) => v.url as string)
    expect(new Set(requested)).toEqual(new Set(urls))
    // First run: 2 failed, the others warmed; second run: all of them again.
    expect(storage.cdn.stats.snapshot('warm')).toMatchObject({
      misses: urls.length - 2 + urls.length,
      errors: 2,
      hits: 0,
    })
    const text = await metrics.render()
    expect(text).toContain('localex_jobs_failed_total{job="warm_cdn"} 1')
    expect(text).toContain('localex_cdn_edge_requests_total{source="warm",result="error"} 2')
  })
})
