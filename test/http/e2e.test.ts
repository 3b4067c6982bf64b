import { mkdtempSync, readdirSync, rmSync, type Dirent } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { SignJWT } from 'jose'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/index.js'
import { createDatabase, pingDatabase } from '../../src/db/index.js'
import { buildHttpApp } from '../../src/http/app.js'
import { signToken } from '../../src/http/auth.js'
import { createMetrics, type Metrics } from '../../src/http/metrics.js'
import { createObjectStore } from '../../src/storage/index.js'
import { fixture } from '../support/fixtures.js'
import { scanPdf, validatePdf } from '../../src/images/index.js'
import {
  BASE_OBJECTS,
  GOTO_ACTION,
  JS_ACTION,
  deflatedZeros,
  rawPdf,
  withContentStream,
  withLink,
  withOpenAction,
} from '../support/pdfs.js'
import { BACKENDS, objectKeys, openTestStorage, type TestStorage } from '../support/storage.js'
import { multipart, type Part } from './support/app.js'

/**
 * The HTTP service end to end, with everything real: `buildHttpApp` over `createStorage` on the
 * embedded default (disk + SQLite + in-process queue; the app itself delivers /files/* and
 * receives /uploads/direct) and on production components (radosgw + PostgreSQL + BullMQ), driven
 * over real sockets. What is checked is what a client sees: statuses, problem codes, headers, the
 * bytes of delivered images, and what is left in the bucket, the tables and the temp folders.
 */

// Temp files the service (or anything it uses) makes land here, and must be gone afterwards.
const TMP = mkdtempSync(join(tmpdir(), 'localex-e2e-'))
const PREVIOUS_TMPDIR = process.env.TMPDIR
process.env.TMPDIR = TMP

const IMAGES = {
  photo: fixture('images/jpeg-exif-orientation-6-landscape.jpg'),
  png: fixture('images/png-rgba-alpha.png'),
  bmp: fixture('images/bmp-unsupported.bmp'),
  svg: fixture('images/svg-w3c-embedded-data-uri-images.svg'),
  truncated: fixture('images/jpeg-truncated-progressive.jpg'),
  pdf: fixture('docs/pdf-1-page-libreoffice.pdf'),
}

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
  json(): Record<string, unknown>
}

/** One request over a real socket; the body may be refused half-way (a 413 before it is all sent). */
function send(
  base: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: Buffer | Buffer[]; end?: boolean } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // The path goes out as written (no WHATWG normalisation of `%2E%2E`): hostile clients do that.
    const { hostname, port } = new URL(base)
    const req = httpRequest({ host: hostname, port, path, method, headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const body = Buffer.concat(chunks)
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          json: () => JSON.parse(body.toString('utf8')) as Record<string, unknown>,
        })
      })
    })
    // The server may answer and close before the whole body is written: that is the point.
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error)
    })
    const chunks = options.body === undefined ? [] : Array.isArray(options.body) ? options.body : [options.body]
    const write = async () => {
      for (const chunk of chunks) {
        if (req.destroyed) return
        if (!req.write(chunk)) {
          // Whichever comes first, and the other listener removed: a large body waits many times.
          await new Promise<void>((resolve) => {
            const done = () => {
              req.off('drain', done).off('close', done)
              resolve()
            }
            req.once('drain', done).once('close', done)
          })
        }
      }
      if (options.end !== false) req.end()
    }
    void write()
  })
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  await new Promise((r) => server.close(r))
  return port
}

/** Every file under `dir` (relative paths), SQLite's own files aside. */
function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)))
    .filter((p) => !/meta\.sqlite/.test(p))
    .sort()
}

