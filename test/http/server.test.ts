import { request as httpRequest } from 'node:http'
import { describe, expect, it } from 'vitest'
import { startHttpServer } from '../../src/http/server.js'
import { makeTestApp } from './support/app.js'

describe('startHttpServer', () => {
  it('listens on HOST:PORT with the slow-client timeouts, and lets in-flight requests finish on close', async () => {
    const t = await makeTestApp({ env: { HOST: '127.0.0.1', PORT: '0', HTTP_HEADERS_TIMEOUT: '2s', HTTP_REQUEST_TIMEOUT: '30s' } })
    let release: () => void = () => undefined
    t.files.beforeUpload = () => new Promise<void>((done) => (release = done))
    const server = await startHttpServer(t.app, t.config, { shutdownTimeoutMs: 5000 })
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(t.app.server.headersTimeout).toBe(2000)
      expect(t.app.server.requestTimeout).toBe(30_000)
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200)

      // An upload in flight when shutdown starts still gets its answer.
      const token = await t.token('alice')
      const body = Buffer.from('--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n\xff\xd8\xffabc\r\n--b--\r\n', 'latin1')
      const inFlight = new Promise<number>((resolve, reject) => {
        const req = httpRequest(`${server.url}/v1/items/item-1/photos`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'multipart/form-data; boundary=b', 'content-length': String(body.length) },
        }, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        })
        req.on('error', reject)
        req.end(body)
      })
      await new Promise((done) => setTimeout(done, 200))
      const closed = server.close()
      await new Promise((done) => setTimeout(done, 100))
      release()
      expect(await inFlight).toBe(201)
      await closed
      await expect(fetch(`${server.url}/healthz`)).rejects.toThrow()
    } finally {
      await server.close()
      await t.close()
    }
  })
})
