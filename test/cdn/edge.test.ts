import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { HttpPurger, classifyCacheResult, createCdn, parseKeyPaths, requestThroughEdge } from '../../src/cdn/index.js'
import { testConfig } from '../support/db.js'

describe('classifyCacheResult', () => {
  it.each([
    [{ 'x-cache': 'Hit from cloudfront' }, 'hit'],
    [{ 'x-cache': 'RefreshHit from cloudfront' }, 'hit'],
    [{ 'x-cache': 'Miss from cloudfront' }, 'miss'],
    [{ 'x-cache': 'Error from cloudfront' }, 'unknown'],
    [{ 'x-cache': 'HIT' }, 'hit'],
    [{ 'x-cache': 'MISS', age: '0' }, 'miss'],
    [{ 'x-cache': 'PASS' }, 'pass'],
    // Fastly with shielding: the shield first, the edge nearest the client last.
    [{ 'x-cache': 'HIT, MISS' }, 'miss'],
    [{ 'x-cache': 'MISS, HIT' }, 'hit'],
    [{ age: '42' }, 'hit'],
    [{ age: '0' }, 'miss'],
    [{ age: 'soon' }, 'unknown'],
    [{}, 'unknown'],
  ] as const)('%j → %s', (headers, expected) => {
    expect(classifyCacheResult(headers)).toBe(expected)
    expect(classifyCacheResult(new Headers(headers))).toBe(expected)
  })
})

describe('parseKeyPaths', () => {
  it('keeps one of each path, with or without the leading slash, sorted', () => {
    expect(parseKeyPaths(['/b', 'b', '/a/*', '/a/*', '/a', ''])).toEqual([
      { key: 'a', wildcard: false },
      { key: 'a/', wildcard: true },
      { key: 'b', wildcard: false },
    ])
  })
})

/** A stand-in edge that records what it is asked and answers from a script. */
interface Seen {
  method: string
  url: string
  host: string | undefined
  edge: number
}

describe('http-purge provider (against recording HTTP servers)', () => {
  const seen: Seen[] = []
  let answers: number[] = []
  const servers: Server[] = []
  const edges: string[] = []
  let inFlight = 0
  let maxInFlight = 0

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const server = createServer((req: IncomingMessage, res) => {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        seen.push({ method: req.method as string, url: req.url as string, host: req.headers.host, edge: i })
        const status = answers.shift() ?? 200
        setTimeout(() => {
          inFlight--
          res.writeHead(status).end()
        }, 5)
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      servers.push(server)
      edges.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
    }
  })
  afterAll(async () => {
    for (const s of servers) await new Promise((r) => s.close(r))
  })
  beforeEach(() => {
    seen.length = 0
    answers = []
    maxInFlight = 0
  })

  it("sends PURGE for every path to each edge, under the CDN URL's path and with its Host", async () => {
    const cdn = createCdn(
      testConfig({
        CDN_PROVIDER: 'http-purge',
        CDN_URL: 'https://cdn.example.com/media',
        CDN_PURGE_URLS: edges.join(','),
      }),
    )
    await cdn.invalidate([
      '/items/a/photos/p/*',
      '/items/a/photos/p/large.jpg',
      '/items/a/photos/p/large.jpg',
      '/items/a b/x.jpg',
    ])
    expect(seen.every((s) => s.method === 'PURGE' && s.host === 'cdn.example.com')).toBe(true)
    for (const edge of [0, 1]) {
      expect(
        seen
          .filter((s) => s.edge === edge)
          .map((s) => s.url)
          .sort(),
      ).toEqual(['/media/items/a%20b/x.jpg', '/media/items/a/photos/p/*', '/media/items/a/photos/p/large.jpg'])
    }
  })

  it('retries a 5xx, treats 404 (nothing cached) as done, and fails at once with CDN_ERROR on 403', async () => {
    const purger = new HttpPurger({ edges: [edges[0] as string], retry: { baseDelayMs: 1, maxDelayMs: 2 } })
    answers = [503, 502, 200]
    await purger.invalidate(['/a'])
    expect(seen).toHaveLength(3)

    seen.length = 0
    answers = [404]
    await purger.invalidate(['/a'])
    expect(seen).toHaveLength(1)

    seen.length = 0
    answers = [403]
    await expect(purger.invalidate(['/a', '/b', '/c'])).rejects.toMatchObject({
      code: 'CDN_ERROR',
      details: { status: 403 },
    })
    expect(seen.filter((s) => s.url === '/a')).toHaveLength(1)
  })

  it('keeps at most `concurrency` PURGE requests in flight', async () => {
    const purger = new HttpPurger({ edges, concurrency: 3 })
    await purger.invalidate(Array.from({ length: 40 }, (_, i) => `/items/x/photos/p${i}/original.jpg`))
    expect(seen).toHaveLength(80)
    expect(maxInFlight).toBeLessThanOrEqual(3)
  })

  it('rejects CDN_ERROR when an edge cannot be reached', async () => {
    const purger = new HttpPurger({
      edges: ['http://127.0.0.1:1'],
      retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
    })
    await expect(purger.invalidate(['/a'])).rejects.toMatchObject({ code: 'CDN_ERROR' })
  })
})

describe('requestThroughEdge', () => {
  it('bounds concurrency, drains bodies, reports 5xx and network failures as errors without throwing', async () => {
    let inFlight = 0
    let max = 0
    const server = createServer((req, res) => {
      inFlight++
      max = Math.max(max, inFlight)
      setTimeout(() => {
        inFlight--
        if (req.url === '/boom') res.writeHead(500).end()
        else res.writeHead(200, { 'x-cache': req.url === '/hit' ? 'HIT' : 'MISS' }).end('x'.repeat(10_000))
      }, 10)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const urls = [
        ...Array.from({ length: 10 }, () => `${base}/hit`),
        `${base}/miss`,
        `${base}/boom`,
        'http://127.0.0.1:1/refused',
      ]
      const results = await requestThroughEdge(urls, { concurrency: 2 })
      expect(results.map((r) => r.result)).toEqual([...Array(10).fill('hit'), 'miss', 'error', 'error'])
      expect(max).toBeLessThanOrEqual(2)
    } finally {
      await new Promise((r) => server.close(r))
    }
  })
})
