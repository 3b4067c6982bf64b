import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { validatePdf } from '../../src/index.js'
import { DiskUrlSigner } from '../../src/storage/index.js'
import { PDF, SIGNING_SECRET, expectProblemShape, jpeg, makeTestApp, multipart, type TestApp } from './support/app.js'

/** The embedded delivery route over a real disk store (createObjectStore on a temp DATA_DIR). */

let t: TestApp
const photoKey = 'items/item-1/photos/p1/original.jpg'
const docKey = 'verification/alice/passport/d1/scan.pdf'
const otherDocKey = 'verification/bob/passport/d2/scan.pdf'
const tempKey = 'temp/uploads/u1/big.jpg'
const photo = jpeg(6000)
const pdf = Buffer.from('%PDF-1.7\n' + 'q'.repeat(3000))

beforeAll(async () => {
  t = await makeTestApp()
  await t.store.put(photoKey, photo, { contentType: 'image/jpeg', cacheControl: 'public, max-age=2592000, immutable' })
  await t.store.put(docKey, pdf, { contentType: 'application/pdf', cacheControl: 'private, max-age=604800' })
  await t.store.put(otherDocKey, pdf, { contentType: 'application/pdf', cacheControl: 'private, max-age=604800' })
  await t.store.put(tempKey, photo, { contentType: 'image/jpeg', cacheControl: 'no-store' })
})
afterAll(async () => {
  await t.close()
})

