import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../src/cli/main.js'
import { files as fileRows } from '../../src/db/index.js'
import type { Actor, FileView } from '../../src/files/types.js'
import { BYTES_PER_GB, storageStats, type StatsSummary } from '../../src/ops/stats.js'
import { fixture } from '../support/fixtures.js'
import { s3ConfigEnv } from '../support/s3.js'
import { openTestStorage, type TestStorage } from '../support/storage.js'
import { capture } from './helpers.js'

const alice: Actor = { id: 'alice', role: 'user' }
const bob: Actor = { id: 'bob', role: 'user' }

describe('stats on radosgw + PostgreSQL', () => {
  let t: TestStorage
  let env: Record<string, string>
  let uploaded: FileView[]
  /** What the bucket really holds, per entity type: listed and summed here, independently of the code under test. */
  const bucket: Record<string, { objects: number; bytes: number }> = {}

  beforeAll(async () => {
    t = await openTestStorage('production')
    env = {
      ...s3ConfigEnv(t.config.storage.s3.bucket),
      DATABASE_URL: t.testDb.url as string,
      DATA_DIR: t.testDb.dir,
      LOG_LEVEL: 'silent',
    }
    const jpeg = await readFile(fixture('images/jpeg-exif-orientation-1-landscape.jpg'))
    const png = await readFile(fixture('images/png-rgba-alpha.png'))
    const webp = await readFile(fixture('images/webp-lossy.webp'))
    const pdf = await readFile(fixture('docs/pdf-1-page-libreoffice.pdf'))
    uploaded = [
      await t.files.uploadItemPhoto(alice, 'item-1', { body: jpeg, wait: true }),
      await t.files.uploadItemPhoto(alice, 'item-1', { body: png, wait: true }),
      await t.files.uploadItemPhoto(bob, 'item-2', { body: webp, wait: true }),
      await t.files.uploadProfilePhoto(bob, { body: jpeg, wait: true }),
      await t.files.uploadVerificationDocument(alice, 'passport', { body: pdf, fileName: 'passport.pdf', wait: true }),
    ]
    // A deleted file counts in "by status" only.
    const gone = await t.files.uploadItemPhoto(bob, 'item-3', { body: png, wait: true })
    await t.files.deleteFile(bob, gone.id)
    await t.drain()
    for await (const entry of t.store.list('')) {
      if (entry.type !== 'object') continue
      const kind = entry.key.split('/')[0] as string
      const b = (bucket[kind] ??= { objects: 0, bytes: 0 })
      b.objects++
      b.bytes += entry.size
    }
  }, 120_000)
  afterAll(async () => {
    await t?.close()
  })

  it(
    'counts files and bytes per entity type, variant and format, originals vs derived, per user and ' + 'status',
    async () => {
      const s = await storageStats(t, { byUser: 1 })
      expect(uploaded.every((u) => u.status === 'ready')).toBe(true)
      const entity = Object.fromEntries(s.byEntity.map((e) => [e.entityType, e]))
      expect(entity.item).toMatchObject({ files: 3, storedBytes: bucket.items?.bytes })
      expect(entity.profile).toMatchObject({ files: 1, storedBytes: bucket.profiles?.bytes })
      expect(entity.verification).toMatchObject({ files: 1, storedBytes: bucket.verification?.bytes })

      // Originals: the first `original` object of each row, read back from the rows themselves.
      const rows = await Promise.all(uploaded.map((u) => fileRows.get(t.db, u.id)))
      const originals = rows.reduce((n, r) => n + (r?.objects.find((o) => o.variant === 'original')?.size ?? 0), 0)
      expect(s.totals.originalBytes).toBe(originals)
      expect(s.totals.derivedBytes).toBe(s.totals.storedBytes - originals)
      expect(s.totals.storedBytes).toBe(Object.values(bucket).reduce((n, b) => n + b.bytes, 0))
      expect(s.totals.uploadedBytes).toBe(uploaded.reduce((n, u) => n + u.bytes, 0))

      // Per variant and format, against the rows' own object lists.
      const expected = new Map<string, { objects: number; bytes: number }>()
      for (const r of rows)
        for (const o of r?.objects ?? []) {
          const k = `${r?.entityType}/${o.variant}/${o.format}`
          const e = expected.get(k) ?? { objects: 0, bytes: 0 }
          expected.set(k, { objects: e.objects + 1, bytes: e.bytes + o.size })
        }
      expect(
        new Map(
          s.byVariant.map((g) => [`${g.entityType}/${g.variant}/${g.format}`, { objects: g.objects, bytes: g.bytes }]),
        ),
      ).toEqual(expected)
      expect(
        s.byVariant.find((g) => g.entityType === 'item' && g.variant === 'thumbnail' && g.format === 'webp')?.objects,
      ).toBe(3)
      expect(s.byVariant.find((g) => g.entityType === 'verification')?.format).toBe('pdf')

      expect(s.byStatus).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ entityType: 'item', status: 'ready', files: 3 }),
          expect.objectContaining({ entityType: 'item', status: 'deleted', files: 1 }),
        ]),
      )
      const perUser = (id: string) =>
        rows.filter((r) => r?.ownerId === id).reduce((n, r) => n + (r?.storedBytes ?? 0), 0)
      const heaviest = perUser('alice') > perUser('bob') ? 'alice' : 'bob'
      const heaviestFiles = rows.filter((r) => r?.ownerId === heaviest).length
      expect(s.topUsers).toEqual([{ ownerId: heaviest, files: heaviestFiles, bytes: perUser(heaviest) }])
      expect(s.cost).toEqual({
        pricePerGbMonth: 0.023,
        gb: Math.round((s.totals.storedBytes / BYTES_PER_GB) * 1e6) / 1e6,
        monthly: Math.round((s.totals.storedBytes / BYTES_PER_GB) * 0.023 * 1e4) / 1e4,
        currency: 'USD',
      })
      expect(s.verify).toBeUndefined()
    },
  )

  it('--verify walks the bucket: it agrees, then names the difference an orphan makes', async () => {
    const ok = await storageStats(t, { verify: true })
    expect(ok.verify?.matches).toBe(true)
    expect(ok.verify?.bucket.item).toEqual(bucket.items)
    await t.store.put('items/item-x/photos/stray/original.jpg', Buffer.alloc(1234), { contentType: 'image/jpeg' })
    try {
      const off = await storageStats(t, { verify: true })
      expect(off.verify?.matches).toBe(false)
      expect(off.verify?.comparison.find((c) => c.entityType === 'item')).toMatchObject({
        diffBytes: 1234,
        bucketObjects: (bucket.items?.objects ?? 0) + 1,
      })
    } finally {
      await t.store.delete('items/item-x/photos/stray/original.jpg')
    }
  })

  it('the CLI prints the same as JSON, and a text report', async () => {
    const out = capture()
    expect(
      await runCli(['stats', '--json', '--by-user', '2', '--price', '0.1', '--verify'], {
        env,
        stdout: out.stream,
        stderr: capture().stream,
      }),
    ).toBe(0)
    const s = JSON.parse(out.text()) as StatsSummary
    expect(s.topUsers.map((u) => u.ownerId).sort()).toEqual(['alice', 'bob'])
    expect(s.cost.pricePerGbMonth).toBe(0.1)
    expect(s.totals.files).toBe(5)
    expect(s.verify?.matches).toBe(true)

    const text = capture()
    expect(await runCli(['stats'], { env, stdout: text.stream, stderr: capture().stream })).toBe(0)
    expect(text.text()).toMatch(/^Stored: 5 files, /)
    expect(text.text()).toMatch(/Estimated cost: \$0\.00\/month/)
    expect(text.text()).toContain('By variant and format:')
    expect(
      await runCli(['stats', '--by-user', 'many'], { env, stdout: capture().stream, stderr: capture().stream }),
    ).toBe(1)
  })
})
