import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isLocalexError } from '../../src/errors/index.js'
import {
  auditLog,
  files,
  itemOwners,
  lockKey,
  now,
  outboxRows,
  profilePhotos,
  uploads,
  withTransaction,
  type NewFile,
  type StoredObject,
} from '../../src/db/index.js'
import { DIALECTS, createTestDatabase, type TestDatabase } from '../support/db.js'

let seq = 0
function newFile(overrides: Partial<NewFile> = {}): NewFile {
  seq += 1
  const id = overrides.id ?? `f${String(seq).padStart(4, '0')}-${Math.random().toString(36).slice(2, 8)}`
  return {
    id,
    ownerId: 'u1',
    entityType: 'item',
    entityId: 'item1',
    purpose: 'item_photo',
    documentType: null,
    accessLevel: 'public',
    status: 'uploading',
    originalName: 'cat.jpg',
    contentType: 'image/jpeg',
    bytes: 1000,
    width: 800,
    height: 600,
    sha256: 'ab'.repeat(32),
    keyPrefix: `items/item1/photos/${id}/`,
    placeholder: null,
    dominantColor: null,
    position: null,
    errorReason: null,
    idempotencyKey: null,
    ...overrides,
  }
}

const objects: StoredObject[] = [
  {
    variant: 'original',
    format: 'jpeg',
    key: 'k/original.jpg',
    contentType: 'image/jpeg',
    size: 700,
    width: 800,
    height: 600,
  },
  { variant: 'thumbnail', format: 'webp', key: 'k/thumbnail.webp', contentType: 'image/webp', size: 50 },
]

