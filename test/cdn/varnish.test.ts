import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { PutBucketPolicyCommand } from '@aws-sdk/client-s3'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStorage, type Storage } from '../../src/app.js'
import { runCli } from '../../src/cli/main.js'
import { probeHitRatio } from '../../src/cdn/index.js'
import { outboxRows } from '../../src/db/index.js'
import type { Actor, FileView } from '../../src/files/types.js'
import { probeCdnHitRatio } from '../../src/files/cdn-probe.js'
import { buildHttpApp } from '../../src/http/app.js'
import { createMetrics, type Metrics } from '../../src/http/metrics.js'
import { validatePdf } from '../../src/images/index.js'
import { silentLogger } from '../../src/jobs/index.js'
import { createTestDatabase, testConfig, type TestDatabase } from '../support/db.js'
import { fixture } from '../support/fixtures.js'
import { capture } from '../ops/helpers.js'
import { createTestBucket, s3ConfigEnv, s3TestEnv, type TestBucket } from '../support/s3.js'
import { REDIS_URL } from '../support/storage.js'
import { freePort, hasVarnish, rawRequest, startVarnish, type VarnishEdge } from '../support/varnish.js'

/**
 * A real edge: Varnish (Debian's varnishd) on loopback with the project's VCL, in front of the
 * service's own delivery route (`buildHttpApp` over `createStorage` on the embedded backend:
 * disk store, SQLite, in-process queue), with CDN_PROVIDER=http-purge pointing at it. Each
 * describe starts its own Varnish and stops it afterwards.
 */

const alice: Actor = { id: 'alice', role: 'user' }

interface EdgeService {
  storage: Storage
  app: FastifyInstance
  edge: VarnishEdge
  metrics: Metrics
  appUrl: string
  /** The environment the service was configured from (what the CLI gets). */
  env: Record<string, string>
  drain(): Promise<void>
  close(): Promise<void>
}

async function openEdgeService(env: Record<string, string> = {}): Promise<EdgeService> {
  if (!hasVarnish()) throw new Error('varnishd is not installed: apt-get install varnish (see .ci/run)')
  const appPort = await freePort()
  const edgePort = await freePort()
  const cleanups: Array<() => Promise<unknown>> = []
  try {
    const testDb: TestDatabase = await createTestDatabase('sqlite')
    cleanups.push(() => testDb.destroy())
    const appUrl = `http://127.0.0.1:${appPort}`
    const fullEnv = {
      SQLITE_PATH: testDb.config.db.sqlitePath,
      PUBLIC_BASE_URL: appUrl,
      CDN_PROVIDER: 'http-purge',
      CDN_URL: `http://127.0.0.1:${edgePort}/files`,
      CDN_PURGE_URLS: `http://127.0.0.1:${edgePort}`,
      JOB_BACKOFF_MS: '50',
      ...env,
    }
    const config = testConfig(fullEnv, testDb.dir)
    const metrics = createMetrics()
    const storage = await createStorage(config, {
      workers: true,
      migrate: false,
      logger: silentLogger,
      metrics,
      relayOptions: { intervalMs: 50, retryDelayMs: 100 },
      cdn: { retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 } },
    })
    cleanups.push(() => storage.close())
    const app = buildHttpApp({
      config,
      files: storage.files,
      store: storage.store,
      health: storage.health,
      metrics,
      logger: false,
      web: false,
    })
    await app.listen({ port: appPort, host: '127.0.0.1' })
    cleanups.push(() => app.close())
    const edge = await startVarnish(edgePort, `127.0.0.1:${appPort}`)
    cleanups.push(() => edge.stop())
    return {
      storage,
      app,
      edge,
      metrics,
      appUrl,
      env: { ...fullEnv, DATA_DIR: testDb.dir, LOG_LEVEL: 'silent' },
      async drain() {
        const deadline = Date.now() + 20_000
        for (;;) {
          const counts = await outboxRows.counts(storage.db)
          if (counts.pending === 0 && counts.dispatched === 0) return
          if (Date.now() > deadline) throw new Error(`outbox not drained: ${JSON.stringify(counts)}`)
          storage.relay?.notify()
          await new Promise((r) => setTimeout(r, 25))
        }
      },
      async close() {
        for (const c of cleanups.reverse()) await c()
      },
    }
  } catch (error) {
    for (const c of cleanups.reverse()) await c().catch(() => undefined)
    throw error
  }
}

