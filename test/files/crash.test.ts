import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { files as fileRows, outboxRows } from '../../src/db/index.js'
import type { Actor } from '../../src/files/types.js'
import { fixture } from '../support/fixtures.js'
import { objectKeys, openTestStorage, type TestStorage } from '../support/storage.js'

/**
 * Failures of the parts around an upload, with every part real: a worker process killed with
 * SIGKILL in the middle of a variants job, PostgreSQL going away during an upload, Redis down while
 * uploads go on. PostgreSQL and Redis are cut with TCP proxies in front of the real servers.
 */
const alice: Actor = { id: 'alice', role: 'user' }
const CLI = fileURLToPath(new URL('../../src/cli/run.ts', import.meta.url))
const ITEM_OBJECTS = [
  'large.jpg',
  'large.webp',
  'medium.jpg',
  'medium.webp',
  'original.jpg',
  'original.webp',
  'thumbnail.jpg',
  'thumbnail.webp',
]

async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(25)
  }
}

describe('crashes and outages around an upload (radosgw, PostgreSQL, BullMQ)', () => {
  let t: TestStorage | undefined
  afterEach(async () => {
    await t?.close()
    t = undefined
  })

  it(
    'a worker process SIGKILLed mid variants job: the job is redelivered and exactly one set of variants ' + 'results',
    async () => {
      // The test process only relays the outbox; the variants job runs in a `localex-storage worker`.
      t = await openTestStorage(
        'production',
        { JOB_LOCK_DURATION: '1s', JOB_STALLED_INTERVAL: '500ms' },
        { workers: false },
      )
      const big = await readFile(fixture('images/jpeg-large-12mp-orientation-6.jpg'))
      const file = await t.files.uploadItemPhoto(alice, 'crash-1', { body: big })
      expect(file.status).toBe('processing')

      const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'worker', '--no-schedule', '--concurrency', '1'], {
        env: { ...process.env, ...t.env },
        stdio: ['ignore', 'ignore', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      const exited = new Promise<NodeJS.Signals | null>((resolve) =>
        child.on('exit', (_code, signal) => resolve(signal)),
      )
      const db = t.db
      try {
        // The worker has taken the job (it counts the attempt on the outbox row before running it).
        // Generous: under a full parallel test run, starting a TypeScript CLI process takes a while.
        await waitFor(
          'the worker to start the job',
          async () => {
            const [row] = await outboxRows.list(db, { fileId: file.id, kind: 'variants' })
            return row && row.attempts >= 1
          },
          90_000,
        ).catch((error: unknown) => {
          throw new Error(`${(error as Error).message}; worker stderr: ${stderr}`)
        })
        await sleep(300) // into the rendering
      } finally {
        child.kill('SIGKILL')
      }
      expect(await exited).toBe('SIGKILL')
      expect((await fileRows.get(db, file.id))?.status).toBe('processing') // killed mid job, not after

      // A surviving worker (this process) gets the job once the dead one's lock expires.
      await t.startWorkers()
      const ready = await t.files.waitUntilSettled(file.id, { timeoutMs: 30_000 })
      expect(ready.status).toBe('ready')
      expect(await objectKeys(t, `items/crash-1/photos/${file.id}/`)).toEqual(
        ITEM_OBJECTS.map((n) => `items/crash-1/photos/${file.id}/${n}`),
      )
      expect(ready.variants.map((v) => `${v.variant}.${v.format}`).sort()).toEqual(
        ITEM_OBJECTS.map((n) => n.replace('.jpg', '.jpeg')).sort(),
      )
      const [job] = await outboxRows.list(db, { fileId: file.id, kind: 'variants' })
      expect(job).toMatchObject({ status: 'done' })
    },
    180_000,
  )

  it(
    'PostgreSQL unreachable before an upload: DATABASE_UNAVAILABLE (503), nothing stored; uploads work again once it ' +
      'returns',
    async () => {
      t = await openTestStorage('production', {}, { proxyDatabase: true })
      const png = await readFile(fixture('images/png-rgba-alpha.png'))
      await t.proxies.db?.stop()
      const error = await t.files.uploadItemPhoto(alice, 'pg-down-1', { body: png }).catch((e: unknown) => e)
      expect(error).toMatchObject({ code: 'DATABASE_UNAVAILABLE', status: 503 })
      expect(await objectKeys(t, 'items/pg-down-1/')).toEqual([])

      await t.proxies.db?.start()
      const file = await waitFor('PostgreSQL to be back', () =>
        t!.files.uploadItemPhoto(alice, 'pg-down-1', { body: png, wait: true }).catch(() => undefined),
      )
      expect(file.status).toBe('ready')
    },
    60_000,
  )

  it(
    'PostgreSQL lost after the original is stored: the upload fails with DATABASE_UNAVAILABLE and its object is ' +
      'removed',
    async () => {
      t = await openTestStorage('production', {}, { proxyDatabase: true })
      const png = await readFile(fixture('images/png-rgba-alpha.png'))
      // Fault injection at the store boundary: cut PostgreSQL right after the original's put succeeds.
      const store = t.store as { put: TestStorage['store']['put'] }
      const put = store.put.bind(store)
      const proxy = t.proxies.db
      store.put = async (...args) => {
        const result = await put(...args)
        await proxy?.stop()
        return result
      }
      const error = await t.files.uploadItemPhoto(alice, 'pg-down-2', { body: png }).catch((e: unknown) => e)
      store.put = put
      expect(error).toMatchObject({ code: 'DATABASE_UNAVAILABLE', status: 503 })
      expect(await objectKeys(t, 'items/pg-down-2/')).toEqual([])

      // The row could not be updated while PostgreSQL was away: it stays `uploading`, never
      // `processing`, and cleanup removes it after the grace period (lifecycle). No job was queued.
      await proxy?.start()
      const rows = await waitFor('PostgreSQL to be back', () =>
        fileRows
          .listByEntity(t!.db, 'item', 'pg-down-2', { statuses: ['uploading', 'processing', 'ready', 'failed'] })
          .catch(() => undefined),
      )
      expect(rows.map((r) => r.status)).toEqual(['uploading'])
      expect(await outboxRows.list(t.db, { fileId: rows[0]?.id as string })).toEqual([])
    },
    60_000,
  )

  it('Redis down: uploads are still accepted, and their variants are made once Redis returns', async () => {
    t = await openTestStorage('production', {}, { proxyRedis: true })
    const png = await readFile(fixture('images/png-rgba-alpha.png'))
    await t.proxies.redis?.stop()
    const uploads = await Promise.all([1, 2, 3].map(() => t!.files.uploadItemPhoto(alice, 'redis-down', { body: png })))
    expect(uploads.map((f) => f.status)).toEqual(['processing', 'processing', 'processing'])
    await sleep(500)
    for (const f of uploads) expect((await t.files.getFile(alice, f.id)).status).toBe('processing')
    // Each relay round claims the rows, fails to enqueue them and puts them back: pending or (for
    // the instant of a round) dispatched, never lost.
    const waiting = await outboxRows.counts(t.db)
    expect(waiting.pending + waiting.dispatched).toBeGreaterThanOrEqual(3)
    expect(waiting.done).toBe(0)

    await t.proxies.redis?.start()
    for (const f of uploads) {
      const ready = await t.files.waitUntilSettled(f.id, { timeoutMs: 60_000 })
      expect(ready.status).toBe('ready')
      expect(await objectKeys(t, `items/redis-down/photos/${f.id}/`)).toHaveLength(8)
    }
  }, 120_000)
})
