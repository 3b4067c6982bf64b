import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { keysetPages, maintenance, usage, type NewFileRow, type StoredObject } from '../../src/db/index.js'
import { DIALECTS, createTestDatabase, type TestDatabase } from '../support/db.js'

/** Rows go in through the table itself, so these tests do not depend on the files repository's record shape. */
function fileRow(id: string, overrides: Partial<NewFileRow> = {}): NewFileRow {
  const folder = `items/i1/photos/${id}/`
  const objects: StoredObject[] = [
    { variant: 'original', format: 'jpeg', key: `${folder}original.jpg`, contentType: 'image/jpeg', size: 700 },
    { variant: 'thumbnail', format: 'webp', key: `${folder}thumbnail.webp`, contentType: 'image/webp', size: 50 },
  ]
  return {
    id,
    owner_id: 'u1',
    entity_type: 'item',
    entity_id: 'i1',
    purpose: 'item_photo',
    document_type: null,
    access_level: 'public',
    status: 'ready',
    original_name: 'x.jpg',
    content_type: 'image/jpeg',
    bytes: 1000,
    width: 1,
    height: 1,
    sha256: 'x',
    key_prefix: folder,
    objects: JSON.stringify(objects),
    stored_bytes: 750,
    placeholder: null,
    dominant_color: null,
    position: null,
    error_reason: null,
    idempotency_key: null,
    created_at: '2024-01-01T00:00:00.000Z',
    updated_at: '2024-01-01T00:00:00.000Z',
    ...overrides,
  }
}

const ids = (rows: ReadonlyArray<{ id: string }>) => rows.map((r) => r.id)

