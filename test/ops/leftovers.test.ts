import { readFile } from 'node:fs/promises'
import type { S3Client } from '@aws-sdk/client-s3'
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
} from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../src/cli/main.js'
import { auditLog, files as fileRows, uploads, type FileRecord } from '../../src/db/index.js'
import type { Actor, FileView } from '../../src/files/types.js'
import { cleanup } from '../../src/ops/cleanup.js'
import { findOrphans } from '../../src/ops/orphans.js'
import { newId } from '../../src/storage/keys.js'
import { fixture } from '../support/fixtures.js'
import { s3ConfigEnv, s3TestClient } from '../support/s3.js'
import { objectKeys, openTestStorage, type TestStorage } from '../support/storage.js'
import { capture } from './helpers.js'

const alice: Actor = { id: 'alice', role: 'user' }
const HOUR = 3600_000
const DAY = 24 * HOUR
const ago = (ms: number) => new Date(Date.now() - ms).toISOString()
/** Objects written before the pause are "old" for a sweep with this grace; those after it are fresh. */
const GRACE_MS = 2000
const PAUSE_MS = 3200

/**
 * Every kind of leftover planted directly in radosgw and PostgreSQL, next to healthy files, then
 * each command must find exactly its own: `cleanup` the expired direct upload, the abandoned
 * `uploading` row, the old failed and deleted rows and the stale multipart upload; `orphans` the
 * objects without a (live) row and the rows missing objects. Fresh leftovers (inside the grace
 * period) survive both.
 */
