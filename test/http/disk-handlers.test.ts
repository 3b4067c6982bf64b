import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/index.js'
import { createDiskDeliveryHandler, createDiskUploadHandler } from '../../src/index.js'
import { createObjectStore, type GuardedObjectStore } from '../../src/storage/index.js'

const SECRET = 'disk-handlers-secret-0123456789abcdef-012345'

/**
 * The library's Node handlers on a bare node:http server (no Fastify), over a disk store: they
 * answer through the same delivery core and problem writer as the service's routes.
 */
describe('library handlers: createDiskDeliveryHandler', () => {
  let dir: string
  let server: Server
  let store: GuardedObjectStore
  const photoKey = 'items/item-1/photos/p1/original.jpg'
  const docKey = 'verification/alice/passport/d1/scan.pdf'
  const photo = Buffer.from('0123456789abcdefghij')

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'localex-handlers-'))
    server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/storage`
    const config = loadConfig({ DATA_DIR: dir, STORAGE_DRIVER: 'disk', URL_SIGNING_SECRET: SECRET, JWT_SECRET: SECRET })
    store = createObjectStore(config, { publicBaseUrl: baseUrl, durable: false })
    const deliver = createDiskDeliveryHandler(store)
    const receive = createDiskUploadHandler(store)
    server.on('request', (req, res) => {
      void (async () => {
        if (await deliver(req, res)) return
        if (await receive(req, res)) return
        res.writeHead(404).end()
      })()
    })
    await store.put(photoKey, photo, { contentType: 'image/jpeg', cacheControl: 'public, max-age=60' })
    await store.put(docKey, Buffer.from('%PDF-1.7 document'), { contentType: 'application/pdf' })
  })
  afterAll(async () => {
    await store?.close()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await rm(dir, { recursive: true, force: true })
  })

  const signed = (key: string) => store.signedUrl(key, { expiresIn: 60 })

  it('sends nosniff and a sandboxing CSP with every object, and documents as attachments', async () => {
    const res = await fetch(await signed(photoKey))
    expect(res.status).toBe(200)
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('content-security-policy')).toContain('sandbox')
    expect(res.headers.get('cross-origin-resource-policy')).toBe('cross-origin')
    expect(res.headers.get('content-disposition')).toBeNull()
    expect(Buffer.from(await res.arrayBuffer()).equals(photo)).toBe(true)

    const doc = await fetch(await signed(docKey))
    expect(doc.status).toBe(200)
    expect(doc.headers.get('x-content-type-options')).toBe('nosniff')
    expect(doc.headers.get('content-security-policy')).toContain('sandbox')
    expect(doc.headers.get('cross-origin-resource-policy')).toBe('same-origin')
    expect(doc.headers.get('content-disposition')).toMatch(/^attachment; filename="scan.pdf"/)
    await doc.arrayBuffer()

    const head = await fetch(await signed(photoKey), { method: 'HEAD' })
    expect(head.headers.get('x-content-type-options')).toBe('nosniff')
    expect(head.headers.get('content-security-policy')).toContain('sandbox')
  })

  it('honours If-Range: the range while the validator is current, the whole object once it is not', async () => {
    const url = await signed(photoKey)
    const first = await fetch(url)
    await first.arrayBuffer()
    const etag = first.headers.get('etag') ?? ''
    const lastModified = first.headers.get('last-modified') ?? ''
    expect(etag).toMatch(/^"[0-9a-f]+"$/)

    const current = await fetch(url, { headers: { Range: 'bytes=0-3', 'If-Range': etag } })
    expect(current.status).toBe(206)
    expect(current.headers.get('content-range')).toBe(`bytes 0-3/${photo.length}`)
    expect(await current.text()).toBe('0123')

    const stale = await fetch(url, { headers: { Range: 'bytes=0-3', 'If-Range': '"not-this-one"' } })
    expect(stale.status).toBe(200)
    expect(stale.headers.get('content-range')).toBeNull()
    expect(Buffer.from(await stale.arrayBuffer()).equals(photo)).toBe(true)

    const byDate = await fetch(url, { headers: { Range: 'bytes=4-', 'If-Range': lastModified } })
    expect(byDate.status).toBe(206)
    expect(await byDate.text()).toBe(photo.subarray(4).toString())
    const olderDate = new Date(Date.parse(lastModified) - 60_000).toUTCString()
    const changed = await fetch(url, { headers: { Range: 'bytes=4-', 'If-Range': olderDate } })
    expect(changed.status).toBe(200)
    await changed.arrayBuffer()
  })

  it('answers If-Modified-Since with 304, and an unsatisfiable range with 416 and the size', async () => {
    const url = await signed(photoKey)
    const first = await fetch(url, { method: 'HEAD' })
    const since = await fetch(url, { headers: { 'If-Modified-Since': first.headers.get('last-modified') ?? '' } })
    expect(since.status).toBe(304)
    expect(since.headers.get('x-content-type-options')).toBe('nosniff')
    const past = await fetch(url, { headers: { Range: `bytes=${photo.length}-` } })
    expect(past.status).toBe(416)
    expect(past.headers.get('content-range')).toBe(`bytes */${photo.length}`)
    expect(await past.json()).toMatchObject({ status: 416, code: 'RANGE_NOT_SATISFIABLE' })
  })

  it('writes refusals with the shared problem writer: catalogue type, no-store, Allow on 405', async () => {
    const bad = await fetch((await signed(photoKey)).replace(/sig=[^&]+/, 'sig=AAAA'))
    expect(bad.status).toBe(403)
    expect(bad.headers.get('content-type')).toBe('application/problem+json')
    expect(bad.headers.get('cache-control')).toBe('no-store')
    expect(await bad.json()).toMatchObject({
      type: 'urn:localex-storage:error:SIGNATURE_INVALID',
      status: 403,
      code: 'SIGNATURE_INVALID',
    })
    const post = await fetch(await signed(photoKey), { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
    expect(await post.json()).toMatchObject({ status: 405, code: 'VALIDATION_FAILED' })
  })
})