for (const dialect of DIALECTS) {
  describe(`${dialect}: keyset walks and the operator tasks' queries`, () => {
    let t: TestDatabase
    beforeEach(async () => {
      t = await createTestDatabase(dialect)
    })
    afterEach(async () => {
      await t.destroy()
    })

    it('keysetPages reads every row once, in key order, across batches that split equal leading keys', async () => {
      // Five rows share one updated_at: batches of 2 cut through them, so the second key must carry the walk.
      const times = ['2024-01-01T00:00:03.000Z', '2024-01-01T00:00:01.000Z', '2024-01-01T00:00:02.000Z']
      const rows = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((id, i) =>
        fileRow(id, { updated_at: times[i % 3], status: 'failed' }),
      )
      await t.db.insertInto('files').values(rows).execute()
      const query = t.db.selectFrom('files').select(['id', 'updated_at'])
      const batches: string[][] = []
      for await (const batch of keysetPages(query, { keys: ['updated_at', 'id'], batchSize: 2 })) {
        batches.push(ids(batch))
      }
      expect(batches).toEqual([['b', 'e'], ['c', 'f'], ['a', 'd'], ['g']])

      // The consumer may write between batches: deleting what it has seen disturbs nothing.
      const seen: string[] = []
      const before = '2025-01-01T00:00:00.000Z'
      const stale = maintenance.staleFiles(t.db, { statuses: ['failed'], before, batchSize: 3 })
      for await (const batch of stale) {
        seen.push(...ids(batch))
        await t.db.deleteFrom('files').where('id', 'in', ids(batch)).execute()
      }
      expect(seen).toEqual(['b', 'e', 'c', 'f', 'a', 'd', 'g'])
      expect(await t.db.selectFrom('files').select('id').execute()).toEqual([])
    })

    it('staleFiles, filesWithObjects (with a prefix) and their count see only what they should', async () => {
      await t.db
        .insertInto('files')
        .values([
          fileRow('f1', { status: 'uploading' }),
          fileRow('f2', { status: 'ready' }),
          fileRow('f3', { status: 'processing', key_prefix: 'profiles/u1/photo/f3/' }),
          fileRow('f4', { status: 'ready', updated_at: '2030-01-01T00:00:00.000Z' }),
          fileRow('f5', { status: 'deleted' }),
        ])
        .execute()
      const before = '2025-01-01T00:00:00.000Z'
      const walk = async <T>(pages: AsyncIterable<T[]>) => {
        const out: T[] = []
        for await (const page of pages) out.push(...page)
        return out
      }
      const stale = await walk(maintenance.staleFiles(t.db, { statuses: ['uploading', 'deleted'], before }))
      expect(ids(stale)).toEqual(['f1', 'f5'])
      const withObjects = await walk(maintenance.filesWithObjects(t.db, { before, batchSize: 1 }))
      expect(ids(withObjects)).toEqual(['f2', 'f3'])
      expect(withObjects[0]?.objects.map((o) => o.variant)).toEqual(['original', 'thumbnail'])
      expect(ids(await walk(maintenance.filesWithObjects(t.db, { before, prefix: 'items/' })))).toEqual(['f2'])
      // A prefix inside a folder selects the row of that folder.
      const inFolder = await walk(maintenance.filesWithObjects(t.db, { before, prefix: 'profiles/u1/photo/f3/large' }))
      expect(ids(inFolder)).toEqual(['f3'])
      expect(await maintenance.countFilesWithObjects(t.db, { before })).toBe(2)

      const folders = await maintenance.fileFolders(t.db, ['f2', 'f5', 'nope'])
      expect([...folders.keys()].sort()).toEqual(['f2', 'f5'])
      expect(folders.get('f5')).toMatchObject({ status: 'deleted', keyPrefix: 'items/i1/photos/f5/' })
      expect(folders.get('f2')?.objects).toHaveLength(2)
      expect(await maintenance.fileFolders(t.db, [])).toEqual(new Map())
    })

    it('expiredUploads and uploadStatuses', async () => {
      const upload = (id: string, status: 'pending' | 'expired' | 'completed', expiresAt: string) => ({
        id,
        owner_id: 'u1',
        purpose: 'item_photo' as const,
        entity_id: 'i1',
        document_type: null,
        key: `temp/uploads/${id}/x.jpg`,
        file_name: 'x.jpg',
        content_type: 'image/jpeg',
        max_bytes: 10,
        status,
        file_id: null,
        expires_at: expiresAt,
        created_at: '2024-01-01T00:00:00.000Z',
      })
      await t.db
        .insertInto('uploads')
        .values([
          upload('u1', 'pending', '2024-01-02T00:00:00.000Z'),
          upload('u2', 'pending', '2030-01-01T00:00:00.000Z'),
          upload('u3', 'expired', '2030-01-01T00:00:00.000Z'),
          upload('u4', 'completed', '2024-01-02T00:00:00.000Z'),
        ])
        .execute()
      const found: string[] = []
      const at = '2025-01-01T00:00:00.000Z'
      for await (const page of maintenance.expiredUploads(t.db, { at, createdBefore: at })) found.push(...ids(page))
      expect(found).toEqual(['u1', 'u3'])
      const statuses = await maintenance.uploadStatuses(t.db, ['u2', 'u4', 'nope'])
      expect(statuses).toEqual(
        new Map([
          ['u2', 'pending'],
          ['u4', 'completed'],
        ]),
      )
    })

    it('usage: the per-dialect JSON statistics agree', async () => {
      const rows = [fileRow('f1'), fileRow('f2', { owner_id: 'u2' }), fileRow('f3', { status: 'failed' })]
      await t.db.insertInto('files').values(rows).execute()
      expect(await usage.objectGroups(t.db)).toEqual([
        { entityType: 'item', variant: 'original', format: 'jpeg', objects: 2, bytes: 1400 },
        { entityType: 'item', variant: 'thumbnail', format: 'webp', objects: 2, bytes: 100 },
      ])
      expect(await usage.originalBytes(t.db)).toEqual(new Map([['item', 1400]]))
      expect(await usage.topUsers(t.db, 1)).toEqual([{ ownerId: 'u1', files: 1, bytes: 750 }])
    })
  })
}