const urlsOf = (view: FileView): string[] => view.variants.map((v) => v.url as string)
const xCache = (r: { headers: Record<string, unknown> }) => r.headers['x-cache']

describe('Varnish edge in front of the delivery route', () => {
  let s: EdgeService
  let png: Buffer
  let jpeg: Buffer

  beforeAll(async () => {
    s = await openEdgeService()
    png = await readFile(fixture('images/png-rgba-alpha.png'))
    jpeg = await readFile(fixture('images/jpeg-exif-orientation-6-landscape.jpg'))
  })
  afterAll(async () => {
    await s?.close()
  })

  it('first GET misses, second hits, with the stored bytes and their Cache-Control', async () => {
    const view = await s.storage.files.uploadItemPhoto(alice, 'item-edge', { body: png, wait: true })
    expect(view.url).toBe(`${s.edge.url}/files/items/item-edge/photos/${view.id}/original.png`)
    for (const url of urlsOf(view)) {
      const first = await rawRequest(url)
      expect(first.status).toBe(200)
      expect(xCache(first)).toBe('MISS')
      expect(first.headers['cache-control']).toBe('public, max-age=2592000, immutable')
      const second = await rawRequest(url)
      expect(xCache(second)).toBe('HIT')
      expect(Number(second.headers.age)).toBeGreaterThanOrEqual(0)
      const key = decodeURIComponent(new URL(url).pathname.slice('/files/'.length))
      expect(second.body.equals(await s.storage.store.getBuffer(key))).toBe(true)
    }
  })

  it(
    'after a delete and its purge the edge answers 404, not the stale photo (without a purge it would serve ' + 'it)',
    async () => {
      const kept = await s.storage.files.uploadItemPhoto(alice, 'item-del', { body: png, wait: true })
      const gone = await s.storage.files.uploadItemPhoto(alice, 'item-del', { body: jpeg, wait: true })
      for (const url of [...urlsOf(kept), ...urlsOf(gone)]) {
        await rawRequest(url)
        expect(xCache(await rawRequest(url))).toBe('HIT')
      }
      // Control: objects removed behind the edge's back stay served from cache.
      await s.storage.store.deleteMany(
        kept.variants.map((v) => decodeURIComponent(new URL(v.url as string).pathname.slice('/files/'.length))),
      )
      const stale = await rawRequest(kept.url as string)
      expect([stale.status, xCache(stale)]).toEqual([200, 'HIT'])

      await s.storage.files.deleteFile(alice, gone.id)
      await s.drain()
      const [purge] = await outboxRows.list(s.storage.db, { kind: 'purge_cdn', fileId: gone.id })
      expect(purge?.status).toBe('done')
      const text = await s.metrics.render()
      expect(text).toMatch(/localex_cdn_invalidations_total\{provider="http-purge",outcome="ok"\} [1-9]/)
      expect(text).toMatch(/localex_cdn_invalidated_paths_total\{provider="http-purge"\} [1-9]/)
      // It went through on its first call.
      expect(text).not.toMatch(/outcome="error"/)
      for (const url of urlsOf(gone)) {
        const after = await rawRequest(url)
        expect(after.status).toBe(404)
        expect(xCache(after)).not.toBe('HIT')
      }
    },
  )

  it("purges a replaced profile photo's old URLs; the new photo is cached from its first read", async () => {
    const first = await s.storage.files.uploadProfilePhoto(alice, { body: png, wait: true })
    for (const url of urlsOf(first)) {
      await rawRequest(url)
      expect(xCache(await rawRequest(url))).toBe('HIT')
    }
    const second = await s.storage.files.uploadProfilePhoto(alice, { body: jpeg, wait: true })
    await s.drain()
    for (const url of urlsOf(first)) expect((await rawRequest(url)).status).toBe(404)
    const current = second.url as string
    expect(xCache(await rawRequest(current))).toBe('MISS')
    expect(xCache(await rawRequest(current))).toBe('HIT')
  })

  it('never caches private documents: a signed URL through the edge is passed to the service every time', async () => {
    const pdf = await readFile(fixture('docs/pdf-1-page-libreoffice.pdf'))
    const doc = await s.storage.files.uploadVerificationDocument(alice, 'passport', {
      body: pdf,
      fileName: 'passport.pdf',
    })
    const signed = new URL((await s.storage.files.getUrl(alice, doc.id)).url)
    expect(signed.origin).toBe(s.appUrl)
    const throughEdge = `${s.edge.url}${signed.pathname}${signed.search}`
    // The document as validatePdf writes it out again from its checked objects.
    const stored = (await validatePdf(pdf)).data
    for (let i = 0; i < 3; i++) {
      const r = await rawRequest(throughEdge)
      expect(r.status).toBe(200)
      expect(r.headers['cache-control']).toMatch(/^private/)
      expect(['MISS', 'PASS']).toContain(xCache(r))
      expect(r.body.equals(stored)).toBe(true)
    }
    // Without the signature the service refuses, and the edge does not remember the document.
    const unsigned = await rawRequest(`${s.edge.url}${signed.pathname}`)
    expect(unsigned.status).toBe(403)
  })

  it("refuses PURGE from an address outside the VCL's purgers (127.0.0.2), accepts it from 127.0.0.1", async () => {
    const view = await s.storage.files.uploadItemPhoto(alice, 'item-acl', { body: png, wait: true })
    const url = view.url as string
    await rawRequest(url)
    const refused = await rawRequest(url, { method: 'PURGE', localAddress: '127.0.0.2' })
    expect(refused.status).toBe(403)
    expect(xCache(await rawRequest(url))).toBe('HIT')
    const accepted = await rawRequest(url, { method: 'PURGE', localAddress: '127.0.0.1' })
    expect(accepted.status).toBe(200)
    expect(xCache(await rawRequest(url))).toBe('MISS')
  })

  it('probeHitRatio reads hits and misses off X-Cache; /metrics shows them', async () => {
    const view = await s.storage.files.uploadItemPhoto(alice, 'item-probe', { body: png, wait: true })
    const urls = urlsOf(view)
    const half = urls.slice(0, Math.ceil(urls.length / 2))
    for (const url of half) await rawRequest(url)
    const report = await probeHitRatio(urls, { concurrency: 3, stats: s.storage.cdn.stats })
    expect(report).toMatchObject({
      requests: urls.length,
      hits: half.length,
      misses: urls.length - half.length,
      errors: 0,
    })
    expect(report.hitRatio).toBeCloseTo(half.length / urls.length)
    const again = await probeHitRatio(urls, { stats: s.storage.cdn.stats })
    expect(again.hitRatio).toBe(1)

    const text = (await s.app.inject({ method: 'GET', url: '/metrics' })).body
    expect(text).toContain(`localex_cdn_edge_requests_total{source="probe",result="hit"} ${half.length + urls.length}`)
    expect(text).toContain(`localex_cdn_edge_requests_total{source="probe",result="miss"} ${urls.length - half.length}`)
    expect(text).toMatch(/localex_cdn_hit_ratio\{source="probe"\} 0\.\d+/)
  })

  it('probeCdnHitRatio (stats --cdn) probes every object of the most recent public files', async () => {
    const png2 = await readFile(fixture('images/png-rgba-alpha.png'))
    const fresh = await s.storage.files.uploadItemPhoto(alice, 'item-stats', { body: png2, wait: true })
    const first = await probeCdnHitRatio(s.storage, { files: 1, cdn: s.storage.cdn })
    expect(first).toMatchObject({
      cdnUrl: `${s.edge.url}/files`,
      files: 1,
      urls: fresh.variants.length,
      hits: 0,
      misses: fresh.variants.length,
      hitRatio: 0,
    })
    const all = await probeCdnHitRatio(s.storage, { files: 100 })
    expect(all.files).toBeGreaterThan(1)
    expect(all.requests + all.errors).toBe(all.urls)
    const again = await probeCdnHitRatio(s.storage, { files: 100 })
    expect(again.hitRatio).toBe(1)
  })

  it('stats --cdn reports the probe (JSON and text)', async () => {
    const png2 = await readFile(fixture('images/png-rgba-alpha.png'))
    await s.storage.files.uploadItemPhoto(alice, 'item-cli', { body: png2, wait: true })
    const out = capture()
    expect(
      await runCli(['stats', '--cdn', '--json'], { env: s.env, stdout: out.stream, stderr: capture().stream }),
    ).toBe(0)
    const json = JSON.parse(out.text()) as {
      cdnHitRatio: number
      cdn: { urls: number; hits: number; misses: number; cdnUrl: string }
    }
    expect(json.cdn.cdnUrl).toBe(`${s.edge.url}/files`)
    expect(json.cdn.misses).toBeGreaterThan(0)
    expect(json.cdnHitRatio).toBeCloseTo(json.cdn.hits / (json.cdn.hits + json.cdn.misses))
    const text = capture()
    expect(await runCli(['stats', '--cdn'], { env: s.env, stdout: text.stream, stderr: capture().stream })).toBe(0)
    expect(text.text()).toMatch(/CDN hit ratio 100\.0%/)
    expect(text.text()).toMatch(
      new RegExp(`CDN probe of ${s.edge.url}/files: \\d+ URLs of \\d+ files, \\d+ hits, 0 misses`),
    )
  })
})

