import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isLocalexError, type ErrorCode } from '../../src/errors/index.js'
import { newId } from '../../src/storage/keys.js'
import { mapLimit } from '../../src/lib/index.js'
import { compareKeys } from '../../src/storage/streams.js'
import type { ListEntry, ObjectStore } from '../../src/storage/types.js'

/**
 * The contract every ObjectStore driver passes, run against real backends (disk in a temp folder,
 * S3 on radosgw). Each case works under its own random prefix, so cases never see each other's
 * objects, and each asserts something a broken driver gets wrong.
 */
export interface ContractSubject {
  /** The store as the application gets it (createObjectStore). */
  store: ObjectStore
  /** The bare driver behind it: key checks are asserted on both. */
  driver: ObjectStore
  /** Anything a failed write left behind: open multipart uploads (S3), temp files (disk). */
  leftovers(): Promise<string[]>
  /** Files that appeared outside the store since it was created (disk: next to its root). */
  writtenOutside?(): Promise<string[]>
  cleanup(): Promise<void>
}

const MiB = 1024 * 1024
/** Keys that try to leave the store or smuggle bytes a filesystem or a header would misread. */
export const UNSAFE_KEYS = [
  '../x',
  '/abs',
  'a/../../b',
  'a\0b',
  'a\\b',
  'a\nb',
  'a\u0007b',
  'a\u007fb',
  '',
  './x',
  'a//b',
  'C:/x',
]

