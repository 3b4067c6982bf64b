import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildInternalApp, startHttpServer, type RunningHttpServer } from '../../src/http/index.js'
import { makeTestApp, type TestApp } from './support/app.js'

const METRICS_TOKEN = 'metrics-token-0123456789abcdef'

describe('METRICS_TOKEN', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await makeTestApp({ env: { METRICS_TOKEN } })
  })
  afterAll(() => t.close())

  it('/metrics answers 401 with a Bearer challenge without the token, or with another one', async () => {
    for (const authorization of [undefined, 'Bearer wrong-token', `Bearer ${METRICS_TOKEN}x`, METRICS_TOKEN]) {
      const res = await t.app.inject({ url: '/metrics', headers: authorization ? { authorization } : {} })
      expect(res.statusCode, String(authorization)).toBe(401)
      expect(res.headers['www-authenticate']).toBe('Bearer realm="metrics"')
      expect(res.json()).toMatchObject({ code: 'UNAUTHENTICATED' })
      expect(res.body).not.toContain('http_requests')
    }
  })

  it('/metrics answers with the token; health stays open', async () => {
    const res = await t.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
    expect((await t.app.inject({ url: '/healthz' })).statusCode).toBe(200)
    expect((await t.app.inject({ url: '/readyz' })).statusCode).toBe(200)
  })

  it('is redacted when the configuration is printed', async () => {
    const { redactConfig } = await import('../../src/config/index.js')
    expect(JSON.stringify(redactConfig(t.config))).not.toContain(METRICS_TOKEN)
  })
})

describe('INTERNAL_PORT: metrics and docs on a separate loopback listener', () => {
  let t: TestApp
  let publicServer: RunningHttpServer
  let internal: RunningHttpServer
  beforeAll(async () => {
    t = await makeTestApp({ env: { INTERNAL_PORT: '0', HOST: '127.0.0.1', PORT: '0' } })
    publicServer = await startHttpServer(t.app, t.config)
    const internalApp = buildInternalApp({
      config: t.config,
      health: { db: async () => {}, store: async () => {}, queue: async () => {} },
      metrics: t.metrics,
      source: t.app,
      logger: false,
    })
    internal = await startHttpServer(internalApp, t.config, {
      address: t.config.http.internal ?? { host: '127.0.0.1', port: 0 },
    })
  })
  afterAll(async () => {
    await internal?.close()
    await publicServer?.close()
    await t.close()
  })

  it('the public listener serves neither /metrics nor /docs, but health and the API', async () => {
    for (const path of ['/metrics', '/docs', '/docs/json', '/docs/static/index.html']) {
      const res = await fetch(`${publicServer.url}${path}`)
      expect(res.status, path).toBe(404)
    }
    expect((await fetch(`${publicServer.url}/healthz`)).status).toBe(200)
    expect((await fetch(`${publicServer.url}/readyz`)).status).toBe(200)
    expect((await fetch(`${publicServer.url}/v1/items/bike/photos`)).status).toBe(200)
  })

  it('the internal listener, on loopback, serves metrics, the public API document and health', async () => {
    expect(internal.address.address).toBe('127.0.0.1')
    expect(internal.address.port).not.toBe(publicServer.address.port)
    // A request to the public listener is counted, and shows on the internal one.
    await fetch(`${publicServer.url}/healthz`)
    const metrics = await fetch(`${internal.url}/metrics`)
    expect(metrics.status).toBe(200)
    expect(await metrics.text()).toMatch(/http_requests_total\{[^}]*route="\/healthz"/)
    const doc = (await (await fetch(`${internal.url}/docs/json`)).json()) as {
      openapi: string
      paths: Record<string, unknown>
    }
    expect(doc.openapi).toBe('3.1.0')
    expect(Object.keys(doc.paths)).toContain('/v1/items/{itemId}/photos')
    expect((await fetch(`${internal.url}/docs`, { redirect: 'manual' })).status).toBeLessThan(400)
    expect((await fetch(`${internal.url}/healthz`)).status).toBe(200)
    // The API itself is not served there.
    expect((await fetch(`${internal.url}/v1/items/bike/photos`)).status).toBe(404)
  })
})