for (const dialect of DIALECTS) {
  describe(`${dialect}: repositories`, () => {
    let t: TestDatabase
    beforeEach(async () => {
      t = await createTestDatabase(dialect)
    })
    afterEach(async () => {
      await t.destroy()
    })

    it('files: insert and read back, with objects parsed and stored bytes summed', async () => {
      const { file, created } = await files.insert(t.db, newFile({ id: 'a1' }))
      expect(created).toBe(true)
      expect(file).toMatchObject({ id: 'a1', status: 'uploading', objects: [], storedBytes: 0, bytes: 1000 })
      expect(file.width).toBe(800)
      expect(file.createdAt).toBe(file.updatedAt)

      expect(await files.update(t.db, 'a1', { objects, placeholder: 'ph' })).toBe(true)
      const read = await files.get(t.db, 'a1')
      expect(read?.objects).toEqual(objects)
      expect(read?.storedBytes).toBe(750)
      expect(read?.placeholder).toBe('ph')
      expect(typeof read?.bytes).toBe('number')
      expect(await files.get(t.db, 'missing')).toBeNull()
      expect((await files.getMany(t.db, ['a1', 'missing'])).map((f) => f.id)).toEqual(['a1'])

      const duplicate = await files.insert(t.db, newFile({ id: 'a1' })).catch((e: unknown) => e)
      expect(isLocalexError(duplicate, 'CONFLICT')).toBe(true)
    })

    it('files: an idempotency key already used by the owner returns the first row', async () => {
      const first = await files.insert(t.db, newFile({ id: 'i1', idempotencyKey: 'key-1' }))
      const again = await files.insert(t.db, newFile({ id: 'i2', idempotencyKey: 'key-1' }))
      expect(first.created).toBe(true)
      expect(again).toMatchObject({ created: false, file: { id: 'i1' } })
      // Another owner may use the same key.
      const otherOwner = await files.insert(t.db, newFile({ id: 'i3', ownerId: 'u2', idempotencyKey: 'key-1' }))
      expect(otherOwner.created).toBe(true)
      expect((await files.getByIdempotencyKey(t.db, 'u1', 'key-1'))?.id).toBe('i1')
      // Inside a transaction the conflict does not abort it.
      await withTransaction(t.db, async (trx) => {
        expect((await files.insert(trx, newFile({ id: 'i4', idempotencyKey: 'key-1' }))).created).toBe(false)
        expect((await files.insert(trx, newFile({ id: 'i5', idempotencyKey: 'key-2' }))).created).toBe(true)
      })
      expect(await files.get(t.db, 'i5')).not.toBeNull()

      // Concurrent retries of one upload: exactly one row, every caller gets it.
      const racers = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          withTransaction(t.db, (trx) => files.insert(trx, newFile({ id: `race${i}`, idempotencyKey: 'key-race' }))),
        ),
      )
      expect(racers.filter((r) => r.created)).toHaveLength(1)
      expect(new Set(racers.map((r) => r.file.id)).size).toBe(1)
    })

    it('files: guarded transitions stamp times; two concurrent processing → ready, one wins', async () => {
      await files.insert(t.db, newFile({ id: 'g1' }))
      expect(await files.transition(t.db, 'g1', { from: 'processing', to: 'ready' })).toBe(false)
      expect(await files.transition(t.db, 'g1', { from: 'uploading', to: 'processing' })).toBe(true)

      const attempt = () =>
        withTransaction(t.db, async (trx) => {
          const changed = await files.transition(trx, 'g1', { from: 'processing', to: 'ready', patch: { objects } })
          await sleep(50) // hold the row so the other transaction has to wait for the commit
          return changed
        })
      const results = await Promise.all([attempt(), attempt()])
      expect(results.sort()).toEqual([false, true])
      const row = await files.get(t.db, 'g1')
      expect(row).toMatchObject({ status: 'ready', storedBytes: 750 })
      expect(row?.readyAt).toBeTruthy()

      expect(await files.update(t.db, 'g1', { errorReason: 'x' }, { expect: 'processing' })).toBe(false)
      expect(await files.transition(t.db, 'g1', { from: ['processing', 'ready'], to: 'deleted' })).toBe(true)
      expect((await files.get(t.db, 'g1'))?.deletedAt).toBeTruthy()
      expect(await files.remove(t.db, 'g1', { expect: 'ready' })).toBe(false)
      expect(await files.remove(t.db, 'g1')).toBe(true)
    })

    it('files: item photos in order, counted, positioned and reordered', async () => {
      for (const [id, position, status] of [
        ['p1', 0, 'ready'],
        ['p2', 1, 'processing'],
        ['p3', 2, 'uploading'],
        ['p4', null, 'ready'],
        ['p5', 3, 'failed'],
      ] as const) {
        await files.insert(t.db, newFile({ id, position, status }))
      }
      await files.insert(t.db, newFile({ id: 'other', entityId: 'item2', position: 0, status: 'ready' }))
      expect((await files.listByEntity(t.db, 'item', 'item1')).map((f) => f.id)).toEqual(['p1', 'p2', 'p3', 'p4'])
      expect((await files.listByEntity(t.db, 'item', 'item1', { statuses: ['ready'] })).map((f) => f.id)).toEqual([
        'p1',
        'p4',
      ])
      expect(await files.countActivePhotos(t.db, 'item1')).toBe(4)
      expect(await files.nextPosition(t.db, 'item1')).toBe(3)
      expect(await files.nextPosition(t.db, 'nothing')).toBe(0)

      expect(await files.setPositions(t.db, 'item1', ['p4', 'p3', 'p2', 'p1', 'other'])).toBe(4)
      expect((await files.listByEntity(t.db, 'item', 'item1')).map((f) => [f.id, f.position])).toEqual([
        ['p4', 0],
        ['p3', 1],
        ['p2', 2],
        ['p1', 3],
      ])
      expect((await files.get(t.db, 'other'))?.position).toBe(0)
    })

    it('files: "count then insert" is serialised per item by locking the owner row', async () => {
      const limit = 3
      const tryUpload = (i: number) =>
        withTransaction(t.db, async (trx) => {
          await itemOwners.registerIfAbsent(trx, 'busy-item', 'u1')
          const count = await files.countActivePhotos(trx, 'busy-item')
          await sleep(5)
          if (count >= limit) return false
          const position = await files.nextPosition(trx, 'busy-item')
          await files.insert(trx, newFile({ id: `busy${i}`, entityId: 'busy-item', position }))
          return true
        })
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => tryUpload(i)))
      expect(results.filter(Boolean)).toHaveLength(limit)
      expect(await files.countActivePhotos(t.db, 'busy-item')).toBe(limit)
      expect((await files.listByEntity(t.db, 'item', 'busy-item')).map((f) => f.position)).toEqual([0, 1, 2])

      // The same with an advisory key lock (no owner row involved).
      const tryKeyed = (i: number) =>
        withTransaction(t.db, async (trx) => {
          await lockKey(trx, 'item:keyed')
          const count = await files.countActivePhotos(trx, 'keyed')
          await sleep(5)
          if (count >= limit) return false
          await files.insert(trx, newFile({ id: `keyed${i}`, entityId: 'keyed' }))
          return true
        })
      expect((await Promise.all(Array.from({ length: 8 }, (_, i) => tryKeyed(i)))).filter(Boolean)).toHaveLength(limit)
    })

    it('files: stale rows for cleanup, batched iteration, counts and stats', async () => {
      const old = new Date(Date.now() - 3_600_000).toISOString()
      await files.insert(t.db, newFile({ id: 's1', status: 'uploading', createdAt: old }))
      await files.insert(t.db, newFile({ id: 's2', status: 'failed', createdAt: old }))
      await files.insert(t.db, newFile({ id: 's3', status: 'uploading' }))
      const cutoff = new Date(Date.now() - 60_000).toISOString()
      expect((await files.listStale(t.db, { statuses: ['uploading'], before: cutoff })).map((f) => f.id)).toEqual([
        's1',
      ])
      expect(
        (await files.listStale(t.db, { statuses: ['uploading', 'failed'], before: cutoff })).map((f) => f.id).sort(),
      ).toEqual(['s1', 's2'])

      const profile = { entityType: 'profile', entityId: 'u9', purpose: 'profile_photo' } as const
      for (let i = 0; i < 7; i++) {
        await files.insert(t.db, newFile({ id: `it${i}`, status: 'ready', ...profile, objects, bytes: 100 }))
      }
      const seen: string[] = []
      for await (const f of files.iterate(t.db, { batchSize: 3 })) seen.push(f.id)
      expect(seen).toHaveLength(10)
      expect(new Set(seen).size).toBe(10)
      const ready: string[] = []
      for await (const f of files.iterate(t.db, { batchSize: 2, statuses: ['ready'], entityType: 'profile' }))
        ready.push(f.id)
      expect(ready.sort()).toEqual(['it0', 'it1', 'it2', 'it3', 'it4', 'it5', 'it6'])
      expect(await files.count(t.db, { statuses: ['ready'] })).toBe(7)
      expect(await files.count(t.db)).toBe(10)

      const stats = await files.stats(t.db)
      expect(stats).toContainEqual({
        entityType: 'profile',
        status: 'ready',
        files: 7,
        bytes: 700,
        storedBytes: 7 * 750,
      })
      expect(stats).toContainEqual({ entityType: 'item', status: 'uploading', files: 2, bytes: 2000, storedBytes: 0 })
      expect(await files.stats(t.db, { ownerId: 'nobody' })).toEqual([])
    })

    it('item owners: register once, agree under concurrency, transfer', async () => {
      expect(await itemOwners.get(t.db, 'it')).toBeNull()
      expect(await itemOwners.registerIfAbsent(t.db, 'it', 'alice')).toEqual({ ownerId: 'alice', created: true })
      expect(await itemOwners.registerIfAbsent(t.db, 'it', 'bob')).toEqual({ ownerId: 'alice', created: false })
      expect(await itemOwners.transfer(t.db, 'it', 'bob')).toBe('alice')
      expect((await itemOwners.get(t.db, 'it'))?.ownerId).toBe('bob')
      expect(await itemOwners.transfer(t.db, 'fresh', 'carol')).toBeNull()

      const racers = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          withTransaction(t.db, (trx) => itemOwners.registerIfAbsent(trx, 'race', `user${i}`)),
        ),
      )
      expect(racers.filter((r) => r.created)).toHaveLength(1)
      expect(new Set(racers.map((r) => r.ownerId)).size).toBe(1)
    })

    it('profile photos: 20 concurrent replacements end with one current, each loser returned once', async () => {
      const ids = Array.from({ length: 20 }, (_, i) => `pp${i}`)
      for (const id of ids) {
        await files.insert(t.db, newFile({ id, entityType: 'profile', entityId: 'u1', purpose: 'profile_photo' }))
      }
      expect(await profilePhotos.getCurrent(t.db, 'u1')).toBeNull()

      const previous = await Promise.all(
        ids.map((id) => withTransaction(t.db, (trx) => profilePhotos.setCurrent(trx, 'u1', id))),
      )
      const current = await profilePhotos.getCurrent(t.db, 'u1')
      expect(ids).toContain(current)
      expect(previous.filter((p) => p === null)).toHaveLength(1)
      const losers = previous.filter((p): p is string => p !== null)
      expect(losers.sort()).toEqual(ids.filter((id) => id !== current).sort())

      // Setting the current one again replaces nothing; clearIf only clears the photo named.
      expect(await profilePhotos.setCurrent(t.db, 'u1', current as string)).toBeNull()
      expect(await profilePhotos.clearIf(t.db, 'u1', 'pp-not-current')).toBe(false)
      expect(await profilePhotos.clearIf(t.db, 'u1', current as string)).toBe(true)
      expect(await profilePhotos.getCurrent(t.db, 'u1')).toBeNull()

      // Purging a file row takes its pointer with it (foreign key).
      await profilePhotos.setCurrent(t.db, 'u1', 'pp0')
      await files.remove(t.db, 'pp0')
      expect(await profilePhotos.getCurrent(t.db, 'u1')).toBeNull()
    })

    it('audit log: append and page by file and by actor, newest first', async () => {
      for (let i = 0; i < 5; i++) {
        await auditLog.append(t.db, {
          action: 'read_private',
          actorId: 'admin',
          actorRole: 'admin',
          fileId: 'doc1',
          ip: '10.0.0.1',
          userAgent: 'ua',
          details: { n: i },
        })
      }
      await auditLog.append(t.db, {
        action: 'upload',
        actorId: 'u1',
        fileId: 'doc2',
        entityType: 'verification',
        entityId: 'u1',
      })
      const first = await auditLog.listByFile(t.db, 'doc1', { limit: 2 })
      expect(first.entries.map((e) => e.details)).toEqual([{ n: 4 }, { n: 3 }])
      expect(first.entries[0]).toMatchObject({
        action: 'read_private',
        actorId: 'admin',
        actorRole: 'admin',
        ip: '10.0.0.1',
        userAgent: 'ua',
      })
      expect(typeof first.entries[0]?.id).toBe('number')
      const second = await auditLog.listByFile(t.db, 'doc1', { limit: 2, before: first.next as number })
      const third = await auditLog.listByFile(t.db, 'doc1', { limit: 2, before: second.next as number })
      expect([...second.entries, ...third.entries].map((e) => e.details)).toEqual([{ n: 2 }, { n: 1 }, { n: 0 }])
      expect(third.next).toBeNull()
      const byActor = await auditLog.listByActor(t.db, 'u1')
      expect(byActor.entries).toHaveLength(1)
      expect(byActor.entries[0]).toMatchObject({ action: 'upload', details: null, entityType: 'verification' })
      expect(await auditLog.purgeBefore(t.db, now(1000))).toBe(6)
    })

    it('uploads: create, complete once, expire, list and remove', async () => {
      const base = {
        ownerId: 'u1',
        purpose: 'item_photo',
        entityId: 'item1',
        documentType: null,
        key: 'temp/uploads/x/a.jpg',
        fileName: 'a.jpg',
        contentType: 'image/jpeg',
        maxBytes: 10,
      } as const
      await uploads.create(t.db, { ...base, id: 'up1', expiresAt: now(60_000) })
      await uploads.create(t.db, { ...base, id: 'up2', expiresAt: now(-1000) })
      await uploads.create(t.db, { ...base, id: 'up3', expiresAt: now(60_000) })
      await files.insert(t.db, newFile({ id: 'fromUpload' }))
      expect(await uploads.get(t.db, 'up1')).toMatchObject({ status: 'pending', fileId: null, maxBytes: 10 })
      expect(await uploads.complete(t.db, 'up1', 'fromUpload')).toBe(true)
      expect(await uploads.complete(t.db, 'up1', 'fromUpload')).toBe(false)
      expect(await uploads.complete(t.db, 'up2', 'fromUpload')).toBe(false) // expired
      expect((await uploads.expire(t.db)).map((u) => u.id)).toEqual(['up2'])
      expect(await uploads.markExpired(t.db, 'up3')).toBe(true)
      expect((await uploads.listByStatus(t.db, 'expired')).map((u) => u.id).sort()).toEqual(['up2', 'up3'])
      expect(await uploads.remove(t.db, 'up2')).toBe(true)
      expect(await uploads.get(t.db, 'up2')).toBeNull()
      expect((await uploads.get(t.db, 'up1'))?.fileId).toBe('fromUpload')
    })

    it('outbox rows: rolled-back rows never exist; claims are exclusive and leased', async () => {
      await withTransaction(t.db, async (trx) => {
        await outboxRows.insert(trx, { id: 'kept', kind: 'variants', payload: { fileId: 'f1' }, fileId: 'f1' })
      })
      await withTransaction(t.db, async (trx) => {
        await outboxRows.insert(trx, { id: 'gone', kind: 'variants', payload: {} })
        throw new Error('roll back')
      }).catch(() => undefined)
      expect(await outboxRows.get(t.db, 'gone')).toBeNull()
      const kept = await outboxRows.get(t.db, 'kept')
      expect(kept).toMatchObject({ status: 'pending', payload: { fileId: 'f1' }, fileId: 'f1', attempts: 0 })
      await outboxRows.insert(t.db, { id: 'later', kind: 'purge_cdn', payload: null, runAfter: Date.now() + 60_000 })
      for (let i = 0; i < 20; i++) await outboxRows.insert(t.db, { id: `bulk${i}`, kind: 'variants', payload: i })

      // Concurrent claimers take disjoint sets; nothing not yet due is taken.
      const claims = await Promise.all([0, 1, 2].map(() => outboxRows.claimDue(t.db, { limit: 8, leaseMs: 60_000 })))
      const claimed = claims.flat().map((r) => r.id)
      expect(claimed).toHaveLength(21)
      expect(new Set(claimed).size).toBe(21)
      expect(claimed).not.toContain('later')
      expect(await outboxRows.claimDue(t.db, { limit: 50, leaseMs: 60_000 })).toEqual([])

      expect(await outboxRows.release(t.db, 'bulk0', { runAfter: now(), error: 'queue down' })).toBe(true)
      expect(await outboxRows.get(t.db, 'bulk0')).toMatchObject({ status: 'pending', lastError: 'queue down' })
      expect(await outboxRows.touch(t.db, 'bulk1', { runAfter: now(-1), countAttempt: true, error: 'boom' })).toBe(true)
      // bulk0 is due again, and bulk1's lease expired: both are claimed again.
      expect((await outboxRows.claimDue(t.db, { limit: 50, leaseMs: 60_000 })).map((r) => r.id).sort()).toEqual([
        'bulk0',
        'bulk1',
      ])
      expect(await outboxRows.markDone(t.db, 'bulk0')).toBe(true)
      expect(await outboxRows.markDone(t.db, 'bulk0')).toBe(false)
      expect(await outboxRows.markFailed(t.db, 'bulk0', 'late')).toBe(false)
      expect(await outboxRows.markFailed(t.db, 'bulk1', 'x'.repeat(5000))).toBe(true)
      expect((await outboxRows.get(t.db, 'bulk1'))?.lastError?.length).toBeLessThanOrEqual(2000)
      expect(await outboxRows.counts(t.db)).toEqual({ pending: 1, dispatched: 19, done: 1, failed: 1 })
      expect(await outboxRows.reclaimDispatched(t.db)).toBe(19)
      expect((await outboxRows.list(t.db, { status: 'pending' })).length).toBe(20)
      expect(await outboxRows.purgeDone(t.db, now(1000))).toBe(1)
    })

    it('withTransaction: rolls back on error, and nested calls join the outer transaction', async () => {
      const error = await withTransaction(t.db, async (trx) => {
        await files.insert(trx, newFile({ id: 'tx1' }))
        await withTransaction(trx, (inner) => files.insert(inner, newFile({ id: 'tx2' })))
        throw new Error('boom')
      }).catch((e: unknown) => e)
      expect((error as Error).message).toBe('boom')
      expect(await files.getMany(t.db, ['tx1', 'tx2'])).toEqual([])
    })
  })
}