describe('cleanup and orphans on radosgw + PostgreSQL', () => {
  let t: TestStorage
  let s3: { client: S3Client; bucket: string }
  let healthy: FileView[]
  let env: Record<string, string>
  let sweepAt = 0
  const planted = {} as {
    orphanKey: string
    deletedRowKey: string
    deletedRowId: string
    recentDeletedId: string
    missingOriginal: FileView
    missingDerived: FileView
    thumbKey: string
    tempUploadId: string
    tempKey: string
    staleId: string
    staleKey: string
    failedId: string
    failedKey: string
    multipartKey: string
    freshOrphanKey: string
    freshUploadingId: string
    freshUploadingKey: string
    freshTempId: string
    freshTempKey: string
    freshMultipartKey: string
  }

  async function plantFileRow(
    status: FileRecord['status'],
    itemId: string,
    updatedAgoMs: number,
    withObject: boolean,
  ): Promise<{ id: string; key: string }> {
    const id = newId()
    const prefix = `items/${itemId}/photos/${id}/`
    const key = `${prefix}original.jpg`
    const at = ago(updatedAgoMs)
    await fileRows.insert(t.db, {
      id,
      ownerId: 'mallory',
      entityType: 'item',
      entityId: itemId,
      purpose: 'item_photo',
      documentType: null,
      accessLevel: 'public',
      status,
      originalName: 'x.jpg',
      contentType: 'image/jpeg',
      bytes: 4,
      width: 1,
      height: 1,
      sha256: 'x',
      keyPrefix: prefix,
      objects: [{ variant: 'original', format: 'jpeg', key, contentType: 'image/jpeg', size: 4 }],
      placeholder: null,
      dominantColor: null,
      position: null,
      errorReason: null,
      idempotencyKey: null,
      createdAt: at,
      updatedAt: at,
      deletedAt: status === 'deleted' ? at : null,
    })
    if (withObject) await t.store.put(key, Buffer.from('jpeg'), { contentType: 'image/jpeg' })
    return { id, key }
  }

  async function plantTempUpload(createdAgoMs: number, expiresAgoMs: number): Promise<{ id: string; key: string }> {
    const id = newId()
    const key = `temp/uploads/${id}/photo.jpg`
    await uploads.create(t.db, {
      id,
      ownerId: 'alice',
      purpose: 'item_photo',
      entityId: 'item-t',
      documentType: null,
      key,
      fileName: 'photo.jpg',
      contentType: 'image/jpeg',
      maxBytes: 1000,
      expiresAt: ago(expiresAgoMs),
      createdAt: ago(createdAgoMs),
    })
    await t.store.put(key, Buffer.from('temp'), { contentType: 'image/jpeg' })
    return { id, key }
  }

  async function startMultipart(key: string): Promise<void> {
    await s3.client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: key }))
  }

  async function multipartKeys(): Promise<string[]> {
    const page = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }))
    return (page.Uploads ?? []).map((u) => u.Key as string).sort()
  }

  /** Everything a command could change: every key, every row's status, every upload row, open multipart uploads. */
  async function snapshot(): Promise<unknown> {
    const rows = await t.db.selectFrom('files').select(['id', 'status', 'error_reason']).orderBy('id').execute()
    const ups = await t.db.selectFrom('uploads').select(['id', 'status']).orderBy('id').execute()
    return { keys: await objectKeys(t, ''), rows, ups, multipart: await multipartKeys() }
  }

  beforeAll(async () => {
    t = await openTestStorage('production')
    s3 = { client: s3TestClient(), bucket: t.config.storage.s3.bucket }
    env = {
      ...s3ConfigEnv(t.config.storage.s3.bucket),
      DATABASE_URL: t.testDb.url as string,
      DATA_DIR: t.testDb.dir,
      LOG_LEVEL: 'silent',
    }
    const photo = await readFile(fixture('images/jpeg-exif-orientation-1-landscape.jpg'))
    const png = await readFile(fixture('images/png-rgba-alpha.png'))

    // Healthy files: their objects are old by the time the sweeps run, and every one has its row.
    healthy = [
      await t.files.uploadItemPhoto(alice, 'item-ok', { body: photo, wait: true }),
      await t.files.uploadProfilePhoto(alice, { body: png, wait: true }),
    ]
    // Rows missing objects: one lost its original, one a variant (rows updated long ago).
    planted.missingOriginal = await t.files.uploadItemPhoto(alice, 'item-mo', { body: photo, wait: true })
    planted.missingDerived = await t.files.uploadItemPhoto(alice, 'item-md', { body: png, wait: true })
    const originalOf = (v: FileView) =>
      `items/${v.entityId}/photos/${v.id}/original.` +
      (v.variants.find((x) => x.variant === 'original' && x.format !== 'webp')?.format === 'png' ? 'png' : 'jpg')
    await t.store.delete(originalOf(planted.missingOriginal))
    planted.thumbKey = `items/item-md/photos/${planted.missingDerived.id}/thumbnail.webp`
    await t.store.delete(planted.thumbKey)
    for (const v of [...healthy, planted.missingOriginal, planted.missingDerived]) {
      await t.db
        .updateTable('files')
        .set({ updated_at: ago(2 * DAY) })
        .where('id', '=', v.id)
        .execute()
    }

    // Old leftovers.
    planted.orphanKey = `items/item-o/photos/${newId()}/original.jpg`
    await t.store.put(planted.orphanKey, Buffer.from('orphan'), { contentType: 'image/jpeg' })
    // inside DELETED_RETENTION: cleanup keeps the row
    const deletedRow = await plantFileRow('deleted', 'item-d', 2 * DAY, true)
    planted.deletedRowId = deletedRow.id
    planted.deletedRowKey = deletedRow.key
    planted.recentDeletedId = deletedRow.id
    const temp = await plantTempUpload(2 * DAY, DAY)
    planted.tempUploadId = temp.id
    planted.tempKey = temp.key
    const stale = await plantFileRow('uploading', 'item-s', 2 * HOUR, true)
    planted.staleId = stale.id
    planted.staleKey = stale.key
    const failed = await plantFileRow('failed', 'item-f', 8 * DAY, true)
    planted.failedId = failed.id
    planted.failedKey = failed.key
    const purged = await plantFileRow('deleted', 'item-p', 31 * DAY, false)
    planted.deletedRowId = purged.id
    planted.multipartKey = `items/item-m/photos/${newId()}/original.jpg`
    await startMultipart(planted.multipartKey)

    await new Promise((r) => setTimeout(r, PAUSE_MS))
    // The sweeps run "as of" this instant, so that however slow the machine, what follows stays
    // inside the grace period and what came before stays outside it.
    sweepAt = Date.now()

    // Fresh leftovers: inside the grace period, so nothing may touch them.
    planted.freshOrphanKey = `items/item-fo/photos/${newId()}/original.jpg`
    await t.store.put(planted.freshOrphanKey, Buffer.from('fresh'), { contentType: 'image/jpeg' })
    const freshUploading = await plantFileRow('uploading', 'item-fu', 0, true)
    planted.freshUploadingId = freshUploading.id
    planted.freshUploadingKey = freshUploading.key
    const freshTemp = await plantTempUpload(0, 1000) // already past its expiry, but created just now
    planted.freshTempId = freshTemp.id
    planted.freshTempKey = freshTemp.key
    planted.freshMultipartKey = `items/item-fm/photos/${newId()}/original.jpg`
    await startMultipart(planted.freshMultipartKey)
  }, 120_000)

  afterAll(async () => {
    if (s3)
      for (const key of await multipartKeys().catch(() => [])) {
        const page = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket, Prefix: key }))
        for (const u of page.Uploads ?? [])
          await s3.client.send(new AbortMultipartUploadCommand({ Bucket: s3.bucket, Key: u.Key, UploadId: u.UploadId }))
      }
    s3?.client.destroy()
    await t?.close()
  })

  it('cleanup --dry-run finds exactly the expired, abandoned, old and stale ones, and changes nothing', async () => {
    const before = await snapshot()
    const summary = await cleanup(t, { dryRun: true, olderThanMs: GRACE_MS, now: sweepAt })
    expect(summary.counts).toEqual({
      tempUploads: 1,
      staleUploading: 1,
      failed: 1,
      deleted: 1,
      multipartUploads: 1,
      objects: 3,
    })
    const ids = (kind: string) => summary.items.filter((i) => i.kind === kind).map((i) => i.id)
    expect(ids('temp_upload')).toEqual([planted.tempUploadId])
    expect(ids('stale_uploading')).toEqual([planted.staleId])
    expect(ids('failed')).toEqual([planted.failedId])
    expect(ids('deleted')).toEqual([planted.deletedRowId])
    expect(ids('multipart')).toEqual([planted.multipartKey])
    expect(summary.errors).toEqual([])
    expect(await snapshot()).toEqual(before)
  })

  it(
    'orphans (report) finds the objects without a live row and the rows missing objects, and changes ' + 'nothing',
    async () => {
      const before = await snapshot()
      const summary = await findOrphans(t, { olderThanMs: GRACE_MS, now: sweepAt })
      expect(summary.mode).toBe('report')
      expect(summary.orphanObjects.map((o) => [o.key, o.reason]).sort()).toEqual(
        [
          [planted.orphanKey, 'no_row'],
          [`items/item-d/photos/${planted.recentDeletedId}/original.jpg`, 'file_deleted'],
        ].sort(),
      )
      expect(summary.missingObjects.map((m) => [m.fileId, m.severity, m.marked]).sort()).toEqual(
        [
          [planted.missingOriginal.id, 'original', false],
          [planted.missingDerived.id, 'derived', false],
        ].sort(),
      )
      expect(summary.missingObjects.find((m) => m.severity === 'derived')?.missing).toEqual([planted.thumbKey])
      // Fresh objects were seen but never judged; the multipart upload is not an object.
      expect(summary.bucket.recent).toBe(3)
      expect(summary.rows.checked).toBe(4)
      expect(summary.errors).toEqual([])
      expect(await snapshot()).toEqual(before)
    },
  )

  it(
    'cleanup removes them with their objects, audits each, and leaves fresh and healthy files alone; a re-run finds ' +
      'nothing',
    async () => {
      const summary = await cleanup(t, { olderThanMs: GRACE_MS, now: sweepAt })
      expect(summary.counts).toEqual({
        tempUploads: 1,
        staleUploading: 1,
        failed: 1,
        deleted: 1,
        multipartUploads: 1,
        objects: 3,
      })
      expect(summary.errors).toEqual([])
      const keys = await objectKeys(t, '')
      for (const gone of [planted.tempKey, planted.staleKey, planted.failedKey]) expect(keys).not.toContain(gone)
      for (const kept of [planted.freshOrphanKey, planted.freshUploadingKey, planted.freshTempKey, planted.orphanKey])
        expect(keys).toContain(kept)
      for (const v of healthy)
        expect(keys).toContain(
          (v.entityType === 'item' ? `items/${v.entityId}/photos` : `profiles/${v.ownerId}/photo`) +
            `/${v.id}/original.webp`,
        )
      expect(await multipartKeys()).toEqual([planted.freshMultipartKey])
      expect(await fileRows.get(t.db, planted.staleId)).toBeNull()
      expect(await fileRows.get(t.db, planted.failedId)).toBeNull()
      expect(await fileRows.get(t.db, planted.deletedRowId)).toBeNull()
      expect((await fileRows.get(t.db, planted.recentDeletedId))?.status).toBe('deleted')
      expect((await fileRows.get(t.db, planted.freshUploadingId))?.status).toBe('uploading')
      expect(await uploads.get(t.db, planted.tempUploadId)).toBeNull()
      expect((await uploads.get(t.db, planted.freshTempId))?.status).toBe('pending')
      const purge = (await auditLog.listByFile(t.db, planted.staleId)).entries
      const details = { reason: 'stale_uploading', objects: 1 }
      expect(purge).toMatchObject([{ action: 'purge', actorRole: 'system', details }])

      const again = await cleanup(t, { olderThanMs: GRACE_MS, now: sweepAt })
      expect(again.counts).toEqual({
        tempUploads: 0,
        staleUploading: 0,
        failed: 0,
        deleted: 0,
        multipartUploads: 0,
        objects: 0,
      })
    },
  )

  it(
    'orphans --delete deletes the orphan objects and marks the rows; rows are kept; a re-run finds nothing ' + 'new',
    async () => {
      const summary = await findOrphans(t, { delete: true, olderThanMs: GRACE_MS, now: sweepAt })
      expect(summary.mode).toBe('delete')
      expect(summary.orphans).toMatchObject({ objects: 2, deleted: 2 })
      expect(summary.rows).toMatchObject({ missingOriginal: 1, missingDerived: 1, marked: 2 })
      const keys = await objectKeys(t, '')
      expect(keys).not.toContain(planted.orphanKey)
      expect(keys).toContain(planted.freshOrphanKey)
      const lost = await fileRows.get(t.db, planted.missingOriginal.id)
      const lostReason = expect.stringMatching(/^OBJECTS_MISSING: original\.jpg/)
      expect(lost).toMatchObject({ status: 'failed', errorReason: lostReason })
      const gap = await fileRows.get(t.db, planted.missingDerived.id)
      const gapReason = expect.stringMatching(/^OBJECTS_MISSING: thumbnail\.webp not in the store; reprocess/)
      expect(gap).toMatchObject({ status: 'ready', errorReason: gapReason })
      expect((await auditLog.listByFile(t.db, planted.missingOriginal.id)).entries[0]).toMatchObject({
        action: 'objects_missing',
        details: { severity: 'original', previousStatus: 'ready' },
      })

      // Marking stamped the rows: the failed one is no longer expected to have objects, the marked
      // ready one is now younger than the grace period; the healthy two are checked again.
      const again = await findOrphans(t, { olderThanMs: GRACE_MS, now: sweepAt })
      expect(again.orphans.objects).toBe(0)
      expect(again.missingObjects).toEqual([])
      expect(again.rows.checked).toBe(2)
    },
  )

  it('the CLI commands print JSON, honour --older-than and --prefix, and document every flag', async () => {
    const out = capture()
    expect(
      await runCli(['orphans', '--json', '--older-than', '0s', '--prefix', 'items/item-md/'], {
        env,
        stdout: out.stream,
        stderr: capture().stream,
      }),
    ).toBe(0)
    const orphans = JSON.parse(out.text()) as {
      prefix: string
      rows: { checked: number }
      missingObjects: Array<{ fileId: string }>
      bucket: { objects: number }
    }
    expect(orphans.prefix).toBe('items/item-md/')
    expect(orphans.rows.checked).toBe(1)
    expect(orphans.missingObjects.map((m) => m.fileId)).toEqual([planted.missingDerived.id])

    const dry = capture()
    expect(
      await runCli(['cleanup', '--dry-run', '--json', '--older-than', '0s'], {
        env,
        stdout: dry.stream,
        stderr: capture().stream,
      }),
    ).toBe(0)
    const plan = JSON.parse(dry.text()) as { dryRun: boolean; counts: Record<string, number> }
    expect(plan.dryRun).toBe(true)
    // With no grace at all the fresh abandoned upload and multipart upload now qualify (the fresh temp upload too).
    expect(plan.counts).toMatchObject({ staleUploading: 1, multipartUploads: 1, tempUploads: 1 })
    expect((await fileRows.get(t.db, planted.freshUploadingId))?.status).toBe('uploading')

    const text = capture()
    const errors = capture()
    expect(
      await runCli(['cleanup', '--dry-run'], { env, stdout: text.stream, stderr: errors.stream }),
      errors.text(),
    ).toBe(0)
    expect(text.text()).toMatch(/^Would remove: 0 expired direct uploads, 0 abandoned uploads/m)

    expect(
      await runCli(['orphans', '--older-than', 'soon'], { env, stdout: capture().stream, stderr: capture().stream }),
    ).toBe(1)

    for (const [command, flags] of [
      ['cleanup', ['--dry-run', '--older-than', '--json']],
      ['orphans', ['--delete', '--mark', '--prefix', '--older-than', '--json']],
      ['stats', ['--json', '--by-user', '--verify', '--price']],
      ['setup-bucket', ['--dry-run', '--json']],
      ['migrate', ['--status', '--json']],
    ] as const) {
      const help = capture()
      expect(await runCli([command, '--help'], { stdout: help.stream })).toBe(0)
      for (const flag of flags) expect(help.text(), `${command} ${flag}`).toContain(flag)
    }
  })
})
