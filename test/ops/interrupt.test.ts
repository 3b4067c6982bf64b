import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { files as fileRows } from '../../src/db/index.js'
import { cleanup } from '../../src/ops/cleanup.js'
import { findOrphans } from '../../src/ops/orphans.js'
import { newId } from '../../src/storage/keys.js'
import { objectKeys, openTestStorage, type TestStorage } from '../support/storage.js'

const DAY = 24 * 3600_000

/** Interrupting a run (Ctrl-C) leaves a state the next run finishes, with nothing half-done. */
describe('interrupted operations on radosgw + PostgreSQL', () => {
  let t: TestStorage
  const ids: string[] = []
  beforeAll(async () => {
    t = await openTestStorage('production')
    const at = new Date(Date.now() - 10 * DAY).toISOString()
    for (let i = 0; i < 40; i++) {
      const id = newId()
      const prefix = `items/item-i/photos/${id}/`
      await fileRows.insert(t.db, {
        id,
        ownerId: 'u',
        entityType: 'item',
        entityId: 'item-i',
        purpose: 'item_photo',
        documentType: null,
        accessLevel: 'public',
        status: 'failed',
        originalName: 'x.jpg',
        contentType: 'image/jpeg',
        bytes: 1,
        width: 1,
        height: 1,
        sha256: 'x',
        keyPrefix: prefix,
        objects: [],
        placeholder: null,
        dominantColor: null,
        position: null,
        errorReason: 'test',
        idempotencyKey: null,
        createdAt: at,
        updatedAt: at,
      })
      await t.store.put(`${prefix}original.jpg`, Buffer.from('x'))
      await t.store.put(`${prefix}thumbnail.webp`, Buffer.from('x'))
      ids.push(id)
    }
  }, 120_000)
  afterAll(async () => {
    await t?.close()
  })

  it('cleanup stops between rows when aborted, reports interrupted, and a re-run finishes the rest', async () => {
    const controller = new AbortController()
    const first = await cleanup(t, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.done >= 5) controller.abort()
      },
    })
    expect(first.interrupted).toBe(true)
    expect(first.counts.failed).toBeGreaterThanOrEqual(5)
    expect(first.counts.failed).toBeLessThan(40)
    // Every row it reports is gone with both objects; every other row still has both.
    const remaining = (await Promise.all(ids.map((id) => fileRows.get(t.db, id)))).filter(Boolean)
    expect(remaining.length).toBe(40 - first.counts.failed)
    const keys = await objectKeys(t, 'items/item-i/')
    expect(keys.length).toBe(remaining.length * 2)

    const second = await cleanup(t)
    expect(second.interrupted).toBe(false)
    expect(first.counts.failed + second.counts.failed).toBe(40)
    expect(await objectKeys(t, 'items/item-i/')).toEqual([])
  })

  it('an aborted orphan sweep says so and changes nothing', async () => {
    for (let i = 0; i < 30; i++) await t.store.put(`items/item-j/photos/${newId()}/original.jpg`, Buffer.from('x'))
    const controller = new AbortController()
    controller.abort()
    const summary = await findOrphans(t, { delete: true, olderThanMs: 0, signal: controller.signal })
    expect(summary.interrupted).toBe(true)
    expect(summary.orphans.deleted).toBe(0)
    expect((await objectKeys(t, 'items/item-j/')).length).toBe(30)
    const full = await findOrphans(t, { delete: true, olderThanMs: 0, batchSize: 7 })
    expect(full).toMatchObject({ interrupted: false, orphans: { objects: 30, deleted: 30 } })
    expect(await objectKeys(t, 'items/item-j/')).toEqual([])
  })
})
