import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BOUNDARY, jpeg, makeTestApp, until, type TestApp } from './support/app.js'

/**
 * What only real sockets show: an oversized upload is refused while it is still being sent, slow
 * clients are cut off by the server's timeouts, a client that goes away aborts the work, and the
 * process keeps serving afterwards. What is checked is what happened (bytes sent before the
 * answer, the answer, what was stored), not how long it took: waits are only bounded.
 */

let t: TestApp
let port: number
beforeAll(async () => {
  // 1 s to send headers, 3 s for a whole request: short enough for a test, same mechanism as 10 s / 120 s.
  t = await makeTestApp({ env: { HTTP_HEADERS_TIMEOUT: '1s', HTTP_REQUEST_TIMEOUT: '3s', MAX_FILE_SIZE: '1MiB' } })
  await t.app.listen({ host: '127.0.0.1', port: 0 })
  port = (t.app.server.address() as AddressInfo).port
})
afterAll(async () => {
  await t.close()
})

async function healthy(): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`)
  expect(res.status).toBe(200)
}

describe('over real sockets', () => {
  it('answers 413 to a 50 MB upload long before it is all sent, and stays healthy', async () => {
    const total = 50 * 1024 * 1024
    const head = Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="huge.jpg"\r\nContent-Type: ` +
        `image/jpeg\r\n\r\n`,
    )
    const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`)
    const chunk = jpeg(64 * 1024)
    const result = await new Promise<{ status: number; body: string; sent: number }>((resolve, reject) => {
      let sent = 0
      let answered = false
      const req = httpRequest({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/items/item-1/photos',
        headers: {
          'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
          'content-length': String(head.length + total + tail.length),
        },
      })
      req.on('response', (res) => {
        answered = true
        const sentAtAnswer = sent
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => (body += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, sent: sentAtAnswer }))
        res.on('error', reject)
      })
      // The server closes the connection once it has answered: writes after that fail, as expected.
      req.on('error', (error) => {
        if (!answered) reject(error)
      })
      t.token('alice').then((token) => {
        req.setHeader('authorization', `Bearer ${token}`)
        req.write(head)
        const pump = () => {
          while (!answered && sent < total) {
            sent += chunk.length
            if (!req.write(chunk)) {
              req.once('drain', pump)
              return
            }
          }
          if (!answered) req.end(tail)
        }
        pump()
      }, reject)
    })
    expect(result.status, result.body).toBe(413)
    expect(JSON.parse(result.body)).toMatchObject({ code: 'FILE_TOO_LARGE', status: 413 })
    // Refused after ~1 MiB arrived (plus what was in flight), not after 50.
    expect(result.sent).toBeLessThan(20 * 1024 * 1024)
    expect(t.files.received).toHaveLength(1)
    expect(Math.max(...t.files.received)).toBeLessThanOrEqual(t.config.images.maxBytes)
    expect(await t.stored()).toEqual({ rows: 0, objects: [] })
    await healthy()
  })

  it('cuts off a slowloris client that sends its headers a byte at a time, by the headers timeout', async () => {
    // No request timeout on this app: if anything closes the connection, it is the headers timeout.
    const slow = await makeTestApp({ env: { HTTP_HEADERS_TIMEOUT: '1s', HTTP_REQUEST_TIMEOUT: '0' } })
    try {
      await slow.app.listen({ host: '127.0.0.1', port: 0 })
      const slowPort = (slow.app.server.address() as AddressInfo).port
      const line = Buffer.from('POST /v1/items/item-1/photos HTTP/1.1\r\nHost: localhost\r\nX-Slow: ' + 'a'.repeat(200))
      let answer = ''
      // A byte every 50 ms: the headers would take ~13 s to arrive; the wait is bounded at 10 s.
      const sent = await new Promise<number>((resolve, reject) => {
        const socket = connect(slowPort, '127.0.0.1')
        let i = 0
        const timer = setInterval(() => {
          if (i < line.length && !socket.destroyed) socket.write(line.subarray(i, ++i))
        }, 50)
        socket.on('data', (d: Buffer) => (answer += d.toString('latin1')))
        socket.on('error', () => undefined)
        socket.on('close', () => {
          clearInterval(timer)
          resolve(i)
        })
        setTimeout(() => reject(new Error('still connected after 10 s')), 10_000).unref()
      })
      // Cut off half-way through its headers, with the problem answer of a timeout.
      expect(sent).toBeLessThan(line.length)
      expect(answer).toMatch(/^HTTP\/1.1 408 /)
      expect(answer).toContain('application/problem+json')
      expect(answer).toContain('"code":"VALIDATION_FAILED"')
      expect((await fetch(`http://127.0.0.1:${slowPort}/healthz`)).status).toBe(200)
    } finally {
      await slow.close()
    }
  })

  it('cuts off a client that sends its body too slowly, by the request timeout', async () => {
    const token = await t.token('alice')
    const length = 100_000
    // A byte every 100 ms would take hours: the server has to close first (the wait is bounded at 10 s).
    const sent = await new Promise<number>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1')
      let bytes = 0
      socket.write(
        `POST /v1/items/item-1/photos HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
          `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: ${length}\r\n\r\n` +
          `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n`,
      )
      const timer = setInterval(() => {
        if (!socket.destroyed) socket.write('x', () => void (bytes += 1))
      }, 100)
      socket.on('data', () => undefined)
      socket.on('error', () => undefined)
      socket.on('close', () => {
        clearInterval(timer)
        resolve(bytes)
      })
      setTimeout(() => reject(new Error('still connected after 10 s')), 10_000).unref()
    })
    expect(sent).toBeLessThan(length)
    expect(await t.stored()).toEqual({ rows: 0, objects: [] })
    await healthy()
  })

  it('aborts the RequestContext signal when the client goes away mid-upload', async () => {
    const before = t.files.calls.length
    const token = await t.token('alice')
    const socket = connect(port, '127.0.0.1')
    socket.on('error', () => undefined)
    socket.write(
      `POST /v1/items/item-1/photos HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n` +
        `Content-Type: multipart/form-data; boundary=${BOUNDARY}\r\nContent-Length: 100000\r\n\r\n` +
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n${'x'.repeat(100)}`,
    )
    // The upload is in the files layer, which is waiting for the rest of the body.
    const uploading = () => t.files.calls.slice(before).find((c) => c.method === 'uploadItemPhoto')
    const call = await until(uploading, 'the upload to reach the files layer')
    const seen = call.ctx?.signal
    expect(seen?.aborted).toBe(false)
    const aborted = new Promise<void>((done) => seen?.addEventListener('abort', () => done(), { once: true }))
    socket.destroy()
    await aborted
    expect(seen?.aborted).toBe(true)
    expect((seen?.reason as { code?: string }).code).toBe('ABORTED')
    expect(await t.stored()).toEqual({ rows: 0, objects: [] })
    await healthy()
  })
})
