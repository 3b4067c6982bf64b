import { createServer, request, type Server } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FaultProxy } from '../support/fault-proxy.js'

/** The fault proxy itself: each mode as an HTTP client sees it. */
describe('FaultProxy', () => {
  let server: Server
  let proxy: FaultProxy
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume()
      req.on('end', () => res.end(`hello ${req.url}`))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    proxy = new FaultProxy('127.0.0.1', typeof address === 'object' && address ? address.port : 0)
    await proxy.start()
  })
  afterAll(async () => {
    await proxy.stop()
    await new Promise((resolve) => server.close(resolve))
  })

  const get = (path: string, timeoutMs = 2000) =>
    new Promise<{ body?: string; error?: string; order: number }>((resolve) => {
      const req = request({ host: '127.0.0.1', port: proxy.port, path, agent: false }, (res) => {
        let body = ''
        res.on('data', (c: Buffer) => (body += c.toString()))
        res.on('end', () => resolve({ body, order: ++finished }))
      })
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })))
      req.on('error', (error: NodeJS.ErrnoException) =>
        resolve({ error: error.code ?? error.message, order: ++finished }),
      )
      req.end()
    })
  let finished = 0

  it('passes bytes through, and refuses, hangs or resets as told', async () => {
    expect(await get('/a')).toMatchObject({ body: 'hello /a' })
    await proxy.set('refuse')
    expect(await get('/b')).toMatchObject({ error: 'ECONNREFUSED' })
    await proxy.set('blackhole')
    expect(await get('/c', 300)).toMatchObject({ error: 'TIMEOUT' })
    await proxy.set('reset')
    expect(await get('/d')).toMatchObject({ error: 'ECONNRESET' })
    await proxy.set('pass')
    expect(await get('/e')).toMatchObject({ body: 'hello /e' })
  })

  it('holds each answer back by responseDelayMs: a delayed request finishes after a later undelayed one', async () => {
    await proxy.set('pass', { responseDelayMs: 400 })
    const slow = get('/slow')
    await new Promise((resolve) => setTimeout(resolve, 50))
    proxy.responseDelayMs = 0
    const fast = get('/fast')
    const [s, f] = await Promise.all([slow, fast])
    expect(s.body).toBe('hello /slow')
    expect(f.body).toBe('hello /fast')
    expect(f.order).toBeLessThan(s.order)
  })
})