describe('cache warming through Varnish (CDN_WARM=true)', () => {
  let s: EdgeService

  beforeAll(async () => {
    s = await openEdgeService({ CDN_WARM: 'true', CDN_WARM_CONCURRENCY: '2' })
  })
  afterAll(async () => {
    await s?.close()
  })

  it('requests every URL of a ready photo through the edge, so its first reader gets a hit', async () => {
    const png = await readFile(fixture('images/png-rgba-alpha.png'))
    const view = await s.storage.files.uploadItemPhoto(alice, 'item-warm', { body: png, wait: true })
    await s.drain()
    const [warm] = await outboxRows.list(s.storage.db, { kind: 'warm_cdn', fileId: view.id })
    expect(warm?.status).toBe('done')
    for (const url of urlsOf(view)) expect(xCache(await rawRequest(url))).toBe('HIT')
    expect(s.storage.cdn.stats.snapshot('warm')).toMatchObject({ misses: view.variants.length, hits: 0, errors: 0 })
    const text = await s.metrics.render()
    expect(text).toContain(`localex_cdn_edge_requests_total{source="warm",result="miss"} ${view.variants.length}`)
  })

  it('does not warm private documents', async () => {
    const pdf = await readFile(fixture('docs/pdf-1-page-libreoffice.pdf'))
    const doc = await s.storage.files.uploadVerificationDocument(alice, 'passport', { body: pdf, fileName: 'p.pdf' })
    await s.drain()
    expect(await outboxRows.list(s.storage.db, { kind: 'warm_cdn', fileId: doc.id })).toEqual([])
  })
})