const get = (url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET') =>
  t.app.inject({ method, url, headers })
const pathOf = (url: string) => url.replace(/^https?:\/\/[^/]+/, '')
const signed = async (key: string, options: { responseContentDisposition?: string } = {}) =>
  pathOf(await t.store.signedUrl(key, { expiresIn: 60, ...options }))

function problem(res: Awaited<ReturnType<typeof get>>, status: number, code: string): void {
  expect(res.statusCode, res.body).toBe(status)
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
  expect(res.headers['cache-control']).toBe('no-store')
  const body = res.json()
  expectProblemShape(body)
  expect(body.code).toBe(code)
  expect(res.body).not.toContain(t.dir)
}

describe('GET /files/* (public keys)', () => {
  it('streams the object with its headers', async () => {
    const res = await get(`/files/${photoKey}`)
    expect(res.statusCode).toBe(200)
    expect(res.rawPayload.equals(photo)).toBe(true)
    expect(res.headers).toMatchObject({
      'content-type': 'image/jpeg',
      'content-length': String(photo.length),
      'cache-control': 'public, max-age=2592000, immutable',
      'x-content-type-options': 'nosniff',
      'accept-ranges': 'bytes',
      'cross-origin-resource-policy': 'cross-origin',
    })
    expect(res.headers.etag).toMatch(/^"[0-9a-f]+"$/)
    expect(new Date(String(res.headers['last-modified'])).getTime()).toBeGreaterThan(Date.now() - 60_000)
    expect(res.headers['content-security-policy']).toContain('sandbox')
    expect(res.headers['content-disposition']).toBeUndefined()
  })

  it('HEAD: the headers without a body', async () => {
    const res = await get(`/files/${photoKey}`, {}, 'HEAD')
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-length']).toBe(String(photo.length))
    expect(res.rawPayload.length).toBe(0)
  })

  it('Range: 206 with Content-Range; suffix and open ranges; 416 past the end; several ranges serve all', async () => {
    const first = await get(`/files/${photoKey}`, { range: 'bytes=0-9' })
    expect(first.statusCode).toBe(206)
    expect(first.headers['content-range']).toBe(`bytes 0-9/${photo.length}`)
    expect(first.headers['content-length']).toBe('10')
    expect(first.rawPayload.equals(photo.subarray(0, 10))).toBe(true)

    const suffix = await get(`/files/${photoKey}`, { range: 'bytes=-100' })
    expect([suffix.statusCode, suffix.headers['content-range']]).toEqual([
      206,
      `bytes ${photo.length - 100}-${photo.length - 1}/${photo.length}`,
    ])
    expect(suffix.rawPayload.equals(photo.subarray(-100))).toBe(true)

    const open = await get(`/files/${photoKey}`, { range: 'bytes=4990-' })
    expect(open.rawPayload.equals(photo.subarray(4990))).toBe(true)

    const past = await get(`/files/${photoKey}`, { range: 'bytes=999999-' })
    problem(past, 416, 'RANGE_NOT_SATISFIABLE')
    expect(past.headers['content-range']).toBe(`bytes */${photo.length}`)

    const several = await get(`/files/${photoKey}`, { range: 'bytes=0-1,5-6' })
    expect([several.statusCode, several.rawPayload.length]).toEqual([200, photo.length])
  })

  it('If-Range: the range only while the ETag still matches', async () => {
    const { etag } = (await get(`/files/${photoKey}`, {}, 'HEAD')).headers
    expect((await get(`/files/${photoKey}`, { range: 'bytes=0-9', 'if-range': String(etag) })).statusCode).toBe(206)
    expect((await get(`/files/${photoKey}`, { range: 'bytes=0-9', 'if-range': '"stale"' })).statusCode).toBe(200)
  })

  it('304 for If-None-Match / If-Modified-Since', async () => {
    const first = await get(`/files/${photoKey}`)
    const etag = String(first.headers.etag)
    const hit = await get(`/files/${photoKey}`, { 'if-none-match': `"other", ${etag}` })
    expect(hit.statusCode).toBe(304)
    expect(hit.rawPayload.length).toBe(0)
    expect(hit.headers.etag).toBe(etag)
    expect(hit.headers['cache-control']).toBe('public, max-age=2592000, immutable')
    expect((await get(`/files/${photoKey}`, { 'if-none-match': 'W/' + etag })).statusCode).toBe(304)
    expect((await get(`/files/${photoKey}`, { 'if-none-match': '"other"' })).statusCode).toBe(200)
    expect(
      (await get(`/files/${photoKey}`, { 'if-modified-since': new Date(Date.now() + 60_000).toUTCString() }))
        .statusCode,
    ).toBe(304)
    expect(
      (await get(`/files/${photoKey}`, { 'if-modified-since': new Date(Date.now() - 3600_000).toUTCString() }))
        .statusCode,
    ).toBe(200)
  })

  it('404 for missing objects, unsafe keys and unknown prefixes, without paths', async () => {
    problem(await get('/files/items/item-1/photos/nope/original.jpg'), 404, 'NOT_FOUND')
    problem(await get('/files/items/..%2F..%2F..%2Fetc/passwd'), 404, 'NOT_FOUND')
    problem(await get('/files/items/%E0%A4%A'), 400, 'VALIDATION_FAILED')
    problem(await get('/files/secrets.json'), 404, 'NOT_FOUND')
    problem(await get('/files/../secrets.json'), 404, 'NOT_FOUND')
  })
})

describe('GET /files/* (signed keys)', () => {
  it('403 without a signature, before the store is asked (missing and present keys alike)', async () => {
    problem(await get(`/files/${docKey}`), 403, 'SIGNATURE_INVALID')
    problem(await get('/files/verification/alice/passport/nope/x.pdf'), 403, 'SIGNATURE_INVALID')
    problem(await get(`/files/${tempKey}`), 403, 'SIGNATURE_INVALID')
  })

  it('serves a validly signed document as an attachment (RFC 6266), never cached publicly', async () => {
    const res = await get(await signed(docKey))
    expect(res.statusCode, res.body).toBe(200)
    expect(res.rawPayload.equals(pdf)).toBe(true)
    expect(res.headers['content-disposition']).toBe(`attachment; filename="scan.pdf"; filename*=UTF-8''scan.pdf`)
    expect(res.headers['cache-control']).toBe('private, max-age=604800')
    expect(res.headers['x-content-type-options']).toBe('nosniff')
    expect(res.headers['cross-origin-resource-policy']).toBe('same-origin')
    const ranged = await get(await signed(docKey), { range: 'bytes=0-3' })
    expect([ranged.statusCode, ranged.body]).toEqual([206, '%PDF'])
    const temp = await get(await signed(tempKey))
    expect([temp.statusCode, temp.headers['content-disposition']]).toEqual([
      200,
      `attachment; filename="big.jpg"; filename*=UTF-8''big.jpg`,
    ])
  })

  it('honours a signed response-content-disposition, made attachment-only for documents', async () => {
    const name = 'Pässport «scan».pdf'
    const res = await get(
      await signed(docKey, { responseContentDisposition: `attachment; filename*=UTF-8''${encodeURIComponent(name)}` }),
    )
    expect(res.headers['content-disposition']).toBe(`attachment; filename*=UTF-8''${encodeURIComponent(name)}`)
    const inline = await get(await signed(docKey, { responseContentDisposition: 'inline' }))
    expect(inline.headers['content-disposition']).toMatch(/^attachment; filename="scan.pdf"/)
  })

  it('403 for a tampered signature, a signature of another key, a changed override, an expired URL', async () => {
    const url = await signed(docKey)
    const sig = new URL(url, 'http://x').searchParams.get('sig') ?? ''
    const flipped = sig.slice(0, -1) + (sig.endsWith('A') ? 'B' : 'A')
    problem(await get(url.replace(`sig=${sig}`, `sig=${flipped}`)), 403, 'SIGNATURE_INVALID')
    problem(await get(url.replace(docKey, otherDocKey)), 403, 'SIGNATURE_INVALID')
    problem(await get(`${url}&response-content-type=text%2Fhtml`), 403, 'SIGNATURE_INVALID')
    const expires = new URL(url, 'http://x').searchParams.get('expires') ?? ''
    problem(await get(url.replace(`expires=${expires}`, `expires=${Number(expires) + 3600}`)), 403, 'SIGNATURE_INVALID')

    const signer = new DiskUrlSigner(SIGNING_SECRET, t.config.storage.publicBaseUrl)
    problem(await get(pathOf(signer.signGet(docKey, new Date(Date.now() - 2000)))), 403, 'SIGNATURE_EXPIRED')
    const foreign = new DiskUrlSigner('another-secret-that-is-long-enough-0123456789', t.config.storage.publicBaseUrl)
    problem(await get(pathOf(foreign.signGet(docKey, new Date(Date.now() + 60_000)))), 403, 'SIGNATURE_INVALID')
  })

  it('a public key with a bad signature is refused too (overrides only count when signed)', async () => {
    problem(
      await get(`/files/${photoKey}?expires=9999999999&sig=forged&response-content-type=text%2Fhtml`),
      403,
      'SIGNATURE_INVALID',
    )
  })

  it('end to end: upload a document, ask for its URL, download it', async () => {
    const alice = await t.bearer('alice')
    const form = multipart([
      { name: 'type', data: 'id_card' },
      { name: 'file', filename: 'id card.pdf', contentType: 'application/pdf', data: PDF },
    ])
    const up = await t.app.inject({
      method: 'POST',
      url: '/v1/verification-documents',
      headers: { ...alice, ...form.headers },
      payload: form.payload,
    })
    expect(up.statusCode, up.body).toBe(201)
    const link = await t.app.inject({ method: 'GET', url: `/v1/files/${up.json().id}/url`, headers: alice })
    expect(link.statusCode).toBe(200)
    expect(link.json().expiresAt).toEqual(expect.any(String))
    expect(
      (await t.app.inject({ method: 'GET', url: `/v1/files/${up.json().id}/url`, headers: await t.bearer('bob') }))
        .statusCode,
    ).toBe(404)
    const download = await get(pathOf(link.json().url))
    expect(download.statusCode).toBe(200)
    // What is stored, and delivered, is the checked document written out again.
    expect(download.rawPayload.equals((await validatePdf(PDF)).data)).toBe(true)
    // The signed URL names the download as it was uploaded (the key holds a file-system-safe name).
    const disposition = `attachment; filename="id card.pdf"; filename*=UTF-8''id%20card.pdf`
    expect(download.headers['content-disposition']).toBe(disposition)
  })
})
