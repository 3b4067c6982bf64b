import { request as httpRequest } from 'node:http'
import { describe, expect, it } from 'vitest'
import { startHttpServer } from '../../src/http/index.js'
import { jpeg, makeTestApp, until } from './support/app.js'

describe('startHttpServer', () => {
  it('listens on HOST:PORT with the slow-client timeouts, and lets in-flight requests finish on close', async () => {
    const t = await makeTestApp({
      env: { HOST: '127.0.0.1', PORT: '0', HTTP_HEADERS_TIMEOUT: '2s', HTTP_REQUEST_TIMEOUT: '30s' },
    })
    const server = await startHttpServer(t.app, t.config, { shutdownTimeoutMs: 5000 })
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(t.app.server.headersTimeout).toBe(2000)
      expect(t.app.server.requestTimeout).toBe(30_000)
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200)

      // An upload in flight when shutdown starts still gets its answer: half of its body is sent,
      // the server starts closing, then the rest follows.
      const token = await t.token('alice')
      const body = Buffer.concat([
        Buffer.from('--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'),
        jpeg(),
        Buffer.from('\r\n--b--\r\n'),
      ])
      const half = Math.floor(body.length / 2)
      const req = httpRequest(`${server.url}/v1/items/item-1/photos`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'multipart/form-data; boundary=b',
          'content-length': String(body.length),
          // Not kept alive afterwards: an idle kept-alive connection would hold the close until it times out.
          connection: 'close',
        },
      })
      const inFlight = new Promise<number>((resolve, reject) => {
        req.on('response', (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        })
        req.on('error', reject)
      })
      req.write(body.subarray(0, half))
      const uploading = () => t.files.calls.find((c) => c.method === 'uploadItemPhoto')
      await until(uploading, 'the upload to reach the files layer')
      const closed = server.close()
      // Closing has begun once a new request is refused (or answered 503 on a kept-alive connection).
      await until(async () => {
        try {
          return (await fetch(`${server.url}/healthz`)).status === 503 || undefined
        } catch {
          return true
        }
      }, 'the server to start closing')
      req.end(body.subarray(half))
      expect(await inFlight).toBe(201)
      await closed
      await expect(fetch(`${server.url}/healthz`)).rejects.toThrow()
    } finally {
      await server.close()
      await t.close()
    }
  })
})