describe('Varnish edge in front of radosgw (production backend: radosgw, PostgreSQL, BullMQ)', () => {
  let bucket: TestBucket
  let testDb: TestDatabase
  let storage: Storage
  let edge: VarnishEdge
  let png: Buffer

  beforeAll(async () => {
    if (!hasVarnish()) throw new Error('varnishd is not installed: apt-get install varnish (see .ci/run)')
    png = await readFile(fixture('images/png-rgba-alpha.png'))
    bucket = await createTestBucket('cdn-edge')
    // The stand-in for CloudFront's origin access: anonymous reads of the public prefixes only.
    await bucket.client.send(
      new PutBucketPolicyCommand({
        Bucket: bucket.bucket,
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: '*',
              Action: 's3:GetObject',
              Resource: [`arn:aws:s3:::${bucket.bucket}/items/*`, `arn:aws:s3:::${bucket.bucket}/profiles/*`],
            },
          ],
        }),
      }),
    )
    testDb = await createTestDatabase('postgres')
    const edgePort = await freePort()
    const origin = new URL(s3TestEnv().endpoint)
    const config = testConfig(
      {
        ...s3ConfigEnv(bucket.bucket),
        DATABASE_URL: testDb.url as string,
        REDIS_URL,
        QUEUE_PREFIX: `localex-test-${randomBytes(5).toString('hex')}`,
        CDN_PROVIDER: 'http-purge',
        CDN_URL: `http://127.0.0.1:${edgePort}/${bucket.bucket}`,
        CDN_PURGE_URLS: `http://127.0.0.1:${edgePort}`,
        JOB_BACKOFF_MS: '50',
      },
      testDb.dir,
    )
    storage = await createStorage(config, {
      workers: true,
      migrate: false,
      logger: silentLogger,
      queue: { lockDurationMs: 5_000, stalledIntervalMs: 1_000 },
      relayOptions: { intervalMs: 50, retryDelayMs: 100 },
      cdn: { retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 100 } },
    })
    edge = await startVarnish(edgePort, origin.host)
  })
  afterAll(async () => {
    await edge?.stop()
    await storage?.close()
    await testDb?.destroy()
    await bucket?.cleanup()
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

  it("first GET misses, second hits; after delete + purge the edge no longer serves it (bucket's 403)", async () => {
    const view = await storage.files.uploadItemPhoto(alice, 'item-rgw', { body: png, wait: true })
    expect(view.url).toBe(`${edge.url}/${bucket.bucket}/items/item-rgw/photos/${view.id}/original.png`)
    for (const url of urlsOf(view)) {
      const first = await rawRequest(url)
      expect([first.status, xCache(first)]).toEqual([200, 'MISS'])
      expect(first.headers['cache-control']).toBe('public, max-age=2592000, immutable')
      const second = await rawRequest(url)
      expect(xCache(second)).toBe('HIT')
      expect(second.body.equals(first.body)).toBe(true)
    }
    const cached = await Promise.all(urlsOf(view).map(async (url) => (await rawRequest(url)).body))
    await storage.files.deleteFile(alice, view.id)
    await drain()
    for (const [i, url] of urlsOf(view).entries()) {
      const after = await rawRequest(url)
      // S3 answers 403, not 404, for a missing key to whoever may not list the bucket.
      expect(after.status).toBe(403)
      expect(xCache(after)).not.toBe('HIT')
      expect(after.body.equals(cached[i] as Buffer)).toBe(false)
    }
  })

  it('serves no private document through the edge: the bucket refuses, and nothing is cached', async () => {
    const pdf = await readFile(fixture('docs/pdf-1-page-libreoffice.pdf'))
    const doc = await storage.files.uploadVerificationDocument(alice, 'passport', {
      body: pdf,
      fileName: 'passport.pdf',
    })
    // The presigned URL's path, without its signature, through the edge.
    const path = new URL((await storage.files.getUrl(alice, doc.id)).url).pathname
    expect(path.startsWith(`/${bucket.bucket}/verification/`)).toBe(true)
    for (let i = 0; i < 2; i++) {
      const r = await rawRequest(`${edge.url}${path}`)
      expect(r.status).toBe(403)
      expect(xCache(r)).not.toBe('HIT')
      expect(r.body.includes(pdf.subarray(0, 64))).toBe(false)
    }
  })
})
