import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalexError, type Actor, type FileManager, type ObjectStore } from '../../../src/index.js'
import { PDF, jpeg } from './app.js'

/**
 * The FileManager contract the HTTP routes rely on: who may do what, what an upload body may be,
 * what comes back. Every implementation the routes may be given passes it on the real stores:
 * the files layer itself, and anything put in front of it in tests (the call recorder). Each case
 * uses its own item and user ids, so cases never see each other's files.
 */
export interface FilesSubject {
  files: FileManager
  /** The store under the files layer: where a direct upload's client puts its object. */
  store: ObjectStore
  maxBytes: number
  /** Runs the variants jobs from now on (files stay `processing` until then). */
  startWorkers(): Promise<void>
  close(): Promise<void>
}

type User = NonNullable<Actor>
const admin: User = { id: 'root', role: 'admin' }
let counter = 0
/** A fresh user or item id per case. */
const fresh = (stem: string) => `${stem}-${++counter}`
const user = (stem: string): User => ({ id: fresh(stem), role: 'user' })
const stream = (...chunks: Buffer[]) => Readable.from(chunks, { objectMode: false })

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toMatchObject({ code })
}

export function fileManagerContract(name: string, factory: () => Promise<FilesSubject>): void {
  describe(`${name}: FileManager contract`, () => {
    let s: FilesSubject
    let files: FileManager
    beforeAll(async () => {
      s = await factory()
      files = s.files
    })
    afterAll(async () => {
      await s?.close()
    })

    it('item photos: streamed in, `processing`, public, in order; the first uploader owns the item', async () => {
      const item = fresh('item')
      const alice = user('alice')
      const bob = user('bob')
      await expectCode(files.uploadItemPhoto(null, item, { body: jpeg() }), 'UNAUTHENTICATED')
      const photo = jpeg(6000)
      const body = stream(photo.subarray(0, 1000), photo.subarray(1000))
      const first = await files.uploadItemPhoto(alice, item, { body, fileName: 'a.jpg' })
      expect(first).toMatchObject({
        ownerId: alice.id,
        entityType: 'item',
        entityId: item,
        purpose: 'item_photo',
        documentType: null,
        accessLevel: 'public',
        status: 'processing',
        originalName: 'a.jpg',
        contentType: 'image/jpeg',
        bytes: 6000,
        width: 128,
        height: 128,
        position: 0,
      })
      expect(first.url).toEqual(expect.stringContaining(`/items/${item}/photos/${first.id}/original.jpg`))
      await expectCode(files.uploadItemPhoto(bob, item, { body: jpeg() }), 'FORBIDDEN')
      const second = await files.uploadItemPhoto(admin, item, { body: jpeg() })
      expect(second.position).toBe(1)
      expect((await files.listItemPhotos(item)).map((f) => f.id)).toEqual([first.id, second.id])
      expect(await files.getFile(null, first.id)).toEqual(first)
    })

    it('upload bodies: read under the limit, their own errors passed on, the type taken from the bytes', async () => {
      const alice = user('alice')
      const item = fresh('item')
      const over = jpeg(s.maxBytes + 1)
      const streamed = files.uploadItemPhoto(alice, item, { body: stream(over.subarray(0, 1000), over.subarray(1000)) })
      await expect(streamed).rejects.toMatchObject({ code: 'FILE_TOO_LARGE', details: { maxBytes: s.maxBytes } })
      await expectCode(files.uploadItemPhoto(alice, item, { body: over }), 'FILE_TOO_LARGE')
      // The HTTP layer fails the body stream with its own answer (a malformed form): it comes back as it is.
      const own = new LocalexError('VALIDATION_FAILED', 'The multipart body is malformed or ended early')
      const failing = new Readable({
        read() {
          this.destroy(own)
        },
      })
      await expect(files.uploadProfilePhoto(alice, { body: failing })).rejects.toBe(own)
      await expectCode(files.uploadItemPhoto(alice, item, { body: stream() }), 'EMPTY_FILE')
      await expectCode(files.uploadItemPhoto(alice, item, { body: Buffer.alloc(0) }), 'EMPTY_FILE')
      const svg = Buffer.from('<svg onload=alert(1)>')
      await expectCode(files.uploadItemPhoto(alice, item, { body: svg, fileName: 'x.jpg' }), 'UNSUPPORTED_TYPE')
      const notPdf = Buffer.from('%PDF-1.7\n...')
      await expectCode(files.uploadVerificationDocument(alice, 'passport', { body: notPdf }), 'INVALID_PDF')
      // Nothing of any refused upload is left to see.
      expect(await files.listItemPhotos(item)).toEqual([])
      await expectCode(files.getProfilePhoto(alice.id), 'NOT_FOUND')
    })

    it('an idempotency key gives back the file it made the first time, once', async () => {
      const alice = user('alice')
      const item = fresh('item')
      const first = await files.uploadItemPhoto(alice, item, { body: jpeg(), idempotencyKey: 'k-1' })
      const again = await files.uploadItemPhoto(alice, item, { body: stream(jpeg()), idempotencyKey: 'k-1' })
      expect(again.id).toBe(first.id)
      expect(await files.listItemPhotos(item)).toHaveLength(1)
    })

    it("reorders an item's photos: the owner or an admin, exactly the current photos", async () => {
      const alice = user('alice')
      const item = fresh('item')
      const ids: string[] = []
      for (let i = 0; i < 3; i++) ids.push((await files.uploadItemPhoto(alice, item, { body: jpeg() })).id)
      const reversed = [...ids].reverse()
      await expectCode(files.reorderItemPhotos(user('bob'), item, reversed), 'FORBIDDEN')
      await expectCode(files.reorderItemPhotos(null, item, reversed), 'UNAUTHENTICATED')
      await expectCode(files.reorderItemPhotos(alice, item, reversed.slice(1)), 'CONFLICT')
      const reordered = await files.reorderItemPhotos(alice, item, reversed)
      expect(reordered.map((f) => [f.id, f.position])).toEqual(reversed.map((id, i) => [id, i]))
      expect((await files.reorderItemPhotos(admin, item, ids)).map((f) => f.id)).toEqual(ids)
      expect((await files.listItemPhotos(item)).map((f) => f.id)).toEqual(ids)
    })

    it('one profile photo per user: a new one replaces the old; the user or an admin deletes it', async () => {
      const alice = user('alice')
      const id = alice.id
      await expectCode(files.getProfilePhoto(id), 'NOT_FOUND')
      const first = await files.uploadProfilePhoto(alice, { body: jpeg() })
      expect(first).toMatchObject({ entityType: 'profile', entityId: id, purpose: 'profile_photo' })
      expect(first.accessLevel).toBe('public')
      const second = await files.uploadProfilePhoto(alice, { body: jpeg() })
      expect((await files.getProfilePhoto(id)).id).toBe(second.id)
      await expectCode(files.getFile(alice, first.id), 'NOT_FOUND')
      await expectCode(files.deleteProfilePhoto(user('bob'), id), 'FORBIDDEN')
      await files.deleteProfilePhoto(admin, id)
      await expectCode(files.getProfilePhoto(id), 'NOT_FOUND')
      await expectCode(files.deleteProfilePhoto(alice, id), 'NOT_FOUND')
    })

    it('verification documents are private: owner and admins see them, others NOT_FOUND, not FORBIDDEN', async () => {
      const alice = user('alice')
      const bob = user('bob')
      const id = alice.id
      const selfie = 'selfie' as 'passport'
      await expectCode(files.uploadVerificationDocument(alice, selfie, { body: PDF }), 'VALIDATION_FAILED')
      const fileName = 'pässport scan.pdf'
      const doc = await files.uploadVerificationDocument(alice, 'passport', { body: stream(PDF), fileName })
      expect(doc).toMatchObject({ entityType: 'verification', purpose: 'document', documentType: 'passport' })
      expect(doc).toMatchObject({ accessLevel: 'private', url: null, originalName: fileName })
      for (const who of [bob, null]) await expectCode(files.getFile(who, doc.id), 'NOT_FOUND')
      for (const who of [bob, null]) await expectCode(files.getUrl(who, doc.id), 'NOT_FOUND')
      await expectCode(files.deleteFile(bob, doc.id), 'NOT_FOUND')
      expect((await files.getFile(admin, doc.id)).id).toBe(doc.id)
      expect((await files.listVerificationDocuments(alice, id)).map((f) => f.id)).toEqual([doc.id])
      expect((await files.listVerificationDocuments(admin, id)).map((f) => f.id)).toEqual([doc.id])
      await expectCode(files.listVerificationDocuments(bob, id), 'FORBIDDEN')
      await expectCode(files.listVerificationDocuments(null, id), 'UNAUTHENTICATED')
      // Its URL is signed and expires; a public photo's does not.
      const signed = await files.getUrl(alice, doc.id)
      expect(signed).toMatchObject({ variant: 'original', format: 'pdf', expiresAt: expect.any(String) })
      const photo = await files.uploadItemPhoto(alice, fresh('item'), { body: jpeg() })
      const pub = await files.getUrl(null, photo.id, { variant: 'original' })
      expect(pub).toMatchObject({ variant: 'original', format: 'jpeg' })
      expect(pub.expiresAt).toBeUndefined()
      await expectCode(files.getUrl(null, photo.id, { variant: 'no-such-variant' }), 'NOT_FOUND')
    })

    it("deletes a file: the item's owner or an admin; then it is gone", async () => {
      const alice = user('alice')
      const item = fresh('item')
      const a = await files.uploadItemPhoto(alice, item, { body: jpeg() })
      const b = await files.uploadItemPhoto(alice, item, { body: jpeg() })
      await expectCode(files.deleteFile(user('bob'), a.id), 'FORBIDDEN')
      await expectCode(files.deleteFile(null, a.id), 'UNAUTHENTICATED')
      await files.deleteFile(alice, a.id)
      await files.deleteFile(admin, b.id)
      for (const id of [a.id, b.id]) await expectCode(files.getFile(alice, id), 'NOT_FOUND')
      await expectCode(files.deleteFile(alice, a.id), 'NOT_FOUND')
      expect(await files.listItemPhotos(item)).toEqual([])
    })

    it('an admin records who owns an item; the owner on record decides who may add photos', async () => {
      const item = fresh('item')
      const carol = user('carol')
      await expectCode(files.setItemOwner(user('bob'), item, carol.id), 'FORBIDDEN')
      await expectCode(files.setItemOwner(null, item, carol.id), 'UNAUTHENTICATED')
      await files.setItemOwner(admin, item, carol.id)
      await expectCode(files.uploadItemPhoto(user('alice'), item, { body: jpeg() }), 'FORBIDDEN')
      expect((await files.uploadItemPhoto(carol, item, { body: jpeg() })).entityId).toBe(item)
    })

    it('direct uploads: access checked when made, the object when completed; twice gives one file', async () => {
      const alice = user('alice')
      const bob = user('bob')
      const item = fresh('item')
      await files.uploadItemPhoto(alice, item, { body: jpeg() })
      await expectCode(files.createDirectUpload(alice, { purpose: 'item_photo' }), 'VALIDATION_FAILED')
      await expectCode(files.createDirectUpload(bob, { purpose: 'item_photo', itemId: item }), 'FORBIDDEN')
      await expectCode(files.createDirectUpload(null, { purpose: 'profile_photo' }), 'UNAUTHENTICATED')
      const request = { purpose: 'item_photo', itemId: item, fileName: 'big.jpg', contentType: 'image/jpeg' } as const
      const upload = await files.createDirectUpload(alice, request)
      expect(upload).toMatchObject({ id: expect.any(String), url: expect.any(String), expiresAt: expect.any(String) })
      expect(upload.maxBytes).toBe(s.maxBytes)
      expect(upload.fields.key).toEqual(expect.any(String))
      await expectCode(files.completeDirectUpload(alice, upload.id), 'VALIDATION_FAILED')
      // What the client's presigned POST leaves in the store.
      await s.store.put(upload.fields.key ?? '', jpeg(7000), { contentType: 'image/jpeg' })
      await expectCode(files.completeDirectUpload(bob, upload.id), 'NOT_FOUND')
      const done = await files.completeDirectUpload(alice, upload.id)
      expect(done).toMatchObject({ entityId: item, ownerId: alice.id, bytes: 7000, originalName: 'big.jpg' })
      expect((await files.completeDirectUpload(alice, upload.id)).id).toBe(done.id)
      expect(await s.store.exists(upload.fields.key ?? '')).toBe(false)
    })

    it('waits until a file is settled: `ready` with its variants once the job has run', async () => {
      const alice = user('alice')
      const item = fresh('item')
      const processing = await files.uploadItemPhoto(alice, item, { body: jpeg() })
      await s.startWorkers()
      const ready = await files.waitUntilSettled(processing.id)
      expect(ready).toMatchObject({ id: processing.id, status: 'ready', readyAt: expect.any(String) })
      expect(ready.variants.map((v) => v.variant)).toEqual(expect.arrayContaining(['original', 'thumbnail']))
      const waited = await files.uploadItemPhoto(alice, item, { body: jpeg(), wait: true })
      expect(waited.status).toBe('ready')
      await expectCode(files.waitUntilSettled('no-such-file'), 'NOT_FOUND')
    })
  })
}
