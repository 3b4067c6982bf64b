import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LocalexError } from '../../src/errors/index.js'
import { outboxRows, withTransaction } from '../../src/db/index.js'
import {
  BullMqJobQueue,
  JOB_NAMES,
  OutboxRelay,
  outbox,
  runOutboxJob,
  silentLogger,
  type JobQueue,
  type UntypedJobPayloads,
  type OutboxHandler,
  type OutboxJobContext,
  type Worker,
} from '../../src/jobs/index.js'
import { DIALECTS, createTestDatabase, type TestDatabase } from '../support/db.js'
import { QUEUE_KINDS, RedisProxy, createTestQueue, obliterate, testPrefix, waitFor, type TestQueue } from './helpers.js'

for (const dialect of DIALECTS) {
  for (const kind of QUEUE_KINDS) {
    describe(`${dialect} + ${kind}: outbox`, () => {
      let t: TestDatabase
      let q: TestQueue
      let queue: JobQueue<UntypedJobPayloads>
      const stops: (() => Promise<void>)[] = []
      beforeEach(async () => {
        t = await createTestDatabase(dialect)
        q = createTestQueue(kind, { attempts: 3, backoffMs: 30 })
        queue = q.queue
        if (kind === 'bullmq')
          await waitFor(
            () =>
              queue.ping().then(
                () => true,
                () => false,
              ),
            5000,
          )
      })
      afterEach(async () => {
        for (const stop of stops.splice(0).reverse()) await stop()
        await q.dispose()
        await t.destroy()
      })

      /** A relay and a worker running `handlers`, stopped after the test. */
      async function run(
        handlers: Partial<Record<(typeof JOB_NAMES)[number], OutboxHandler>>,
        relayOptions: { intervalMs?: number } = {},
      ): Promise<OutboxRelay> {
        const worker: Worker = queue.work(JOB_NAMES, runOutboxJob({ db: t.db, handlers, logger: silentLogger }))
        const relay = new OutboxRelay({
          db: t.db,
          queue,
          intervalMs: relayOptions.intervalMs ?? 100,
          logger: silentLogger,
        })
        stops.push(() => worker.close({ timeoutMs: 2000 }))
        stops.push(() => relay.stop())
        await relay.start()
        return relay
      }

      const allFinished = async () => {
        const c = await outboxRows.counts(t.db)
        return c.pending === 0 && c.dispatched === 0
      }

      it('runs committed rows exactly once; a row of a rolled-back transaction never runs', async () => {
        const runs = new Map<string, number>()
        const seen: OutboxJobContext[] = []
        const relay = await run({
          variants: async (payload, job) => {
            const { fileId } = payload as { fileId: string }
            runs.set(fileId, (runs.get(fileId) ?? 0) + 1)
            seen.push(job)
          },
        })
        const committed = Array.from({ length: 10 }, (_, i) => `file${i}`)
        for (const fileId of committed) {
          await withTransaction(t.db, (trx) => outbox.add(trx, { kind: 'variants', payload: { fileId }, fileId }))
          relay.notify()
        }
        await withTransaction(t.db, async (trx) => {
          await outbox.add(trx, { kind: 'variants', payload: { fileId: 'rolled-back' }, fileId: 'rolled-back' })
          throw new Error('abort')
        }).catch(() => undefined)

        await waitFor(allFinished, 10_000, 'outbox drained')
        await sleep(300) // time for any duplicate to show up
        expect([...runs.keys()].sort()).toEqual(committed.sort())
        expect([...runs.values()].every((n) => n === 1)).toBe(true)
        expect(await outbox.counts(t.db)).toEqual({ pending: 0, dispatched: 0, done: 10, failed: 0 })
        const row = (await outbox.list(t.db, { fileId: 'file3' }))[0]
        expect(row).toMatchObject({ status: 'done', attempts: 1, lastError: null })
        expect(seen[0]).toMatchObject({ kind: 'variants', attempt: 1, maxAttempts: 3, final: false })
        expect(seen[0]?.fileId).toMatch(/^file/)
      })

      it('notify() dispatches at once, without waiting for the next poll', async () => {
        let runs = 0
        // The next poll is a minute away: a run within the bounded wait below can only come from notify().
        const relay = await run({ purge_cdn: async () => void (runs += 1) }, { intervalMs: 60_000 })
        await sleep(50)
        const row = await withTransaction(t.db, (trx) =>
          outbox.add(trx, { kind: 'purge_cdn', payload: { paths: ['/a'] } }),
        )
        relay.notify()
        await waitFor(() => runs === 1, 10_000, 'job run')
        await waitFor(async () => (await outbox.get(t.db, row.id))?.status === 'done', 2000)
      })

      it('retries with backoff; after the last attempt the row is failed with the reason', async () => {
        const attempts: Record<string, number[]> = {}
        await run({
          variants: async (payload, job) => {
            const { fileId } = payload as { fileId: string }
            ;(attempts[fileId] ??= []).push(job.attempt)
            if (fileId === 'bad-image') throw new LocalexError('INVALID_IMAGE', 'cannot decode')
            throw new Error(`store hiccup on attempt ${job.attempt}${job.final ? ' (final)' : ''}`)
          },
        })
        await outbox.add(t.db, { id: 'flaky', kind: 'variants', payload: { fileId: 'flaky' }, fileId: 'flaky' })
        await outbox.add(t.db, { id: 'bad', kind: 'variants', payload: { fileId: 'bad-image' }, fileId: 'bad-image' })
        await waitFor(allFinished, 10_000, 'rows failed')
        expect(attempts).toEqual({ flaky: [1, 2, 3], 'bad-image': [1] })
        const flaky = await outbox.get(t.db, 'flaky')
        expect(flaky).toMatchObject({ status: 'failed', attempts: 3, lastError: 'store hiccup on attempt 3 (final)' })
        const bad = await outbox.get(t.db, 'bad')
        expect(bad).toMatchObject({ status: 'failed', attempts: 1, lastError: 'INVALID_IMAGE: cannot decode' })
      })

      it('a job delivered twice runs its handler once (the wrapper skips finished rows)', async () => {
        let runs = 0
        const handlers = { delete_objects: async () => void (runs += 1) }
        await run(handlers)
        const row = await outbox.add(t.db, { kind: 'delete_objects', payload: { fileId: 'x', prefix: 'items/x/' } })
        await waitFor(async () => (await outbox.get(t.db, row.id))?.status === 'done', 5000)
        // Redelivery through the queue with the same id …
        await queue.enqueue({ id: row.id, name: 'delete_objects', data: row.payload })
        await waitFor(async () => (await queue.counts()).waiting + (await queue.counts()).active === 0, 5000)
        // … and a direct second call of the wrapper.
        const wrapper = runOutboxJob({ db: t.db, handlers, logger: silentLogger })
        await wrapper({
          id: row.id,
          name: 'delete_objects',
          data: row.payload,
          attempt: 1,
          maxAttempts: 3,
          signal: new AbortController().signal,
        })
        // A job whose row never committed does nothing.
        await wrapper({
          id: 'no-such-row',
          name: 'delete_objects',
          data: null,
          attempt: 1,
          maxAttempts: 3,
          signal: new AbortController().signal,
        })
        await sleep(100)
        expect(runs).toBe(1)
      })

      it('dispatches again a row whose dispatch was lost (claimed, never enqueued)', async () => {
        const row = await outbox.add(t.db, { kind: 'variants', payload: { fileId: 'lost' } })
        // A relay that crashed right after claiming: the row is dispatched, its deadline passed.
        expect((await outboxRows.claimDue(t.db, { limit: 10, leaseMs: -1 })).map((r) => r.id)).toEqual([row.id])
        const seen: string[] = []
        await run({ variants: async (payload) => void seen.push((payload as { fileId: string }).fileId) })
        await waitFor(async () => (await outbox.get(t.db, row.id))?.status === 'done', 5000)
        expect(seen).toEqual(['lost'])
      })
    })
  }

  describe(`${dialect} + bullmq: Redis down`, () => {
    let t: TestDatabase
    const cleanups: (() => Promise<void>)[] = []
    beforeEach(async () => {
      t = await createTestDatabase(dialect)
    })
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
      await t.destroy()
    })

    it('keeps the row pending while Redis is down and runs it once Redis returns', async () => {
      const proxy = new RedisProxy()
      await proxy.start()
      await proxy.stop() // Redis is "down" from the start; the port is ours to reopen
      const prefix = testPrefix()
      const queue = new BullMqJobQueue({
        redisUrl: proxy.url,
        prefix,
        attempts: 3,
        backoffMs: 30,
        concurrency: 2,
        logger: silentLogger,
      })
      cleanups.push(() => obliterate(prefix))
      cleanups.push(() => queue.close({ timeoutMs: 1000 }))
      cleanups.push(() => proxy.stop())
      const relay = new OutboxRelay({ db: t.db, queue, retryDelayMs: 0, logger: silentLogger })

      // The upload's transaction commits regardless of Redis.
      const row = await withTransaction(t.db, (trx) =>
        outbox.add(trx, { kind: 'variants', payload: { fileId: 'f1' }, fileId: 'f1' }),
      )
      expect(await relay.runOnce()).toEqual({ dispatched: 0, deferred: 1, rejected: 0 })
      const pending = await outbox.get(t.db, row.id)
      expect(pending).toMatchObject({ status: 'pending', attempts: 0 })
      // Deferred at once because Redis is not connected, not after waiting out a command timeout.
      expect(pending?.lastError).toMatch(/^QUEUE_UNAVAILABLE/)
      expect(pending?.lastError).toMatch(/not connected/)
      expect(pending?.lastError).not.toMatch(/did not answer within/)

      const ran: string[] = []
      const worker = queue.work(
        'variants',
        runOutboxJob({
          db: t.db,
          handlers: { variants: async (p) => void ran.push((p as { fileId: string }).fileId) },
          logger: silentLogger,
        }),
      )
      cleanups.push(() => worker.close({ timeoutMs: 1000 }))
      await relay.start()
      cleanups.push(() => relay.stop())
      await sleep(300)
      expect((await outbox.get(t.db, row.id))?.status).toBe('pending')

      await proxy.start() // Redis is back
      await waitFor(
        async () => (await outbox.get(t.db, row.id))?.status === 'done',
        15_000,
        'row done after Redis returned',
      )
      expect(ran).toEqual(['f1'])
    })
  })
}
