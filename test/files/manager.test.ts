import { readFile } from 'node:fs/promises'
import { Readable } from 'node:stream'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Actor, FileView } from '../../src/files/types.js'
import { validatePdf } from '../../src/images/index.js'
import { fixture } from '../support/fixtures.js'
import { BACKENDS, objectKeys, openTestStorage, type TestStorage } from '../support/storage.js'

const alice: Actor = { id: 'alice', role: 'user' }
const bob: Actor = { id: 'bob', role: 'user' }
const admin: Actor = { id: 'root', role: 'admin' }

for (const backend of BACKENDS) {
  describe(`FileManager on ${backend}`, () => {
    let t: TestStorage
    let photo: Buffer
    let png: Buffer
    let pdf: Buffer

    beforeAll(async () => {
      t = await openTestStorage(backend)
      photo = await readFile(fixture('images/jpeg-exif-orientation-6-landscape.jpg'))
      png = await readFile(fixture('images/png-rgba-alpha.png'))
      pdf = await readFile(fixture('docs/pdf-1-page-libreoffice.pdf'))
    })
    afterAll(async () => {
      await t?.close()
    })

    it('uploads an item photo: original at once, variants once ready, every object in the store', async () => {
      const first = await t.files.uploadItemPhoto(alice, 'item-1', { body: photo, fileName: 'IMG_0001.JPG' })
      expect(first.status).toBe('processing')
      expect(first.url).toMatch(/items\/item-1\/photos\/.+\/original\.jpg$/)
      expect(first.placeholder).toBeTruthy()
      expect(first.originalName).toBe('IMG_0001.JPG')
      // EXIF orientation 6 on a 1200×1800 stored image: upright it is 1800×1200.
      expect([first.width, first.height]).toEqual([1800, 1200])

      const ready = await t.files.waitUntilSettled(first.id)
      expect(ready.status).toBe('ready')
      const names = ready.variants.map((v) => `${v.variant}.${v.format}`).sort()
      expect(names).toEqual([
        'large.jpeg',
        'large.webp',
        'medium.jpeg',
        'medium.webp',
        'original.jpeg',
        'original.webp',
        'thumbnail.jpeg',
        'thumbnail.webp',
      ])
      const stored = await objectKeys(t, `items/item-1/photos/${first.id}/`)
      expect(stored.sort()).toEqual(
        [
          'large.jpg',
          'large.webp',
          'medium.jpg',
          'medium.webp',
          'original.jpg',
          'original.webp',
          'thumbnail.jpg',
          'thumbnail.webp',
        ]
          .map((n) => `items/item-1/photos/${first.id}/${n}`)
          .sort(),
      )
      const thumb = await t.store.getBuffer(`items/item-1/photos/${first.id}/thumbnail.webp`)
      const meta = await sharp(thumb).metadata()
      expect(meta.format).toBe('webp')
      expect(Math.max(meta.width as number, meta.height as number)).toBe(300)
      const head = await t.store.head(`items/item-1/photos/${first.id}/original.jpg`)
      expect(head.cacheControl).toBe('public, max-age=2592000, immutable')
    })

    it('stores a sanitised original at once; the variants job replaces it with the optimised one, once', async () => {
      // No workers: the job runs when this test says so.
      const u = await openTestStorage(backend, {}, { workers: false })
      try {
        const f = await u.files.uploadItemPhoto(alice, 'item-s', { body: photo })
        const key = `items/item-s/photos/${f.id}/original.jpg`
        const sanitised = await u.store.head(key)
        expect(sanitised).toMatchObject({
          contentType: 'image/jpeg',
          cacheControl: 'public, max-age=60',
          metadata: { 'localex-original': 'sanitised' },
        })
        const meta = await sharp(await u.store.getBuffer(key)).metadata()
        expect(meta).toMatchObject({ isProgressive: false, width: 1800, height: 1200 })
        expect([meta.exif, meta.orientation]).toEqual([undefined, undefined])
        expect(await objectKeys(u, `items/item-s/photos/${f.id}/`)).toEqual([key])

        await u.jobs.runVariantsJob({ fileId: f.id }, { attempt: 1, final: false })
        const optimised = await u.store.head(key)
        expect(optimised).toMatchObject({
          cacheControl: 'public, max-age=2592000, immutable',
          metadata: { 'localex-original': 'optimised' },
        })
        expect(optimised.size).toBeLessThan(sanitised.size)
        const bytes = await u.store.getBuffer(key)
        expect(await sharp(bytes).metadata()).toMatchObject({ isProgressive: true, width: 1800, height: 1200 })
        const ready = await u.files.getFile(alice, f.id)
        expect(ready.status).toBe('ready')
        expect(ready.variants.find((v) => v.variant === 'original' && v.format === 'jpeg')?.size).toBe(optimised.size)

        // A reprocess (or a redelivery after the replacement) starts from the optimised original
        // and leaves it as it is.
        expect(await u.files.reprocess(f.id)).toBe(true)
        await u.jobs.runVariantsJob({ fileId: f.id }, { attempt: 1, final: false })
        expect((await u.store.getBuffer(key)).equals(bytes)).toBe(true)
        expect((await u.files.getFile(alice, f.id)).status).toBe('ready')
      } finally {
        await u.close()
      }
    })

    it(
      'with IMAGE_UPLOAD_ORIGINAL=optimised stores the final original at once and the job leaves it ' + 'alone',
      async () => {
        const u = await openTestStorage(backend, { IMAGE_UPLOAD_ORIGINAL: 'optimised' }, { workers: false })
        try {
          const f = await u.files.uploadItemPhoto(alice, 'item-o', { body: photo })
          const key = `items/item-o/photos/${f.id}/original.jpg`
          expect(await u.store.head(key)).toMatchObject({
            cacheControl: 'public, max-age=2592000, immutable',
            metadata: { 'localex-original': 'optimised' },
          })
          const bytes = await u.store.getBuffer(key)
          expect(await sharp(bytes).metadata()).toMatchObject({ isProgressive: true, width: 1800, height: 1200 })
          await u.jobs.runVariantsJob({ fileId: f.id }, { attempt: 1, final: false })
          expect((await u.store.getBuffer(key)).equals(bytes)).toBe(true)
          expect(await objectKeys(u, `items/item-o/photos/${f.id}/`)).toHaveLength(8)
          expect((await u.files.getFile(alice, f.id)).status).toBe('ready')
        } finally {
          await u.close()
        }
      },
    )

    it("keeps the order of an item's photos, lets the owner reorder them, refuses others", async () => {
      const a = await t.files.uploadItemPhoto(alice, 'item-2', { body: png, wait: true })
      const b = await t.files.uploadItemPhoto(alice, 'item-2', { body: photo, wait: true })
      expect((await t.files.listItemPhotos('item-2')).map((f) => f.id)).toEqual([a.id, b.id])
      expect(a.variants.find((v) => v.variant === 'original')?.format).toBe('png')
      await expect(t.files.reorderItemPhotos(bob, 'item-2', [b.id, a.id])).rejects.toMatchObject({ code: 'FORBIDDEN' })
      await expect(t.files.uploadItemPhoto(bob, 'item-2', { body: png })).rejects.toMatchObject({ code: 'FORBIDDEN' })
      await expect(t.files.reorderItemPhotos(alice, 'item-2', [b.id])).rejects.toMatchObject({ code: 'CONFLICT' })
      const reordered = await t.files.reorderItemPhotos(alice, 'item-2', [b.id, a.id])
      expect(reordered.map((f) => f.id)).toEqual([b.id, a.id])
      expect((await t.files.listItemPhotos('item-2')).map((f) => f.id)).toEqual([b.id, a.id])
      // An admin may act on any item, and may transfer it.
      await t.files.reorderItemPhotos(admin, 'item-2', [a.id, b.id])
      await t.files.setItemOwner(admin, 'item-2', 'bob')
      await expect(t.files.deleteFile(alice, a.id)).rejects.toMatchObject({ code: 'FORBIDDEN' })
      await t.files.deleteFile(bob, a.id)
      expect((await t.files.listItemPhotos('item-2')).map((f) => f.id)).toEqual([b.id])
      expect(await objectKeys(t, `items/item-2/photos/${a.id}/`)).toEqual([])
    })

    it('refuses the photo over the limit with TOO_MANY_PHOTOS, even when uploads race', async () => {
      const small = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#c83' } })
        .jpeg()
        .toBuffer()
      const results = await Promise.allSettled(
        Array.from({ length: 13 }, () => t.files.uploadItemPhoto(alice, 'item-full', { body: small })),
      )
      const ok = results.filter((r) => r.status === 'fulfilled')
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      expect(ok).toHaveLength(10)
      expect(refused.map((r) => (r.reason as { code: string }).code)).toEqual([
        'TOO_MANY_PHOTOS',
        'TOO_MANY_PHOTOS',
        'TOO_MANY_PHOTOS',
      ])
      expect((await t.files.listItemPhotos('item-full')).map((f) => f.position)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    })

    it('leaves nothing behind when the upload is refused', async () => {
      await t.drain()
      const before = await t.counts()
      await expect(
        t.files.uploadItemPhoto(alice, 'item-3', { body: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>') }),
      ).rejects.toMatchObject({ code: 'UNSUPPORTED_TYPE' })
      await expect(t.files.uploadItemPhoto(alice, 'item-3', { body: Buffer.alloc(0) })).rejects.toMatchObject({
        code: 'EMPTY_FILE',
      })
      const huge = Readable.from(
        (function* () {
          for (let i = 0; i < 12; i++) yield Buffer.alloc(1024 * 1024, i)
        })(),
      )
      await expect(t.files.uploadItemPhoto(alice, 'item-3', { body: huge })).rejects.toMatchObject({
        code: 'FILE_TOO_LARGE',
      })
      await expect(
        t.files.uploadItemPhoto(alice, 'item-3', {
          body: await readFile(fixture('images/jpeg-truncated-progressive.jpg')),
        }),
      ).rejects.toMatchObject({ code: 'INVALID_IMAGE' })
      expect(await t.counts()).toEqual(before)
      expect(await objectKeys(t, 'items/item-3/')).toEqual([])
    })

    it('makes a retried upload with the same idempotency key produce exactly one file', async () => {
      const [x, y] = await Promise.all([
        t.files.uploadItemPhoto(alice, 'item-4', { body: png, idempotencyKey: 'abc' }),
        t.files.uploadItemPhoto(alice, 'item-4', { body: png, idempotencyKey: 'abc' }),
      ])
      const z = await t.files.uploadItemPhoto(alice, 'item-4', { body: png, idempotencyKey: 'abc' })
      expect(new Set([x.id, y.id, z.id]).size).toBe(1)
      expect(await t.files.listItemPhotos('item-4')).toHaveLength(1)
      await t.files.waitUntilSettled(x.id)
      expect((await objectKeys(t, 'items/item-4/')).filter((k) => k.endsWith('original.png'))).toHaveLength(1)
    })

    it('replaces a profile photo: exactly one current after 20 concurrent replacements, no leftovers', async () => {
      const first = await t.files.uploadProfilePhoto(bob, { body: png, wait: true })
      expect(first.variants.map((v) => v.variant).sort()).toEqual(['original', 'original', 'thumbnail', 'thumbnail'])
      const jpegs = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          sharp({ create: { width: 64 + i, height: 64, channels: 3, background: { r: i * 10, g: 100, b: 50 } } })
            .jpeg()
            .toBuffer(),
        ),
      )
      const views = await Promise.all(jpegs.map((body) => t.files.uploadProfilePhoto(bob, { body })))
      await t.drain()
      const current = await t.files.getProfilePhoto('bob')
      expect(views.map((v) => v.id)).toContain(current.id)
      expect(current.status).toBe('ready')
      const folders = new Set((await objectKeys(t, 'profiles/bob/photo/')).map((k) => k.split('/')[3]))
      expect([...folders]).toEqual([current.id])
      for (const v of [first, ...views].filter((v) => v.id !== current.id)) {
        await expect(t.files.getFile(bob, v.id)).rejects.toMatchObject({ code: 'NOT_FOUND' })
      }
      await t.files.deleteProfilePhoto(bob, 'bob')
      await expect(t.files.getProfilePhoto('bob')).rejects.toMatchObject({ code: 'NOT_FOUND' })
      await t.drain()
      expect(await objectKeys(t, 'profiles/bob/')).toEqual([])
    })

    it('keeps verification documents private: owner and admins only, short signed URLs, audited', async () => {
      const doc = await t.files.uploadVerificationDocument(alice, 'passport', {
        body: pdf,
        fileName: 'Passport scan.pdf',
      })
      expect(doc).toMatchObject({
        status: 'ready',
        accessLevel: 'private',
        contentType: 'application/pdf',
        documentType: 'passport',
      })
      expect(doc.variants.every((v) => v.url === undefined)).toBe(true)
      const scan = await t.files.uploadVerificationDocument(alice, 'id_card', {
        body: photo,
        fileName: 'id.jpg',
        wait: true,
      })
      expect(scan.variants.map((v) => v.variant).sort()).toContain('thumbnail')
      expect(await objectKeys(t, `verification/alice/passport/${doc.id}/`)).toEqual([
        `verification/alice/passport/${doc.id}/Passport-scan.pdf`,
      ])

      for (const actor of [bob, null]) {
        await expect(t.files.getFile(actor, doc.id)).rejects.toMatchObject({ code: 'NOT_FOUND' })
        await expect(t.files.getUrl(actor, doc.id)).rejects.toMatchObject({ code: 'NOT_FOUND' })
        await expect(t.files.deleteFile(actor, doc.id)).rejects.toMatchObject({ code: 'NOT_FOUND' })
      }
      await expect(t.files.listVerificationDocuments(bob, 'alice')).rejects.toMatchObject({ code: 'FORBIDDEN' })
      expect((await t.files.listVerificationDocuments(admin, 'alice')).map((d) => d.id).sort()).toEqual(
        [doc.id, scan.id].sort(),
      )

      const grant = await t.files.getUrl(alice, doc.id)
      expect(Date.parse(grant.expiresAt as string) - Date.now()).toBeLessThanOrEqual(300_000)
      const res = await t.fetch(grant.url)
      expect(res.status).toBe(200)
      // The document as validatePdf writes it out again from its checked objects.
      expect(Buffer.from(await res.arrayBuffer()).equals((await validatePdf(pdf)).data)).toBe(true)
      expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="Passport scan.pdf"/)
      await t.files.getUrl(admin, doc.id)
      const audit = await t.audit(doc.id)
      const trail = audit.map((a) => `${a.action}:${a.actorId}`)
      expect(trail).toEqual(['upload:alice', 'url_private:alice', 'url_private:root'])

      await expect(
        t.files.uploadVerificationDocument(alice, 'passport', {
          body: await readFile(fixture('docs/pdf-encrypted-password.pdf')),
        }),
      ).rejects.toMatchObject({ code: 'INVALID_PDF' })
      await expect(
        t.files.uploadVerificationDocument(alice, 'selfie' as 'passport', { body: pdf }),
      ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
    })

    it('answers the access matrix: public, authenticated and private × owner, other, admin, anonymous', async () => {
      const pub = await t.files.uploadItemPhoto(alice, 'item-5', { body: png, wait: true })
      const priv = await t.files.uploadVerificationDocument(alice, 'proof_of_address', { body: pdf })
      const auth = await t.makeAuthenticated(await t.files.uploadItemPhoto(alice, 'item-6', { body: png, wait: true }))
      const actors = { owner: alice, other: bob, admin, anonymous: null } as const
      const expected: Record<string, Record<keyof typeof actors, string>> = {
        [`read:${pub.id}`]: { owner: 'ok', other: 'ok', admin: 'ok', anonymous: 'ok' },
        [`read:${auth.id}`]: { owner: 'ok', other: 'ok', admin: 'ok', anonymous: 'UNAUTHENTICATED' },
        [`read:${priv.id}`]: { owner: 'ok', other: 'NOT_FOUND', admin: 'ok', anonymous: 'NOT_FOUND' },
        [`url:${pub.id}`]: { owner: 'ok', other: 'ok', admin: 'ok', anonymous: 'ok' },
        [`url:${auth.id}`]: { owner: 'ok', other: 'ok', admin: 'ok', anonymous: 'UNAUTHENTICATED' },
        [`url:${priv.id}`]: { owner: 'ok', other: 'NOT_FOUND', admin: 'ok', anonymous: 'NOT_FOUND' },
      }
      const outcome = async (p: Promise<unknown>) =>
        p.then(
          () => 'ok',
          (e: { code?: string }) => e.code ?? String(e),
        )
      for (const [name, actor] of Object.entries(actors) as [keyof typeof actors, Actor][]) {
        for (const f of [pub, auth, priv]) {
          expect(await outcome(t.files.getFile(actor, f.id)), `${name} read ${f.accessLevel}`).toBe(
            expected[`read:${f.id}`]?.[name],
          )
          expect(await outcome(t.files.getUrl(actor, f.id)), `${name} url ${f.accessLevel}`).toBe(
            expected[`url:${f.id}`]?.[name],
          )
        }
      }
      // Deletes: only the owner or an admin; others learn nothing about private files.
      expect(await outcome(t.files.deleteFile(bob, pub.id))).toBe('FORBIDDEN')
      expect(await outcome(t.files.deleteFile(null, pub.id))).toBe('UNAUTHENTICATED')
      expect(await outcome(t.files.deleteFile(bob, auth.id))).toBe('FORBIDDEN')
      expect(await outcome(t.files.deleteFile(bob, priv.id))).toBe('NOT_FOUND')
      expect(await outcome(t.files.deleteFile(admin, priv.id))).toBe('ok')
      expect(await outcome(t.files.deleteFile(alice, pub.id))).toBe('ok')
      expect(await outcome(t.files.getFile(alice, pub.id))).toBe('NOT_FOUND')
      expect(await outcome(t.files.deleteProfilePhoto(bob, 'alice'))).toBe('FORBIDDEN')
    })

    it('survives a job delivered twice and a delete racing the variants job', async () => {
      const f = await t.files.uploadItemPhoto(alice, 'item-7', { body: png, wait: true })
      const before = await objectKeys(t, `items/item-7/photos/${f.id}/`)
      await t.jobs.runVariantsJob({ fileId: f.id }, { attempt: 1, final: false })
      expect(await objectKeys(t, `items/item-7/photos/${f.id}/`)).toEqual(before)
      expect((await t.files.getFile(alice, f.id)).status).toBe('ready')

      const g = await t.files.uploadItemPhoto(alice, 'item-7', { body: photo })
      const racing = t.jobs.runVariantsJob({ fileId: g.id }, { attempt: 1, final: false })
      await t.files.deleteFile(alice, g.id)
      await racing
      await t.drain()
      expect(await objectKeys(t, `items/item-7/photos/${g.id}/`)).toEqual([])
      await expect(t.files.getFile(alice, g.id)).rejects.toMatchObject({ code: 'NOT_FOUND' })
    })

    it(
      'marks a file failed with the reason when its variants job cannot succeed, and removes its ' + 'objects',
      async () => {
        const f = await t.files.uploadItemPhoto(alice, 'item-9', { body: png, wait: true })
        const original = `items/item-9/photos/${f.id}/original.png`
        await t.store.delete(original) // the bucket lost the original behind our back
        expect(await t.files.reprocess(f.id)).toBe(true)
        const settled = await t.files.waitUntilSettled(f.id, { timeoutMs: 20_000 })
        expect(settled.status).toBe('failed')
        expect(settled.errorReason).toMatch(/^OBJECT_NOT_FOUND/)
        await t.drain()
        expect(await objectKeys(t, `items/item-9/photos/${f.id}/`)).toEqual([])
        expect((await t.files.listItemPhotos('item-9')).map((v) => v.id)).toEqual([])
      },
    )

    it('does direct uploads through a presigned POST, then validates and processes them', async () => {
      const upload = await t.files.createDirectUpload(alice, {
        purpose: 'item_photo',
        itemId: 'item-8',
        fileName: 'big.png',
        contentType: 'image/png',
      })
      const form = new FormData()
      for (const [k, v] of Object.entries(upload.fields)) form.append(k, v)
      form.append('file', new Blob([png], { type: 'image/png' }), 'big.png')
      const posted = await t.fetch(upload.url, { method: 'POST', body: form })
      expect(posted.status).toBeLessThan(300)
      await expect(t.files.completeDirectUpload(bob, upload.id)).rejects.toMatchObject({ code: 'NOT_FOUND' })
      const file = await t.files.completeDirectUpload(alice, upload.id, { wait: true })
      expect(file).toMatchObject({ status: 'ready', entityId: 'item-8' })
      expect(await objectKeys(t, `temp/uploads/${upload.id}/`)).toEqual([])
      // Completing twice gives the same file.
      expect((await t.files.completeDirectUpload(alice, upload.id)).id).toBe(file.id)

      const hostile = await t.files.createDirectUpload(alice, {
        purpose: 'item_photo',
        itemId: 'item-8',
        fileName: 'x.png',
      })
      const form2 = new FormData()
      for (const [k, v] of Object.entries(hostile.fields)) form2.append(k, v)
      form2.append('file', new Blob([await readFile(fixture('images/bmp-unsupported.bmp'))]), 'x.png')
      expect((await t.fetch(hostile.url, { method: 'POST', body: form2 })).status).toBeLessThan(300)
      await expect(t.files.completeDirectUpload(alice, hostile.id)).rejects.toMatchObject({ code: 'UNSUPPORTED_TYPE' })
      expect(await objectKeys(t, `temp/uploads/${hostile.id}/`)).toEqual([])
      expect((await t.files.listItemPhotos('item-8')).map((f: FileView) => f.id)).toEqual([file.id])
    })
  })
}