export function objectStoreContract(name: string, factory: () => Promise<ContractSubject>): void {
  describe(`${name}: ObjectStore contract`, () => {
    let subject: ContractSubject
    let store: ObjectStore
    const p = `contract-${newId()}/`
    beforeAll(async () => {
      subject = await factory()
      store = subject.store
    })
    afterAll(async () => {
      await subject?.cleanup()
    })

    it('round-trips bytes and headers from a Buffer', async () => {
      const key = `${p}round/trip.bin`
      const bytes = randomBytes(64 * 1024 + 7)
      const before = Date.now()
      const put = await store.put(key, bytes, {
        contentType: 'image/jpeg',
        cacheControl: 'public, max-age=60',
        contentDisposition: 'inline; filename="trip.jpg"',
        metadata: { owner: 'user-1', purpose: 'test' },
      })
      const md5 = `"${createHash('md5').update(bytes).digest('hex')}"`
      expect(put).toMatchObject({ key, size: bytes.length, etag: md5 })
      const head = await store.head(key)
      expect(head).toMatchObject({
        key,
        size: bytes.length,
        contentType: 'image/jpeg',
        cacheControl: 'public, max-age=60',
        contentDisposition: 'inline; filename="trip.jpg"',
        metadata: { owner: 'user-1', purpose: 'test' },
        etag: md5,
      })
      // Second-granular stores (S3) round lastModified down.
      expect(head.lastModified.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 2000)
      expect(head.lastModified.getTime()).toBeLessThanOrEqual(Date.now() + 2000)
      expect((await store.getBuffer(key)).equals(bytes)).toBe(true)
      const got = await store.getStream(key)
      expect(got).toMatchObject({
        size: bytes.length,
        contentType: 'image/jpeg',
        etag: md5,
        metadata: { owner: 'user-1' },
      })
      expect((await readAll(got.body)).equals(bytes)).toBe(true)
      expect(await store.exists(key)).toBe(true)
    })

    it('defaults the content type and overwrites an existing key', async () => {
      const key = `${p}overwrite`
      await store.put(key, Buffer.from('first'))
      await store.put(key, Buffer.from('second, longer'), { contentType: 'text/plain' })
      expect((await store.getBuffer(key)).toString()).toBe('second, longer')
      const head = await store.head(key)
      expect(head.contentType).toBe('text/plain')
      expect(head.size).toBe(14)
      await store.put(`${p}untyped`, Buffer.from('x'))
      expect((await store.head(`${p}untyped`)).contentType).toBe('application/octet-stream')
    })

    it('stores stream bodies of known and unknown length, and empty objects', async () => {
      const bytes = randomBytes(300 * 1024)
      await store.put(`${p}stream/known`, chunked(bytes, 64 * 1024), { contentLength: bytes.length })
      await store.put(`${p}stream/unknown`, chunked(bytes, 50_000))
      expect((await store.getBuffer(`${p}stream/known`)).equals(bytes)).toBe(true)
      expect((await store.getBuffer(`${p}stream/unknown`)).equals(bytes)).toBe(true)
      await store.put(`${p}stream/empty`, Buffer.alloc(0))
      expect((await store.head(`${p}stream/empty`)).size).toBe(0)
      expect((await store.getBuffer(`${p}stream/empty`)).length).toBe(0)
    })

    it('refuses a stream that is shorter than its declared length, storing nothing', async () => {
      const key = `${p}stream/short`
      await expect(store.put(key, chunked(randomBytes(1000), 100), { contentLength: 2000 })).rejects.toSatisfy(
        isLocalexError,
      )
      expect(await store.exists(key)).toBe(false)
      expect(await subject.leftovers()).toEqual([])
    })

    it('reads byte ranges: middle, open-ended, and refuses one past the end', async () => {
      const key = `${p}range.bin`
      const bytes = randomBytes(1000)
      await store.put(key, bytes, { contentType: 'application/x-test' })
      const middle = await store.getStream(key, { range: { start: 100, end: 199 } })
      expect(middle.range).toEqual({ start: 100, end: 199, total: 1000 })
      expect(middle.size).toBe(1000)
      expect((await readAll(middle.body)).equals(bytes.subarray(100, 200))).toBe(true)
      const open = await store.getStream(key, { range: { start: 900 } })
      expect(open.range).toEqual({ start: 900, end: 999, total: 1000 })
      expect((await readAll(open.body)).equals(bytes.subarray(900))).toBe(true)
      // An end past the object is cut to the object, as HTTP does.
      expect((await store.getBuffer(key, { range: { start: 990, end: 5000 } })).equals(bytes.subarray(990))).toBe(true)
      await expectCode(store.getStream(key, { range: { start: 1000 } }), 'RANGE_NOT_SATISFIABLE')
      await expectCode(store.getBuffer(key, { range: { start: 5000, end: 6000 } }), 'RANGE_NOT_SATISFIABLE')
    })

    it('uploads 20 MB from a stream of unknown length, reporting progress up to the total', async () => {
      const key = `${p}large/20mb.bin`
      const size = 20 * MiB
      const hash = createHash('md5')
      const body = Readable.from(generate(size, 256 * 1024, (chunk) => hash.update(chunk)))
      const events: { loaded: number; total?: number }[] = []
      const put = await store.put(key, body, {
        contentType: 'application/octet-stream',
        onProgress: (e) => events.push({ ...e }),
      })
      expect(put.size).toBe(size)
      expect(put.etag).toMatch(/^".+"$/)
      expect(events.length).toBeGreaterThan(1)
      for (let i = 1; i < events.length; i++) expect(events[i]!.loaded).toBeGreaterThanOrEqual(events[i - 1]!.loaded)
      expect(events[0]!.loaded).toBeLessThan(size)
      expect(events.at(-1)).toEqual({ loaded: size, total: size })
      const head = await store.head(key)
      expect(head.size).toBe(size)
      expect(head.etag).toBe(put.etag)
      const { body: stored } = await store.getStream(key)
      const readBack = createHash('md5')
      for await (const chunk of stored) readBack.update(chunk as Buffer)
      expect(readBack.digest('hex')).toBe(hash.digest('hex'))
      expect(await subject.leftovers()).toEqual([])
    })

    it('leaves nothing behind when an upload is aborted mid-way', async () => {
      const key = `${p}aborted.bin`
      const controller = new AbortController()
      const source = Readable.from(endless(256 * 1024, 2))
      let progressed = 0
      const put = store.put(key, source, {
        signal: controller.signal,
        // Abort once the store has taken bytes (S3: a part is up, so a multipart upload is open).
        onProgress: (e) => {
          progressed = e.loaded
          controller.abort(new Error('user cancelled'))
        },
      })
      await expectCode(put, 'ABORTED')
      expect(progressed).toBeGreaterThan(0)
      expect(source.destroyed).toBe(true)
      expect(await store.exists(key)).toBe(false)
      expect(await subject.leftovers()).toEqual([])
    })

    it('leaves nothing behind when the body stream fails mid-way', async () => {
      const key = `${p}failing.bin`
      let progressed = false
      const boom = new Error('source failed')
      const source = Readable.from(
        (async function* () {
          const chunk = randomBytes(256 * 1024)
          for (let i = 0; ; i++) {
            if (progressed && i > 24) throw boom
            yield chunk
            await sleep(1)
          }
        })(),
      )
      const put = store.put(key, source, {
        onProgress: () => {
          progressed = true
        },
      })
      const error = await put.then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isLocalexError(error)).toBe(true)
      expect(causeChain(error)).toContain(boom)
      expect(progressed).toBe(true)
      expect(await store.exists(key)).toBe(false)
      expect(await subject.leftovers()).toEqual([])
    })

    it('rejects an already aborted call before doing anything', async () => {
      const controller = new AbortController()
      controller.abort()
      await expectCode(store.put(`${p}never`, Buffer.from('x'), { signal: controller.signal }), 'ABORTED')
      await expectCode(store.head(`${p}never`, { signal: controller.signal }), 'ABORTED')
      expect(await store.exists(`${p}never`)).toBe(false)
    })

    it('ifNoneMatch refuses to overwrite an existing key and keeps its bytes', async () => {
      if (!store.capabilities.conditionalPut) return
      const key = `${p}once`
      await store.put(key, Buffer.from('original'), { ifNoneMatch: true, contentType: 'text/plain' })
      await expectCode(store.put(key, Buffer.from('replacement'), { ifNoneMatch: true }), 'PRECONDITION_FAILED')
      await expectCode(store.put(key, chunked(randomBytes(6 * MiB), MiB), { ifNoneMatch: true }), 'PRECONDITION_FAILED')
      expect((await store.getBuffer(key)).toString()).toBe('original')
      expect((await store.head(key)).contentType).toBe('text/plain')
      expect(await subject.leftovers()).toEqual([])
    })

    it('ifNoneMatch lets exactly one of several concurrent writers win', async () => {
      if (!store.capabilities.conditionalPut) return
      const key = `${p}race`
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) => store.put(key, Buffer.from(`writer ${i}`), { ifNoneMatch: true })),
      )
      const won = results.filter((r) => r.status === 'fulfilled')
      expect(won).toHaveLength(1)
      for (const r of results)
        if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'PRECONDITION_FAILED' })
      expect((await store.getBuffer(key)).toString()).toMatch(/^writer \d$/)
    })

    describe('with 1,500 keys', () => {
      const base = `${p}many/`
      const keys: string[] = []
      for (let g = 0; g < 15; g++)
        for (let i = 0; i < 100; i++)
          keys.push(`${base}g${String(g).padStart(2, '0')}/${String(i).padStart(4, '0')}.txt`)
      keys.push(`${base}top-a.txt`, `${base}top-b.txt`, `${base}g05.txt`)
      const sorted = [...keys].sort(compareKeys)

      beforeAll(async () => {
        await mapLimit(keys, 16, (key) => store.put(key, Buffer.from(key), { contentType: 'text/plain' }))
      })

      it('lists everything under a prefix, in key order, paging transparently', async () => {
        const entries = await collect(store.list(base, { pageSize: 400 }))
        expect(entries.every((e) => e.type === 'object')).toBe(true)
        expect(entries.map(keyOf)).toEqual(sorted)
        const first = entries[0] as Extract<ListEntry, { type: 'object' }>
        expect(first.size).toBe(Buffer.byteLength(first.key))
        expect(first.lastModified).toBeInstanceOf(Date)
        // Default page size (S3: 1,000 a page) too.
        expect((await collect(store.list(base))).length).toBe(keys.length)
      })

      it('lists a prefix that ends inside a segment', async () => {
        const entries = await collect(store.list(`${base}g0`))
        const expected = sorted.filter((k) => k.startsWith(`${base}g0`))
        expect(expected.length).toBe(1001)
        expect(entries.map(keyOf)).toEqual(expected)
      })

      it('groups by delimiter into common prefixes', async () => {
        const entries = await collect(store.list(base, { delimiter: '/' }))
        const groups = Array.from({ length: 15 }, (_, g) => ({
          type: 'prefix',
          prefix: `${base}g${String(g).padStart(2, '0')}/`,
        }))
        const expected = [
          ...groups.map((e) => e.prefix),
          `${base}g05.txt`,
          `${base}top-a.txt`,
          `${base}top-b.txt`,
        ].sort(compareKeys)
        expect(entries.map(keyOf)).toEqual(expected)
        expect(entries.filter((e) => e.type === 'prefix')).toHaveLength(15)
        // A delimiter other than '/', under a prefix that is not a folder.
        const dashed = await collect(store.list(`${base}to`, { delimiter: '-' }))
        expect(dashed).toEqual([{ type: 'prefix', prefix: `${base}top-` }])
        // Nothing under a prefix that matches nothing.
        expect(await collect(store.list(`${base}zzz/`, { delimiter: '/' }))).toEqual([])
      })

      it('starts after a given key', async () => {
        const after = `${base}g07/0050.txt`
        const entries = await collect(store.list(base, { startAfter: after }))
        expect(entries.map(keyOf)).toEqual(sorted.filter((k) => compareKeys(k, after) > 0))
        // S3 semantics: a startAfter that is itself a common prefix skips that group.
        const grouped = await collect(store.list(base, { startAfter: `${base}g13/`, delimiter: '/' }))
        expect(grouped.map(keyOf)).toEqual([`${base}g14/`, `${base}top-a.txt`, `${base}top-b.txt`])
        const inside = await collect(store.list(base, { startAfter: `${base}g13/0099.txt`, delimiter: '/' }))
        expect(inside.map(keyOf)).toEqual([`${base}g14/`, `${base}top-a.txt`, `${base}top-b.txt`])
      })

      it('stops listing when the consumer stops', async () => {
        let seen = 0
        for await (const _ of store.list(base, { pageSize: 100 })) {
          if (++seen === 150) break
        }
        expect(seen).toBe(150)
      })

      it('deletes all of them with deleteMany, missing keys counting as deleted', async () => {
        const missing = [`${base}missing-1`, `${base}g00/missing-2`]
        const result = await store.deleteMany([...keys, ...missing])
        expect(result.failed).toEqual([])
        expect(new Set(result.deleted)).toEqual(new Set([...keys, ...missing]))
        expect(await collect(store.list(base))).toEqual([])
        expect(await store.exists(keys[0]!)).toBe(false)
        expect(await store.deleteMany([])).toEqual({ deleted: [], failed: [] })
      })
    })

    it('copies with bytes and metadata, and moves (the source goes)', async () => {
      const from = `${p}copy/source ü+&=.bin`
      const bytes = randomBytes(2048)
      await store.put(from, bytes, {
        contentType: 'image/png',
        cacheControl: 'no-store',
        contentDisposition: 'attachment',
        metadata: { a: '1', b: 'two' },
      })
      await store.copy(from, `${p}copy/dest with space & ü.bin`)
      const source = await store.head(from)
      const copied = await store.head(`${p}copy/dest with space & ü.bin`)
      expect(copied).toMatchObject({
        size: 2048,
        contentType: 'image/png',
        cacheControl: 'no-store',
        contentDisposition: 'attachment',
        metadata: { a: '1', b: 'two' },
        etag: source.etag,
      })
      expect((await store.getBuffer(`${p}copy/dest with space & ü.bin`)).equals(bytes)).toBe(true)
      expect(await store.exists(from)).toBe(true)

      await store.move(from, `${p}moved/target.bin`)
      expect(await store.exists(from)).toBe(false)
      expect(await store.head(`${p}moved/target.bin`)).toMatchObject({
        size: 2048,
        contentType: 'image/png',
        metadata: { a: '1', b: 'two' },
      })
      expect((await store.getBuffer(`${p}moved/target.bin`)).equals(bytes)).toBe(true)
      // Overwriting an existing target.
      await store.put(`${p}copy/other`, Buffer.from('other'))
      await store.copy(`${p}copy/other`, `${p}moved/target.bin`)
      expect((await store.getBuffer(`${p}moved/target.bin`)).toString()).toBe('other')
    })

    it('reports a missing key as OBJECT_NOT_FOUND, exists false, delete succeeding', async () => {
      const key = `${p}missing/nothing-here`
      await expectCode(store.getStream(key), 'OBJECT_NOT_FOUND')
      await expectCode(store.getBuffer(key), 'OBJECT_NOT_FOUND')
      await expectCode(store.head(key), 'OBJECT_NOT_FOUND')
      await expectCode(store.copy(key, `${p}missing/copy`), 'OBJECT_NOT_FOUND')
      await expectCode(store.move(key, `${p}missing/moved`), 'OBJECT_NOT_FOUND')
      const error = await store.head(key).catch((e: unknown) => e)
      expect(error).toMatchObject({ details: { key } })
      expect(await store.exists(key)).toBe(false)
      await expect(store.delete(key)).resolves.toBeUndefined()
      expect(await store.exists(`${p}missing/copy`)).toBe(false)
      // A prefix of existing keys is not an object.
      await store.put(`${p}missing/dir/file`, Buffer.from('x'))
      await expectCode(store.head(`${p}missing/dir`), 'OBJECT_NOT_FOUND')
      expect(await store.exists(`${p}missing/dir`)).toBe(false)
      await store.delete(`${p}missing/dir`)
      expect(await store.exists(`${p}missing/dir/file`)).toBe(true)
    })

    describe('signed URLs', () => {
      const key = `${p}signed/photo one.jpg`
      const other = `${p}signed/other.jpg`
      const bytes = randomBytes(10_000)
      beforeAll(async () => {
        await store.put(key, bytes, { contentType: 'image/jpeg', cacheControl: 'private, max-age=60' })
        await store.put(other, randomBytes(100), { contentType: 'image/jpeg' })
      })

      it('a signed GET URL serves the object, with the asked Content-Disposition and ranges', async () => {
        const url = await store.signedUrl(key, {
          expiresIn: 300,
          responseContentDisposition: 'attachment; filename="photo.jpg"',
        })
        const res = await fetch(url)
        expect(res.status).toBe(200)
        expect(res.headers.get('content-disposition')).toBe('attachment; filename="photo.jpg"')
        expect(res.headers.get('content-type')).toBe('image/jpeg')
        expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true)
        const ranged = await fetch(url, { headers: { Range: 'bytes=10-19' } })
        expect(ranged.status).toBe(206)
        expect(Buffer.from(await ranged.arrayBuffer()).equals(bytes.subarray(10, 20))).toBe(true)
        const plain = await fetch(
          await store.signedUrl(key, { expiresIn: 300, responseContentType: 'application/octet-stream' }),
        )
        expect(plain.status).toBe(200)
        expect(plain.headers.get('content-type')).toBe('application/octet-stream')
        await plain.arrayBuffer()
      })

      it('a tampered URL is refused with 403: other key, changed signature, changed expiry', async () => {
        const url = new URL(await store.signedUrl(key, { expiresIn: 300 }))
        const otherPath = url.pathname.replace(/[^/]+$/, 'other.jpg')
        expect(otherPath).not.toBe(url.pathname)
        const tampered = [
          withPath(url, otherPath),
          withParam(url, /^(sig|x-amz-signature)$/i, (v) => (v[0] === 'A' ? 'B' : 'A') + v.slice(1)),
          withParam(url, /expires/i, (v) => String(Number(v) + 1000)),
          withParam(url, /expires/i, (v) => String(Number(v) - 1)),
        ]
        for (const bad of tampered) {
          const res = await fetch(bad)
          await res.arrayBuffer()
          expect(res.status, bad).toBe(403)
        }
        const good = await fetch(url)
        await good.arrayBuffer()
        expect(good.status).toBe(200)
      })

      it('a signed URL stops working once expired', async () => {
        const url = await store.signedUrl(key, { expiresIn: 1 })
        await sleep(2_200)
        const res = await fetch(url)
        await res.arrayBuffer()
        expect(res.status).toBe(403)
      })

      it('a presigned PUT uploads with fetch', async () => {
        const target = `${p}signed/put.txt`
        const { url, method, headers } = await store.presignedPut(target, { expiresIn: 300, contentType: 'text/plain' })
        expect(method).toBe('PUT')
        const res = await fetch(url, { method, headers, body: 'sent straight to the store' })
        await res.arrayBuffer()
        expect(res.status).toBe(200)
        expect((await store.getBuffer(target)).toString()).toBe('sent straight to the store')
        expect((await store.head(target)).contentType).toBe('text/plain')
        // The signed Content-Type is binding.
        const wrong = await fetch(url, { method, headers: { 'Content-Type': 'text/html' }, body: '<script>' })
        await wrong.arrayBuffer()
        expect(wrong.status).toBe(403)
        expect((await store.getBuffer(target)).toString()).toBe('sent straight to the store')
      })

      it('a presigned POST accepts a file within its size range and refuses one over it', async () => {
        const target = `${p}signed/post.bin`
        const post = await store.presignedPost(target, {
          expiresIn: 300,
          contentLengthRange: { min: 1, max: 1024 },
          contentType: 'image/png',
        })
        const small = randomBytes(1000)
        const ok = await fetch(post.url, { method: 'POST', body: form(post.fields, small, 'image/png') })
        await ok.arrayBuffer()
        expect(ok.status).toBeGreaterThanOrEqual(200)
        expect(ok.status).toBeLessThan(300)
        expect((await store.getBuffer(target)).equals(small)).toBe(true)
        expect((await store.head(target)).contentType).toBe('image/png')

        const bigTarget = `${p}signed/post-big.bin`
        const big = await store.presignedPost(bigTarget, {
          expiresIn: 300,
          contentLengthRange: { min: 1, max: 1024 },
          contentType: 'image/png',
        })
        const refused = await fetch(big.url, {
          method: 'POST',
          body: form(big.fields, randomBytes(200 * 1024), 'image/png'),
        })
        await refused.arrayBuffer()
        expect(refused.status).toBeGreaterThanOrEqual(400)
        expect(refused.status).toBeLessThan(500)
        expect(await store.exists(bigTarget)).toBe(false)

        // The policy binds the key and the Content-Type.
        const otherKey = await fetch(post.url, {
          method: 'POST',
          body: form({ ...post.fields, key: `${p}signed/elsewhere` }, small, 'image/png'),
        })
        await otherKey.arrayBuffer()
        expect(otherKey.status).toBe(403)
        const otherType = await fetch(post.url, {
          method: 'POST',
          body: form({ ...post.fields, 'Content-Type': 'text/html' }, small, 'text/html'),
        })
        await otherType.arrayBuffer()
        expect(otherType.status).toBe(403)
        expect(await store.exists(`${p}signed/elsewhere`)).toBe(false)
        expect(await subject.leftovers()).toEqual([])
      })
    })

    it('refuses keys that try to escape, in every method of the facade and of the driver', async () => {
      await store.put(`${p}safe`, Buffer.from('safe'))
      const before = (await subject.writtenOutside?.()) ?? []
      for (const target of [subject.store, subject.driver]) {
        for (const bad of UNSAFE_KEYS) {
          const calls: [string, () => Promise<unknown>][] = [
            ['put', () => target.put(bad, Buffer.from('evil'))],
            ['put stream', () => target.put(bad, Readable.from([Buffer.from('evil')]))],
            ['getStream', () => target.getStream(bad)],
            ['getBuffer', () => target.getBuffer(bad)],
            ['head', () => target.head(bad)],
            ['exists', () => target.exists(bad)],
            ['delete', () => target.delete(bad)],
            ['deleteMany', () => target.deleteMany([`${p}safe`, bad])],
            ['copy from', () => target.copy(bad, `${p}copied`)],
            ['copy to', () => target.copy(`${p}safe`, bad)],
            ['move from', () => target.move(bad, `${p}moved`)],
            ['move to', () => target.move(`${p}safe`, bad)],
            ['signedUrl', () => target.signedUrl(bad, { expiresIn: 60 })],
            ['presignedPut', () => target.presignedPut(bad, { expiresIn: 60 })],
            [
              'presignedPost',
              () => target.presignedPost(bad, { expiresIn: 60, contentLengthRange: { min: 0, max: 10 } }),
            ],
          ]
          if (bad !== '') calls.push(['list', () => collect(target.list(bad))])
          for (const [method, call] of calls) {
            const error = await call().then(
              () => undefined,
              (e: unknown) => e,
            )
            expect(error, `${method}(${JSON.stringify(bad)})`).toMatchObject({ code: 'UNSAFE_KEY' })
          }
        }
      }
      // deleteMany refused the whole call; the safe key is still there and nothing moved.
      expect((await store.getBuffer(`${p}safe`)).toString()).toBe('safe')
      expect(await store.exists(`${p}copied`)).toBe(false)
      expect(await store.exists(`${p}moved`)).toBe(false)
      expect((await subject.writtenOutside?.()) ?? []).toEqual(before)
    })

    it('answers ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined()
    })
  })
}

