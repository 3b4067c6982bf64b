import { afterEach, describe, expect, it } from 'vitest'
import { LocalexError } from '../../src/errors/index.js'
import { METRIC_NAMES } from '../../src/http/metrics.js'
import { makeTestApp, photoForm, type TestApp } from './support/app.js'

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

describe('health', () => {
  it('/healthz answers ok', async () => {
    t = await makeTestApp()
    const res = await t.app.inject({ method: 'GET', url: '/healthz' })
    expect([res.statusCode, res.json()]).toEqual([200, { status: 'ok' }])
  })

  it('/readyz is 200 when every probe answers', async () => {
    t = await makeTestApp()
    const res = await t.app.inject({ method: 'GET', url: '/readyz' })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({
      status: 'ok',
      checks: { db: { status: 'ok' }, store: { status: 'ok' }, queue: { status: 'ok' } },
    })
  })

  it('/readyz is 503 naming the failing probes and their codes (a hung probe times out)', async () => {
    t = await makeTestApp({
      health: {
        store: async () => {
          throw new LocalexError('STORE_UNAVAILABLE', 'connect ECONNREFUSED 10.1.2.3:9000')
        },
        queue: () => new Promise<void>(() => undefined),
      },
      deps: {},
    })
    // The hung probe does not hold the answer: it is cut by its own timeout, reported as TIMEOUT.
    const res = await t.app.inject({ method: 'GET', url: '/readyz' })
    expect(res.statusCode).toBe(503)
    expect(res.headers['retry-after']).toBe('5')
    expect(res.json()).toMatchObject({
      status: 'unavailable',
      checks: {
        db: { status: 'ok' },
        store: { status: 'fail', code: 'STORE_UNAVAILABLE' },
        queue: { status: 'fail', code: 'TIMEOUT' },
      },
    })
    expect(res.body).not.toContain('10.1.2.3')
  })
})

describe('metrics', () => {
  it('exposes the HTTP, upload, pipeline, queue, job and store metrics from its own registry', async () => {
    t = await makeTestApp()
    t.metrics.setQueueDepthSource(async () => ({ waiting: 3, active: 1 }))
    t.metrics.pipelineStageDuration.observe({ stage: 'decode' }, 0.02)
    t.metrics.jobsFailed.inc({ job: 'variants' })
    t.metrics.storeErrors.inc({ operation: 'put', code: 'STORE_UNAVAILABLE' })
    const form = photoForm()
    await t.app.inject({
      method: 'POST',
      url: '/v1/items/item-1/photos',
      headers: { ...(await t.bearer('alice')), ...form.headers },
      payload: form.payload,
    })
    await t.app.inject({ method: 'GET', url: '/v1/nothing-here' })
    const res = await t.app.inject({ method: 'GET', url: '/metrics' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    for (const name of METRIC_NAMES) expect(res.body).toContain(`localex_${name}`)
    expect(res.body).toMatch(
      /localex_http_requests_total\{method="POST",route="\/v1\/items\/:itemId\/photos",status_code="201"\} 1/,
    )
    expect(res.body).toMatch(/localex_http_requests_total\{method="GET",route="unmatched",status_code="404"\} 1/)
    expect(res.body).toMatch(/localex_upload_bytes_count\{purpose="item_photo"\} 1/)
    expect(res.body).toMatch(/localex_upload_duration_seconds_count\{purpose="item_photo",outcome="ok"\} 1/)
    expect(res.body).toMatch(/localex_queue_depth\{state="waiting"\} 3/)
    expect(res.body).toMatch(/localex_jobs_failed_total\{job="variants"\} 1/)
  })
})

describe('OpenAPI', () => {
  it('/docs/json is an OpenAPI 3 document with every route, its schemas and the problem responses', async () => {
    t = await makeTestApp()
    const res = await t.app.inject({ method: 'GET', url: '/docs/json' })
    expect(res.statusCode).toBe(200)
    const doc = res.json()
    expect(doc.openapi).toMatch(/^3\./)
    expect(doc.info).toMatchObject({ title: 'localex-storage', version: expect.any(String) })
    const expected: [string, string][] = [
      ['post', '/v1/items/{itemId}/photos'],
      ['get', '/v1/items/{itemId}/photos'],
      ['put', '/v1/items/{itemId}/photos/order'],
      ['put', '/v1/items/{itemId}/owner'],
      ['put', '/v1/users/me/profile-photo'],
      ['get', '/v1/users/{userId}/profile-photo'],
      ['delete', '/v1/users/{userId}/profile-photo'],
      ['post', '/v1/verification-documents'],
      ['get', '/v1/verification-documents'],
      ['get', '/v1/files/{id}'],
      ['get', '/v1/files/{id}/url'],
      ['delete', '/v1/files/{id}'],
      ['post', '/v1/uploads'],
      ['post', '/v1/uploads/{id}/complete'],
      ['get', '/healthz'],
      ['get', '/readyz'],
      ['get', '/metrics'],
    ]
    for (const [method, path] of expected) {
      const op = doc.paths?.[path]?.[method]
      expect(op, `${method.toUpperCase()} ${path}`).toBeDefined()
      expect(Object.keys(op.responses ?? {}).length, `${method} ${path} responses`).toBeGreaterThan(0)
    }
    // Every $ref resolves inside the document.
    const refs = [...res.body.matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1] ?? '')
    expect(refs.length).toBeGreaterThan(0)
    for (const ref of refs) {
      expect(ref.startsWith('#/'), ref).toBe(true)
      const target = ref
        .slice(2)
        .split('/')
        .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc)
      expect(target, ref).toBeDefined()
    }
    const upload = doc.paths['/v1/items/{itemId}/photos'].post
    expect(upload.requestBody.content['multipart/form-data'].schema.properties.file).toMatchObject({
      type: 'string',
      format: 'binary',
    })
    expect(upload.security).toEqual([{ bearerAuth: [] }])
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' })
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining(['Problem', 'FileView', 'SignedUrl', 'DirectUpload']),
    )
    const ui = await t.app.inject({ method: 'GET', url: '/docs' })
    expect([200, 302]).toContain(ui.statusCode)
  })
})