function expectProblem(res: Reply, status: number, code: string): Record<string, unknown> {
  expect(res.headers['content-type'], `${status} ${code}: ${res.body.toString('utf8').slice(0, 300)}`).toMatch(
    /^application\/problem\+json/,
  )
  const body = res.json()
  expect([res.status, body.code], JSON.stringify(body)).toEqual([status, code])
  expect(body).toMatchObject({ status, type: expect.any(String), title: expect.any(String) })
  // Nothing internal leaks: no stack, no paths of this machine.
  expect(JSON.stringify(body)).not.toMatch(/\bat [^ ]+ \(|node:internal|\/tmp\/|\/work\/|\.ts:\d/)
  return body
}

/** A real small JPEG whose frame header claims `width`×`height` (a decompression bomb's calling card). */
async function claimedJpeg(width: number, height: number): Promise<Buffer> {
  const out = Buffer.from(
    await sharp({ create: { width: 16, height: 16, channels: 3, background: '#48c' } })
      .jpeg({ progressive: false })
      .toBuffer(),
  )
  const sof = out.indexOf(Buffer.from([0xff, 0xc0]))
  out.writeUInt16BE(height, sof + 5)
  out.writeUInt16BE(width, sof + 7)
  return out
}

const filePart = (data: Buffer, filename = 'photo.jpg', contentType = 'image/jpeg'): Part => ({
  name: 'file',
  filename,
  contentType,
  data,
})

for (const backend of BACKENDS) {
  describe(`HTTP service end to end on ${backend}`, () => {
    let t: TestStorage
    let app: FastifyInstance
    let metrics: Metrics
    let base: string
    let clockSkewMs = 0
    const bytes: Record<keyof typeof IMAGES, Buffer> = {} as Record<keyof typeof IMAGES, Buffer>
    const auth: Record<'alice' | 'bob' | 'admin', Record<string, string>> = { alice: {}, bob: {}, admin: {} }

    const call = (
      method: string,
      path: string,
      who?: keyof typeof auth,
      options: { headers?: Record<string, string>; json?: unknown; body?: Buffer | Buffer[]; end?: boolean } = {},
    ) => {
      const headers: Record<string, string> = { ...(who ? auth[who] : {}), ...options.headers }
      let body = options.body
      if (options.json !== undefined) {
        headers['content-type'] = 'application/json'
        body = Buffer.from(JSON.stringify(options.json))
      }
      return send(base, method, path, {
        headers,
        ...(body !== undefined ? { body } : {}),
        ...(options.end === false ? { end: false } : {}),
      })
    }
    const upload = (method: string, path: string, who: keyof typeof auth | undefined, parts: Part[]) => {
      const form = multipart(parts)
      return call(method, path, who, { headers: form.headers, body: form.payload })
    }
    /** GET a URL the API handed out, wherever it points (the app, or radosgw for signed S3 URLs). */
    const download = async (url: string, headers: Record<string, string> = {}): Promise<Reply> => {
      const u = new URL(url)
      return send(u.origin, 'GET', `${u.pathname}${u.search}`, { headers })
    }
    const waitReady = async (id: string, who: keyof typeof auth = 'alice'): Promise<Record<string, unknown>> => {
      const deadline = Date.now() + 30_000
      for (;;) {
        const res = await call('GET', `/v1/files/${id}`, who)
        expect(res.status).toBe(200)
        const view = res.json()
        if (view.status !== 'processing') return view
        if (Date.now() > deadline) throw new Error(`file ${id} still processing`)
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    /** What "nothing left behind" compares: rows, outbox, objects, temp and data-dir files. */
    const leftovers = async () => {
      await t.drain()
      return { counts: await t.counts(), objects: await objectKeys(t, ''), files: filesUnder(TMP) }
    }

    beforeAll(async () => {
      for (const [name, path] of Object.entries(IMAGES)) bytes[name as keyof typeof IMAGES] = await readFile(path)
      const port = await freePort()
      base = `http://127.0.0.1:${port}`
      metrics = createMetrics()
      t = await openTestStorage(backend, { PUBLIC_BASE_URL: base, UPLOAD_RATE_LIMIT: '0' }, { metrics })
      app = buildHttpApp({
        config: t.config,
        files: t.files,
        store: t.store,
        health: t.health,
        metrics,
        logger: false,
        now: () => Date.now() + clockSkewMs,
      })
      await app.listen({ host: '127.0.0.1', port })
      for (const [who, sub, admin] of [
        ['alice', 'alice', false],
        ['bob', 'bob', false],
        ['admin', 'root', true],
      ] as const) {
        auth[who] = { authorization: `Bearer ${await signToken(t.config, { sub, admin, ttlSeconds: 600 })}` }
      }
    })
    afterAll(async () => {
      await app?.close()
      await t?.close()
    })

    it(
      'uploads an item photo over multipart: 201 processing, then ready; every variant URL delivers that ' + 'image',
      async () => {
        const res = await upload('POST', '/v1/items/item-1/photos', 'alice', [filePart(bytes.photo, 'IMG_0001.JPG')])
        expect(res.status, res.body.toString()).toBe(201)
        const created = res.json()
        expect(res.headers.location).toBe(`/v1/files/${created.id as string}`)
        expect(res.headers['cache-control']).toBe('no-store')
        expect(created).toMatchObject({
          status: 'processing',
          ownerId: 'alice',
          entityId: 'item-1',
          accessLevel: 'public',
          originalName: 'IMG_0001.JPG',
          width: 1800,
          height: 1200,
        })
        expect(created.placeholder).toEqual(expect.any(String))
        expect(created.url).toBe(`${base}/files/items/item-1/photos/${created.id as string}/original.jpg`)

        const view = await waitReady(created.id as string)
        expect(view.status).toBe('ready')
        const variants = view.variants as Array<{
          variant: string
          format: string
          contentType: string
          width: number
          height: number
          size: number
          url: string
        }>
        expect(variants.map((v) => `${v.variant}.${v.format}`).sort()).toEqual([
          'large.jpeg',
          'large.webp',
          'medium.jpeg',
          'medium.webp',
          'original.jpeg',
          'original.webp',
          'thumbnail.jpeg',
          'thumbnail.webp',
        ])
        for (const v of variants) {
          expect(v.url.startsWith(`${base}/files/items/item-1/photos/`)).toBe(true)
          const got = await download(v.url)
          expect(got.status, v.url).toBe(200)
          expect(got.headers['content-type']).toBe(v.contentType)
          expect(got.headers['cache-control']).toBe('public, max-age=2592000, immutable')
          expect(got.headers['x-content-type-options']).toBe('nosniff')
          expect(got.body.length).toBe(v.size)
          const meta = await sharp(got.body).metadata()
          expect([meta.format, meta.width, meta.height]).toEqual([v.format, v.width, v.height])
          // Stored upright, metadata stripped.
          expect(meta.orientation ?? 1).toBe(1)
          expect(meta.exif).toBeUndefined()
        }
        expect(
          Math.max(...variants.filter((v) => v.variant === 'thumbnail').map((v) => Math.max(v.width, v.height))),
        ).toBe(300)
        expect(await objectKeys(t, `items/item-1/photos/${created.id as string}/`)).toHaveLength(8)
        const row = await t.db
          .selectFrom('files')
          .select(['status', 'owner_id'])
          .where('id', '=', created.id as string)
          .executeTakeFirstOrThrow()
        expect(row).toEqual({ status: 'ready', owner_id: 'alice' })
      },
    )

    it('delivers with Range, ETag/If-None-Match, Last-Modified/If-Modified-Since, HEAD and 416', async () => {
      const res = await upload('POST', '/v1/items/item-range/photos?wait=true', 'alice', [
        filePart(bytes.png, 'a.png', 'image/png'),
      ])
      expect(res.status).toBe(201)
      const url = res.json().url as string
      const full = await download(url)
      expect(full.status).toBe(200)
      const etag = full.headers.etag as string
      const lastModified = full.headers['last-modified'] as string
      expect(etag).toMatch(/^"/)
      expect(Date.parse(lastModified)).toBeGreaterThan(Date.now() - 120_000)
      expect(full.headers['accept-ranges']).toBe('bytes')

      const part = await download(url, { range: 'bytes=10-109' })
      expect(part.status).toBe(206)
      expect(part.headers['content-range']).toBe(`bytes 10-109/${full.body.length}`)
      expect(part.body.equals(full.body.subarray(10, 110))).toBe(true)
      const tail = await download(url, { range: 'bytes=-20' })
      expect([tail.status, tail.body.equals(full.body.subarray(-20))]).toEqual([206, true])

      expect((await download(url, { 'if-none-match': etag })).status).toBe(304)
      expect((await download(url, { 'if-none-match': '"something-else"' })).status).toBe(200)
      expect((await download(url, { 'if-modified-since': lastModified })).status).toBe(304)
      const stale = await download(url, { range: 'bytes=0-9', 'if-range': '"stale"' })
      expect([stale.status, stale.body.length]).toEqual([200, full.body.length])

      const head = await send(new URL(url).origin, 'HEAD', new URL(url).pathname)
      expect([head.status, head.headers['content-length'], head.body.length]).toEqual([
        200,
        String(full.body.length),
        0,
      ])
      const outside = await download(url, { range: `bytes=${full.body.length + 10}-` })
      expectProblem(outside, 416, 'RANGE_NOT_SATISFIABLE')
      expect(outside.headers['content-range']).toBe(`bytes */${full.body.length}`)
    })

    it("lists an item's photos in order to anyone and lets only the owner reorder them", async () => {
      const ids: string[] = []
      for (const data of [bytes.png, bytes.photo]) {
        const res = await upload('POST', '/v1/items/item-2/photos', 'alice', [filePart(data)])
        expect(res.status).toBe(201)
        ids.push(res.json().id as string)
      }
      const listed = await call('GET', '/v1/items/item-2/photos')
      expect(listed.status).toBe(200)
      expect((listed.json().photos as Array<{ id: string; position: number }>).map((p) => [p.id, p.position])).toEqual([
        [ids[0], 0],
        [ids[1], 1],
      ])

      const reversed = [ids[1], ids[0]]
      expectProblem(
        await call('PUT', '/v1/items/item-2/photos/order', 'bob', { json: { fileIds: reversed } }),
        403,
        'FORBIDDEN',
      )
      expectProblem(
        await call('PUT', '/v1/items/item-2/photos/order', undefined, { json: { fileIds: reversed } }),
        401,
        'UNAUTHENTICATED',
      )
      expectProblem(
        await call('PUT', '/v1/items/item-2/photos/order', 'alice', { json: { fileIds: [ids[0]] } }),
        409,
        'CONFLICT',
      )
      expectProblem(
        await call('PUT', '/v1/items/item-2/photos/order', 'alice', { json: { fileIds: ['../x'] } }),
        400,
        'VALIDATION_FAILED',
      )
      const ok = await call('PUT', '/v1/items/item-2/photos/order', 'alice', { json: { fileIds: reversed } })
      expect(ok.status).toBe(200)
      expect((ok.json().photos as Array<{ id: string }>).map((p) => p.id)).toEqual(reversed)
      expect(
        ((await call('GET', '/v1/items/item-2/photos')).json().photos as Array<{ id: string }>).map((p) => p.id),
      ).toEqual(reversed)
      // Bob may not add photos to Alice's item.
      expectProblem(await upload('POST', '/v1/items/item-2/photos', 'bob', [filePart(bytes.png)]), 403, 'FORBIDDEN')
    })

    it('puts, replaces, reads and deletes a profile photo', async () => {
      const first = await upload('PUT', '/v1/users/me/profile-photo?wait=true', 'bob', [
        filePart(bytes.png, 'me.png', 'image/png'),
      ])
      expect(first.status).toBe(201)
      const firstView = first.json()
      expect(firstView).toMatchObject({ status: 'ready', ownerId: 'bob', entityType: 'profile' })
      const thumb = (firstView.variants as Array<{ variant: string; format: string; url: string }>).find(
        (v) => v.variant === 'thumbnail' && v.format === 'webp',
      )
      const got = await download(thumb?.url as string)
      expect(got.status).toBe(200)
      expect((await sharp(got.body).metadata()).format).toBe('webp')

      const second = await upload('PUT', '/v1/users/me/profile-photo?wait=true', 'bob', [filePart(bytes.photo)])
      expect(second.status).toBe(201)
      const secondId = second.json().id as string
      const current = await call('GET', '/v1/users/bob/profile-photo')
      expect([current.status, current.json().id]).toEqual([200, secondId])
      expect((await call('GET', '/v1/users/me/profile-photo', 'bob')).json().id).toBe(secondId)
      expectProblem(await call('GET', '/v1/users/me/profile-photo'), 401, 'UNAUTHENTICATED')
      expectProblem(await call('GET', `/v1/files/${firstView.id as string}`, 'bob'), 404, 'NOT_FOUND')
      await t.drain()
      expect(new Set((await objectKeys(t, 'profiles/bob/')).map((k) => k.split('/')[3]))).toEqual(new Set([secondId]))
      expect((await download(thumb?.url as string)).status).toBe(404)

      expectProblem(await call('DELETE', '/v1/users/bob/profile-photo', 'alice'), 403, 'FORBIDDEN')
      const deleted = await call('DELETE', '/v1/users/me/profile-photo', 'bob')
      expect([deleted.status, deleted.body.length]).toEqual([204, 0])
      expectProblem(await call('GET', '/v1/users/bob/profile-photo'), 404, 'NOT_FOUND')
      await t.drain()
      expect(await objectKeys(t, 'profiles/bob/')).toEqual([])
    })

    it(
      'keeps verification documents private: owner and admins only, signed URLs of at most 5 minutes, ' + 'attachments',
      async () => {
        const res = await upload('POST', '/v1/verification-documents', 'alice', [
          { name: 'type', data: 'passport' },
          filePart(bytes.pdf, 'Passport scan.pdf', 'application/pdf'),
        ])
        expect(res.status, res.body.toString()).toBe(201)
        const doc = res.json()
        expect(doc).toMatchObject({
          status: 'ready',
          accessLevel: 'private',
          documentType: 'passport',
          contentType: 'application/pdf',
          url: null,
        })
        expect((doc.variants as Array<{ url?: string }>).every((v) => v.url === undefined)).toBe(true)
        const id = doc.id as string
        expect(await objectKeys(t, `verification/alice/passport/${id}/`)).toEqual([
          `verification/alice/passport/${id}/Passport-scan.pdf`,
        ])

        expect(
          ((await call('GET', '/v1/verification-documents', 'alice')).json().documents as Array<{ id: string }>).map(
            (d) => d.id,
          ),
        ).toEqual([id])
        expectProblem(await call('GET', '/v1/verification-documents?userId=alice', 'bob'), 403, 'FORBIDDEN')
        expectProblem(await call('GET', '/v1/verification-documents'), 401, 'UNAUTHENTICATED')
        expect(
          (
            (await call('GET', '/v1/verification-documents?userId=alice', 'admin')).json().documents as Array<{
              id: string
            }>
          ).map((d) => d.id),
        ).toEqual([id])
        for (const who of ['bob', undefined] as const) {
          expectProblem(await call('GET', `/v1/files/${id}`, who), 404, 'NOT_FOUND')
          expectProblem(await call('GET', `/v1/files/${id}/url`, who), 404, 'NOT_FOUND')
        }
        expectProblem(await call('DELETE', `/v1/files/${id}`, 'bob'), 404, 'NOT_FOUND')
        // Deleting needs a caller before anything is looked up: the answer says nothing about the file.
        expectProblem(await call('DELETE', `/v1/files/${id}`), 401, 'UNAUTHENTICATED')
        expect((await call('GET', `/v1/files/${id}`, 'admin')).status).toBe(200)

        for (const who of ['alice', 'admin'] as const) {
          const grant = await call('GET', `/v1/files/${id}/url`, who)
          expect(grant.status).toBe(200)
          const { url, expiresAt } = grant.json() as { url: string; expiresAt: string }
          expect(Date.parse(expiresAt) - Date.now()).toBeLessThanOrEqual(300_000)
          expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(60_000)
          const got = await download(url)
          expect(got.status).toBe(200)
          // The document as validatePdf writes it out again (one definition per object).
          expect(got.body.equals((await validatePdf(bytes.pdf)).data)).toBe(true)
          expect(got.headers['content-disposition']).toMatch(/^attachment; filename="Passport scan.pdf"/)
          if (backend === 'embedded') {
            expect(url.startsWith(`${base}/files/verification/`)).toBe(true)
            expect(got.headers['x-content-type-options']).toBe('nosniff')
            expect(got.headers['cache-control']).toMatch(/private|no-store|max-age=604800/)
          }
        }
        const audit = (await t.audit(id)).map((a) => `${a.action}:${a.actorId}`)
        // The admin's GET of the metadata carried a signed URL too: every grant is audited.
        expect(audit).toEqual(['upload:alice', 'url_private:root', 'url_private:alice', 'url_private:root'])

        expectProblem(
          await upload('POST', '/v1/verification-documents', 'alice', [
            { name: 'type', data: 'selfie' },
            filePart(bytes.pdf, 'x.pdf', 'application/pdf'),
          ]),
          400,
          'VALIDATION_FAILED',
        )
        expectProblem(
          await upload('POST', '/v1/verification-documents', 'alice', [
            filePart(bytes.pdf, 'x.pdf', 'application/pdf'),
          ]),
          400,
          'VALIDATION_FAILED',
        )
      },
    )

    it('refuses expired, tampered and missing signatures with stable codes, and bad tokens with 401', async () => {
      const res = await upload('POST', '/v1/verification-documents', 'alice', [
        { name: 'type', data: 'id_card' },
        filePart(bytes.pdf, 'id.pdf', 'application/pdf'),
      ])
      const id = res.json().id as string
      const { url } = (await call('GET', `/v1/files/${id}/url`, 'alice')).json() as { url: string }
      const u = new URL(url)
      if (backend === 'embedded') {
        const sig = u.searchParams.get('sig') as string
        const tampered = new URL(url)
        tampered.searchParams.set('sig', `${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BB' : 'AA'}`)
        expectProblem(await download(tampered.toString()), 403, 'SIGNATURE_INVALID')
        const otherKey = new URL(url)
        otherKey.pathname = otherKey.pathname.replace('/id.pdf', '/other.pdf')
        expectProblem(await download(otherKey.toString()), 403, 'SIGNATURE_INVALID')
        expectProblem(await download(`${u.origin}${u.pathname}`), 403, 'SIGNATURE_INVALID')
        clockSkewMs = 6 * 60_000
        try {
          expectProblem(await download(url), 403, 'SIGNATURE_EXPIRED')
        } finally {
          clockSkewMs = 0
        }
        expect((await download(url)).status).toBe(200)
      } else {
        // radosgw checks its own signatures: S3's error document, never the object.
        const tampered = new URL(url)
        tampered.searchParams.set('X-Amz-Signature', '0'.repeat(64))
        const refused = await download(tampered.toString())
        expect(refused.status).toBe(403)
        expect(refused.body.toString()).toMatch(/SignatureDoesNotMatch|AccessDenied/)
        const short = await t.store.signedUrl(`verification/alice/id_card/${id}/id.pdf`, { expiresIn: 1 })
        await new Promise((r) => setTimeout(r, 2_100))
        const expired = await download(short)
        expect(expired.status).toBe(403)
        expect(expired.body.toString()).toMatch(/AccessDenied|expired/i)
      }

      const good = auth.alice.authorization as string
      const tamperedToken = `${good.slice(0, -4)}${good.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`
      const now = Math.floor(Date.now() / 1000)
      const expiredToken = `Bearer ${await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('alice')
        .setIssuer(t.config.auth.issuer)
        .setAudience(t.config.auth.audience)
        .setIssuedAt(now - 120)
        .setExpirationTime(now - 60)
        .sign(new TextEncoder().encode(t.config.auth.secret as string))}`
      for (const authorization of [tamperedToken, expiredToken, 'Bearer not.a.jwt']) {
        const r = await call('GET', `/v1/files/${id}`, undefined, { headers: { authorization } })
        expectProblem(r, 401, 'UNAUTHENTICATED')
        expect(r.headers['www-authenticate']).toMatch(/^Bearer .*error="invalid_token"/)
        // A bad token never falls back to anonymous, not even on public routes.
        expectProblem(
          await call('GET', '/v1/items/item-1/photos', undefined, { headers: { authorization } }),
          401,
          'UNAUTHENTICATED',
        )
      }
      expectProblem(
        await upload('POST', '/v1/items/item-anon/photos', undefined, [filePart(bytes.png)]),
        401,
        'UNAUTHENTICATED',
      )
    })

    it('GET /v1/files/:id and /url for a public photo; DELETE removes rows, objects and delivery', async () => {
      const res = await upload('POST', '/v1/items/item-3/photos?wait=true', 'alice', [filePart(bytes.photo)])
      const view = res.json()
      const id = view.id as string
      const meta = await call('GET', `/v1/files/${id}`)
      expect(meta.status).toBe(200)
      expect(meta.json()).toMatchObject({
        id,
        status: 'ready',
        width: 1800,
        height: 1200,
        placeholder: expect.any(String),
        dominantColor: expect.stringMatching(/^#[0-9a-f]{6}$/),
      })

      const grant = await call('GET', `/v1/files/${id}/url?variant=medium&format=webp`)
      expect(grant.status).toBe(200)
      const medium = await download(grant.json().url as string)
      const m = await sharp(medium.body).metadata()
      expect([medium.status, m.format, Math.max(m.width as number, m.height as number)]).toEqual([200, 'webp', 800])
      expectProblem(await call('GET', `/v1/files/${id}/url?variant=huge`), 404, 'NOT_FOUND')
      expectProblem(await call('GET', `/v1/files/${id}/url?format=bmp`), 400, 'VALIDATION_FAILED')

      expectProblem(await call('DELETE', `/v1/files/${id}`, 'bob'), 403, 'FORBIDDEN')
      expectProblem(await call('DELETE', `/v1/files/${id}`), 401, 'UNAUTHENTICATED')
      const deleted = await call('DELETE', `/v1/files/${id}`, 'alice')
      expect(deleted.status).toBe(204)
      expectProblem(await call('GET', `/v1/files/${id}`, 'alice'), 404, 'NOT_FOUND')
      expectProblem(await call('DELETE', `/v1/files/${id}`, 'alice'), 404, 'NOT_FOUND')
      await t.drain()
      expect(await objectKeys(t, `items/item-3/photos/${id}/`)).toEqual([])
      expectProblem(await download(view.url as string), 404, 'NOT_FOUND')
      const row = await t.db.selectFrom('files').select('status').where('id', '=', id).executeTakeFirst()
      expect(row?.status ?? 'deleted').toBe('deleted')
    })

    it('does a direct upload: presigned POST to the store, complete, temp object gone', async () => {
      const started = await call('POST', '/v1/uploads', 'alice', {
        json: { purpose: 'item_photo', itemId: 'item-9', fileName: 'big photo.jpg', contentType: 'image/jpeg' },
      })
      expect(started.status, started.body.toString()).toBe(201)
      const { id, url, fields } = started.json() as { id: string; url: string; fields: Record<string, string> }
      if (backend === 'embedded') expect(url).toBe(`${base}/uploads/direct`)
      else expect(url.startsWith(base)).toBe(false)

      const form = new FormData()
      for (const [k, v] of Object.entries(fields)) form.append(k, v)
      form.append('file', new Blob([bytes.photo], { type: 'image/jpeg' }), 'big photo.jpg')
      const posted = await fetch(url, { method: 'POST', body: form })
      expect(posted.status, await posted.clone().text()).toBeLessThan(300)
      expect(await objectKeys(t, `temp/uploads/${id}/`)).toHaveLength(1)

      expectProblem(await call('POST', `/v1/uploads/${id}/complete`, 'bob'), 404, 'NOT_FOUND')
      const done = await call('POST', `/v1/uploads/${id}/complete?wait=true`, 'alice')
      expect(done.status, done.body.toString()).toBe(201)
      const file = done.json()
      expect(file).toMatchObject({ status: 'ready', entityId: 'item-9', originalName: 'big photo.jpg' })
      expect(await objectKeys(t, `temp/uploads/${id}/`)).toEqual([])
      const thumb = (file.variants as Array<{ variant: string; format: string; url: string }>).find(
        (v) => v.variant === 'thumbnail' && v.format === 'jpeg',
      )
      const got = await download(thumb?.url as string)
      expect([got.status, (await sharp(got.body).metadata()).format]).toEqual([200, 'jpeg'])
      // Completing again answers with the same file.
      expect((await call('POST', `/v1/uploads/${id}/complete`, 'alice')).json().id).toBe(file.id)

      // A body other than the policy's content type, or over its size, never becomes a temp object.
      const second = (
        await call('POST', '/v1/uploads', 'alice', {
          json: { purpose: 'item_photo', itemId: 'item-9', contentType: 'image/png' },
        })
      ).json() as { id: string; url: string; fields: Record<string, string> }
      const tooBig = new FormData()
      for (const [k, v] of Object.entries(second.fields)) tooBig.append(k, v)
      tooBig.append(
        'file',
        new Blob([Buffer.alloc(t.config.images.maxBytes + 1024, 1)], { type: 'image/png' }),
        'x.png',
      )
      const refused = await fetch(second.url, { method: 'POST', body: tooBig }).catch(() => null)
      if (refused) expect(refused.status).toBeGreaterThanOrEqual(400)
      expect(await objectKeys(t, `temp/uploads/${second.id}/`)).toEqual([])
      expectProblem(await call('POST', `/v1/uploads/${second.id}/complete`, 'alice'), 400, 'VALIDATION_FAILED')
      expectProblem(
        await call('POST', '/v1/uploads', 'alice', { json: { purpose: 'item_photo' } }),
        400,
        'VALIDATION_FAILED',
      )
    })

    it('refuses hostile uploads with stable codes and leaves no object, row, job or temp file behind', async () => {
      // Earlier tests left an unfinished direct upload (it expires later): both snapshots count it.
      const before = await leftovers()
      const big = Buffer.alloc(t.config.images.maxBytes + 2 * 1024 * 1024, 0xff)
      big.set([0xff, 0xd8, 0xff, 0xe0], 0)
      const cases: Array<[string, Promise<Reply>, number, string]> = [
        [
          'BMP named .jpg, sent as image/jpeg',
          upload('POST', '/v1/items/item-h/photos', 'alice', [filePart(bytes.bmp, 'cat.jpg', 'image/jpeg')]),
          415,
          'UNSUPPORTED_TYPE',
        ],
        [
          'SVG named .png',
          upload('POST', '/v1/items/item-h/photos', 'alice', [filePart(bytes.svg, 'cat.png', 'image/png')]),
          415,
          'UNSUPPORTED_TYPE',
        ],
        [
          'HTML as a PDF document',
          upload('POST', '/v1/verification-documents', 'alice', [
            { name: 'type', data: 'passport' },
            filePart(Buffer.from('<html><script>alert(1)</script></html>'), 'p.pdf', 'application/pdf'),
          ]),
          415,
          'UNSUPPORTED_TYPE',
        ],
        ['oversized body', upload('POST', '/v1/items/item-h/photos', 'alice', [filePart(big)]), 413, 'FILE_TOO_LARGE'],
        [
          'truncated JPEG',
          upload('POST', '/v1/items/item-h/photos', 'alice', [filePart(bytes.truncated)]),
          422,
          'INVALID_IMAGE',
        ],
        [
          'zero bytes',
          upload('POST', '/v1/items/item-h/photos', 'alice', [filePart(Buffer.alloc(0))]),
          400,
          'EMPTY_FILE',
        ],
        [
          'two files in one form',
          upload('POST', '/v1/items/item-h/photos', 'alice', [
            filePart(bytes.png, 'a.png', 'image/png'),
            filePart(bytes.png, 'b.png', 'image/png'),
          ]),
          400,
          'VALIDATION_FAILED',
        ],
        [
          'file under another name',
          upload('POST', '/v1/items/item-h/photos', 'alice', [
            { name: 'photo', filename: 'a.png', contentType: 'image/png', data: bytes.png },
          ]),
          400,
          'VALIDATION_FAILED',
        ],
        [
          'not multipart',
          call('POST', '/v1/items/item-h/photos', 'alice', {
            headers: { 'content-type': 'image/png' },
            body: bytes.png,
          }),
          415,
          'UNSUPPORTED_TYPE',
        ],
        [
          'path traversal in item id',
          upload('POST', '/v1/items/..%2F..%2Fetc/photos', 'alice', [filePart(bytes.png)]),
          400,
          'VALIDATION_FAILED',
        ],
        [
          'dot-dot item id',
          upload('POST', '/v1/items/%2E%2E/photos', 'alice', [filePart(bytes.png)]),
          400,
          'VALIDATION_FAILED',
        ],
        ['control characters in a file id', call('GET', '/v1/files/a%00b', 'alice'), 400, 'VALIDATION_FAILED'],
        ['traversal in a file id', call('GET', '/v1/files/..%2F..%2Fsecrets', 'alice'), 400, 'VALIDATION_FAILED'],
        ['traversal in a delivery path', call('GET', '/files/items/..%2F..%2Fsecrets.json'), 404, 'NOT_FOUND'],
        [
          'encoded traversal to a private key',
          call('GET', '/files/items/x/photos/..%2F..%2F..%2Fverification/alice/passport/x/p.pdf'),
          404,
          'NOT_FOUND',
        ],
      ]
      const chunked = (parts: Part[]) => {
        // No Content-Length: Node sends it chunked, in 64 KiB pieces.
        const form = multipart(parts)
        const pieces: Buffer[] = []
        for (let i = 0; i < form.payload.length; i += 65_536) pieces.push(form.payload.subarray(i, i + 65_536))
        return call('POST', '/v1/items/item-h/photos', 'alice', { headers: form.headers, body: pieces })
      }
      cases.push(
        ['oversized chunked body', chunked([filePart(big)]), 413, 'FILE_TOO_LARGE'],
        [
          '10,000-part body',
          upload(
            'POST',
            '/v1/items/item-h/photos',
            'alice',
            Array.from({ length: 10_000 }, (_, i) => ({ name: `f${i}`, data: 'x' })),
          ),
          400,
          'VALIDATION_FAILED',
        ],
        [
          '65000×65000 frame header',
          upload('POST', '/v1/items/item-h/photos', 'alice', [filePart(await claimedJpeg(65_000, 65_000))]),
          422,
          'DIMENSIONS_TOO_LARGE',
        ],
        [
          '9000×9000 pixel flood',
          upload('POST', '/v1/items/item-h/photos', 'alice', [filePart(await claimedJpeg(9_000, 9_000))]),
          422,
          'DIMENSIONS_TOO_LARGE',
        ],
        [
          'unterminated multipart body',
          (() => {
            const f = multipart([filePart(bytes.png, 'a.png', 'image/png')], { terminate: false })
            return call('POST', '/v1/items/item-h/photos', 'alice', { headers: f.headers, body: f.payload })
          })(),
          400,
          'VALIDATION_FAILED',
        ],
        [
          'encrypted PDF',
          upload('POST', '/v1/verification-documents', 'alice', [
            { name: 'type', data: 'passport' },
            filePart(await readFile(fixture('docs/pdf-encrypted-password.pdf')), 'p.pdf', 'application/pdf'),
          ]),
          422,
          'INVALID_PDF',
        ],
      )
      const pdfCase = async (name: string, pdf: Buffer, status: number, code: string) => {
        cases.push([
          name,
          upload('POST', '/v1/verification-documents', 'alice', [
            { name: 'type', data: 'passport' },
            filePart(pdf, 'p.pdf', 'application/pdf'),
          ]),
          status,
          code,
        ])
      }
      // Scripted PDFs that a reader and a parser would read differently, actions that leave the
      // document, and compression bombs.
      await pdfCase(
        'PDF with a scripted object defined twice',
        rawPdf([
          { objects: [...BASE_OBJECTS, { num: 4, body: JS_ACTION }, { num: 4, body: GOTO_ACTION }], xref: { 4: 0 } },
        ]),
        422,
        'UNSAFE_PDF',
      )
      await pdfCase(
        'PDF with /GoToR to a UNC path',
        withOpenAction('<< /S /GoToR /F (\\\\\\\\attacker\\\\share\\\\x.pdf) /D [0 /Fit] >>'),
        422,
        'UNSAFE_PDF',
      )
      await pdfCase(
        'PDF with a /URI link',
        withLink('<< /S /URI /URI (https://attacker.example/) >>'),
        422,
        'UNSAFE_PDF',
      )
      await pdfCase(
        'PDF with /SubmitForm',
        withOpenAction('<< /S /SubmitForm /F << /FS /URL /F (https://attacker.example/) >> >>'),
        422,
        'UNSAFE_PDF',
      )
      await pdfCase('PDF with /Launch', withOpenAction('<< /S /Launch /F (cmd.exe) >>'), 422, 'UNSAFE_PDF')
      await pdfCase(
        'PDF compression bomb',
        withContentStream(await deflatedZeros(300 * 1024 * 1024), '/FlateDecode'),
        422,
        'PDF_LIMIT_EXCEEDED',
      )
      for (const [name, pending, status, code] of cases) {
        const res = await pending
        expect([name, res.status, res.json().code], res.body.toString()).toEqual([name, status, code])
        expectProblem(res, status, code)
      }
      // An unterminated body whose client goes quiet, then away: no crash, nothing kept.
      const form = multipart([filePart(bytes.png, 'a.png', 'image/png')], { terminate: false })
      const cut = await new Promise<number>((resolve) => {
        const req = httpRequest(
          `${base}/v1/items/item-h/photos`,
          {
            method: 'POST',
            headers: { ...auth.alice, ...form.headers, 'content-length': String(form.payload.length + 100) },
          },
          (res) => {
            res.resume()
            resolve(res.statusCode ?? 0)
          },
        )
        req.on('error', () => resolve(-1))
        req.write(form.payload)
        setTimeout(() => req.destroy(), 300)
      })
      expect([-1, 400]).toContain(cut)

      const after = await leftovers()
      expect(after).toEqual(before)
      expect((await call('GET', '/healthz')).status).toBe(200)
      expect((await call('GET', '/readyz')).status).toBe(200)
    })

    it('takes chunked bodies, strips polyglot payloads, and neutralises hostile display names', async () => {
      const form = multipart([
        filePart(Buffer.concat([bytes.photo, Buffer.from('<html><script>alert(1)</script></html>')]), 'IMG.jpg'),
      ])
      const pieces: Buffer[] = []
      for (let i = 0; i < form.payload.length; i += 16_384) pieces.push(form.payload.subarray(i, i + 16_384))
      const res = await call('POST', '/v1/items/item-c/photos', 'alice', { headers: form.headers, body: pieces })
      expect(res.status, res.body.toString()).toBe(201)
      const original = await download(res.json().url as string)
      expect(original.status).toBe(200)
      expect(original.body.includes('<script')).toBe(false)
      expect((await sharp(original.body).metadata()).format).toBe('jpeg')

      // Control characters, a bidi override and a path in the client's name: display only.
      const hostileName = '../../etc/\u0007pass\u202Efdp.exe'
      const doc = await upload('POST', '/v1/verification-documents', 'alice', [
        { name: 'type', data: 'drivers_license' },
        filePart(bytes.pdf, hostileName, 'application/pdf'),
      ])
      expect(doc.status, doc.body.toString()).toBe(201)
      const view = doc.json()
      expect(
        [...(view.originalName as string)].some(
          (c) => c.charCodeAt(0) < 0x20 || c === '\u202e' || c === '/' || c === '\\',
        ),
      ).toBe(false)
      const keys = await objectKeys(t, `verification/alice/drivers_license/${view.id as string}/`)
      expect(keys).toHaveLength(1)
      expect(keys[0]?.split('/').at(-1)).toMatch(/^[A-Za-z0-9._-]+$/)
      const { url } = (await call('GET', `/v1/files/${view.id as string}/url`, 'alice')).json() as { url: string }
      const got = await download(url)
      expect(got.status).toBe(200)
      // The stored document is the validated one written out again, not the upload's bytes.
      expect(got.body.subarray(0, 5).toString()).toBe('%PDF-')
      expect(got.body.equals(bytes.pdf)).toBe(false)
      expect((await scanPdf(got.body)).revisions).toBe(1)
      const disposition = got.headers['content-disposition'] as string
      expect(disposition).toMatch(/^attachment; filename="[\x20-\x7e]*"; filename\*=UTF-8''[A-Za-z0-9%!#$&+^_`|~.-]+$/)
      expect(disposition).not.toMatch(/\.\.\/|\/etc\//)
    })

    it(
      'answers the access matrix over HTTP: 6 callers × public, authenticated, private × metadata, URL, download, ' +
        'delete',
      async () => {
        const pub = (
          await upload('POST', '/v1/items/item-m1/photos?wait=true', 'alice', [
            filePart(bytes.png, 'p.png', 'image/png'),
          ])
        ).json()
        const authd = await t.makeAuthenticated(
          await t.files.uploadItemPhoto({ id: 'alice', role: 'user' }, 'item-m2', { body: bytes.png, wait: true }),
        )
        const priv = (
          await upload('POST', '/v1/verification-documents', 'alice', [
            { name: 'type', data: 'proof_of_address' },
            filePart(bytes.pdf, 'bill.pdf', 'application/pdf'),
          ])
        ).json()
        const now = Math.floor(Date.now() / 1000)
        const expired = await new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('alice')
          .setIssuer(t.config.auth.issuer)
          .setAudience(t.config.auth.audience)
          .setIssuedAt(now - 120)
          .setExpirationTime(now - 60)
          .sign(new TextEncoder().encode(t.config.auth.secret as string))
        const good = (auth.alice.authorization as string).slice('Bearer '.length)
        const [h, p] = good.split('.')
        // Same signature, payload claims to be an admin.
        const claims = { ...JSON.parse(Buffer.from(p as string, 'base64url').toString()), role: 'admin', sub: 'root' }
        const payload = Buffer.from(JSON.stringify(claims)).toString('base64url')
        const forged = `${h as string}.${payload}.${good.split('.')[2] as string}`
        const callers: Record<string, Record<string, string>> = {
          owner: auth.alice,
          other: auth.bob,
          admin: auth.admin,
          anonymous: {},
          expired: { authorization: `Bearer ${expired}` },
          tampered: { authorization: `Bearer ${forged}` },
        }
        const files = { public: pub, authenticated: authd as unknown as Record<string, unknown>, private: priv }
        const outcome = async (res: Reply) =>
          res.status < 300 ? res.status : `${res.status} ${String(res.json().code)}`
        const seen: Record<string, string> = {}
        for (const [level, f] of Object.entries(files)) {
          const key = (
            await t.db
              .selectFrom('files')
              .select('objects')
              .where('id', '=', f.id as string)
              .executeTakeFirstOrThrow()
          ).objects
          const original = (typeof key === 'string' ? JSON.parse(key) : key) as Array<{ key: string; variant: string }>
          const objectPath = `/files/${(original.find((o) => o.variant === 'original') as { key: string }).key}`
          for (const [who, headers] of Object.entries(callers)) {
            const meta = await outcome(await send(base, 'GET', `/v1/files/${f.id as string}`, { headers }))
            const url = await outcome(await send(base, 'GET', `/v1/files/${f.id as string}/url`, { headers }))
            // Delivery does not look at tokens: public objects for anyone, the rest only with a signature.
            const download = await outcome(await send(base, 'GET', objectPath, { headers }))
            seen[`${level} ${who}`] = `${meta} | ${url} | ${download}`
          }
        }
        const ok = '200 | 200'
        expect(seen).toEqual({
          'public owner': `${ok} | 200`,
          'public other': `${ok} | 200`,
          'public admin': `${ok} | 200`,
          'public anonymous': `${ok} | 200`,
          'public expired': '401 UNAUTHENTICATED | 401 UNAUTHENTICATED | 200',
          'public tampered': '401 UNAUTHENTICATED | 401 UNAUTHENTICATED | 200',
          // Known gap: no flow creates `authenticated` files yet (the level exists; the test flips a
          // stored item photo to it). Delivery decides by key prefix ("prefixes carry the policy"),
          // and this file's objects are under the public `items/`, so its bytes stay downloadable
          // unsigned. A flow that creates such files must give them a prefix of their own.
          'authenticated owner': `${ok} | 200`,
          'authenticated other': `${ok} | 200`,
          'authenticated admin': `${ok} | 200`,
          'authenticated anonymous': '401 UNAUTHENTICATED | 401 UNAUTHENTICATED | 200',
          'authenticated expired': '401 UNAUTHENTICATED | 401 UNAUTHENTICATED | 200',
          'authenticated tampered': '401 UNAUTHENTICATED | 401 UNAUTHENTICATED | 200',
          'private owner': `${ok} | 403 SIGNATURE_INVALID`,
          'private other': '404 NOT_FOUND | 404 NOT_FOUND | 403 SIGNATURE_INVALID',
          'private admin': `${ok} | 403 SIGNATURE_INVALID`,
          'private anonymous': '404 NOT_FOUND | 404 NOT_FOUND | 403 SIGNATURE_INVALID',
          'private expired': '401 UNAUTHENTICATED | 401 UNAUTHENTICATED | 403 SIGNATURE_INVALID',
          'private tampered': '401 UNAUTHENTICATED | 401 UNAUTHENTICATED | 403 SIGNATURE_INVALID',
        })
        // Deletes: everyone who may not first, then those who may.
        const deletes: Record<string, string | number> = {}
        for (const [level, f] of Object.entries(files)) {
          for (const who of ['other', 'anonymous', 'expired', 'tampered'])
            deletes[`${level} ${who}`] = await outcome(
              await send(base, 'DELETE', `/v1/files/${f.id as string}`, {
                headers: callers[who] as Record<string, string>,
              }),
            )
        }
        deletes['public owner'] = await outcome(await call('DELETE', `/v1/files/${pub.id as string}`, 'alice'))
        deletes['authenticated owner'] = await outcome(await call('DELETE', `/v1/files/${authd.id}`, 'alice'))
        deletes['private admin'] = await outcome(await call('DELETE', `/v1/files/${priv.id as string}`, 'admin'))
        expect(deletes).toEqual({
          'public other': '403 FORBIDDEN',
          'public anonymous': '401 UNAUTHENTICATED',
          'public expired': '401 UNAUTHENTICATED',
          'public tampered': '401 UNAUTHENTICATED',
          'authenticated other': '403 FORBIDDEN',
          'authenticated anonymous': '401 UNAUTHENTICATED',
          'authenticated expired': '401 UNAUTHENTICATED',
          'authenticated tampered': '401 UNAUTHENTICATED',
          'private other': '404 NOT_FOUND',
          'private anonymous': '401 UNAUTHENTICATED',
          'private expired': '401 UNAUTHENTICATED',
          'private tampered': '401 UNAUTHENTICATED',
          'public owner': 204,
          'authenticated owner': 204,
          'private admin': 204,
        })
        await t.drain()
        for (const f of Object.values(files))
          expect(
            await objectKeys(
              t,
              (
                await t.db
                  .selectFrom('files')
                  .select('key_prefix')
                  .where('id', '=', f.id as string)
                  .executeTakeFirstOrThrow()
              ).key_prefix,
            ),
          ).toEqual([])
      },
    )

    it('/readyz: 200 with every check ok; 503 naming the database, or the store, when it does not answer', async () => {
      const ready = await call('GET', '/readyz')
      expect(ready.status).toBe(200)
      expect(ready.json()).toMatchObject({
        status: 'ok',
        checks: { db: { status: 'ok' }, store: { status: 'ok' }, queue: { status: 'ok' } },
      })

      // Same service, but its database pool is closed and its store points where nothing answers.
      const closedDb = await createDatabase(t.config)
      await closedDb.destroy()
      const broken = loadConfig(
        backend === 'production'
          ? {
              DATA_DIR: t.config.dataDir,
              LOG_LEVEL: 'silent',
              STORAGE_DRIVER: 's3',
              S3_BUCKET: 'nowhere',
              S3_ENDPOINT: `http://127.0.0.1:${await freePort()}`,
              S3_FORCE_PATH_STYLE: 'true',
              AWS_ACCESS_KEY_ID: 'x',
              AWS_SECRET_ACCESS_KEY: 'y',
              S3_MAX_ATTEMPTS: '1',
            }
          : {
              DATA_DIR: t.config.dataDir,
              LOG_LEVEL: 'silent',
              STORAGE_DISK_ROOT: join(t.config.dataDir, 'secrets.json', 'not-a-folder'),
            },
      )
      // Counted as createStorage counts them (store failures with a 5xx code).
      const sickMetrics = createMetrics()
      const brokenStore = createObjectStore(broken, {
        onError: (operation, error) => {
          if (error.status >= 500) sickMetrics.storeErrors.inc({ operation, code: error.code })
        },
      })
      const sick = buildHttpApp({
        config: t.config,
        files: t.files,
        store: t.store,
        logger: false,
        metrics: sickMetrics,
        health: { ...t.health, db: () => pingDatabase(closedDb), store: () => brokenStore.ping() },
      })
      try {
        await sick.listen({ host: '127.0.0.1', port: 0 })
        const res = await send(`http://127.0.0.1:${(sick.server.address() as AddressInfo).port}`, 'GET', '/readyz')
        expect(res.status).toBe(503)
        expect(res.headers['retry-after']).toBeDefined()
        const body = res.json() as { status: string; checks: Record<string, { status: string; code?: string }> }
        expect(body.status).toBe('unavailable')
        expect(body.checks.db).toMatchObject({ status: 'fail', code: expect.any(String) })
        expect(body.checks.store).toMatchObject({ status: 'fail', code: expect.any(String) })
        expect(body.checks.queue?.status).toBe('ok')
        expect(res.body.toString()).not.toMatch(/127\.0\.0\.1|\/tmp\//)
        const scraped = await send(`http://127.0.0.1:${(sick.server.address() as AddressInfo).port}`, 'GET', '/metrics')
        expect(scraped.body.toString()).toMatch(
          /^localex_store_errors_total\{operation="ping",code="STORE_[A-Z_]+"\} [1-9]/m,
        )
      } finally {
        await sick.close()
        await brokenStore.close()
      }
    })

    it('/metrics has request, upload and pipeline stage metrics after uploads; /docs serves OpenAPI', async () => {
      const res = await call('GET', '/metrics')
      expect(res.status).toBe(200)
      const text = res.body.toString()
      const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 'NaN')
      expect(value(/^localex_upload_bytes_count\{purpose="item_photo"\} (\d+)/m)).toBeGreaterThan(3)
      expect(
        value(/^localex_upload_duration_seconds_count\{purpose="item_photo",outcome="ok"\} (\d+)/m),
      ).toBeGreaterThan(3)
      expect(
        value(/^localex_upload_duration_seconds_count\{purpose="item_photo",outcome="UNSUPPORTED_TYPE"\} (\d+)/m),
      ).toBeGreaterThan(0)
      expect(
        value(
          /^localex_http_requests_total\{method="POST",route="\/v1\/items\/:itemId\/photos",status_code="201"\} (\d+)/m,
        ),
      ).toBeGreaterThan(3)
      const stages = [...text.matchAll(/^localex_pipeline_stage_duration_seconds_count\{stage="([^"]+)"\} (\d+)/gm)]
        .filter((m) => Number(m[2]) > 0)
        .map((m) => m[1])
      expect(
        stages.length,
        text
          .split('\n')
          .filter((l) => l.includes('pipeline'))
          .join('\n'),
      ).toBeGreaterThan(1)
      expect(text).toMatch(/^localex_queue_depth\{state="[a-z]+"\} \d+/m)

      const docs = await call('GET', '/docs')
      expect(docs.status === 200 || docs.status === 302).toBe(true)
      const ui = await call('GET', '/docs/')
      expect([ui.status, ui.headers['content-type']]).toEqual([200, expect.stringMatching(/text\/html/)])
      const spec = (await call('GET', '/docs/json')).json() as {
        openapi: string
        paths: Record<string, Record<string, unknown>>
      }
      expect(spec.openapi).toMatch(/^3\./)
      for (const [path, method] of [
        ['/v1/items/{itemId}/photos', 'post'],
        ['/v1/items/{itemId}/photos/order', 'put'],
        ['/v1/users/me/profile-photo', 'put'],
        ['/v1/users/{userId}/profile-photo', 'delete'],
        ['/v1/verification-documents', 'post'],
        ['/v1/files/{id}', 'get'],
        ['/v1/files/{id}/url', 'get'],
        ['/v1/uploads', 'post'],
        ['/v1/uploads/{id}/complete', 'post'],
        ['/readyz', 'get'],
      ] as const) {
        expect(spec.paths[path]?.[method], `${method} ${path}`).toBeDefined()
      }
    })
  })
}

afterAll(() => {
  // A worker process may run other test files after this one.
  if (PREVIOUS_TMPDIR === undefined) delete process.env.TMPDIR
  else process.env.TMPDIR = PREVIOUS_TMPDIR
  rmSync(TMP, { recursive: true, force: true })
})