// Helpers

export async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error, `expected ${code}`).toMatchObject({ code })
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of iterable) out.push(item)
  return out
}

export async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

function keyOf(entry: ListEntry): string {
  return entry.type === 'object' ? entry.key : entry.prefix
}

/** A stream of `bytes` in chunks of `size`, as a network body would arrive. */
export function chunked(bytes: Buffer, size: number): Readable {
  const chunks: Buffer[] = []
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size))
  return Readable.from(chunks)
}

/** `total` pseudo-random bytes in chunks of `chunk`, each seen by `tap`; never all in memory. */
export async function* generate(total: number, chunk: number, tap?: (c: Buffer) => void): AsyncGenerator<Buffer> {
  const seed = randomBytes(chunk)
  for (let sent = 0, i = 0; sent < total; i++) {
    const c = Buffer.from(seed.subarray(0, Math.min(chunk, total - sent)))
    c.writeUInt32BE(i, 0)
    tap?.(c)
    sent += c.length
    yield c
  }
}

/** A body that never ends on its own, yielding a chunk every `delayMs`. */
async function* endless(chunk: number, delayMs: number): AsyncGenerator<Buffer> {
  const c = randomBytes(chunk)
  for (;;) {
    yield c
    await sleep(delayMs)
  }
}

function form(fields: Record<string, string>, file: Buffer, type: string): FormData {
  const data = new FormData()
  for (const [k, v] of Object.entries(fields)) data.append(k, v)
  data.append('file', new Blob([file], { type }), 'upload.bin')
  return data
}

function withParam(url: URL, name: RegExp, change: (value: string) => string): string {
  const copy = new URL(url)
  for (const [k, v] of url.searchParams) if (name.test(k)) copy.searchParams.set(k, change(v))
  expect(copy.href).not.toBe(url.href)
  return copy.href
}

function withPath(url: URL, path: string): string {
  const copy = new URL(url)
  copy.pathname = path
  return copy.href
}

function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = []
  for (let e = error; e && chain.length < 10; e = (e as { cause?: unknown }).cause) chain.push(e)
  return chain
}
