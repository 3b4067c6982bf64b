import { setTimeout as sleep } from 'node:timers/promises'
import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { LocalexError, isLocalexError } from '../../src/errors/index.js'
import {
  createJobQueue,
  type JobContext,
  type JobName,
  type UntypedJobPayloads,
  type Worker,
} from '../../src/jobs/index.js'
import { QUEUE_KINDS, REDIS_URL, closedPort, createTestQueue, deferred, waitFor, type TestQueue } from './helpers.js'
import { testConfig } from '../support/db.js'

/**
 * Delays are checked without a stopwatch: the in-process queue runs on a clock the test moves
 * (fake timers), and BullMQ, whose schedule lives in Redis, is asked for the delay it recorded on
 * a job while the job sits in `delayed` (BullMQ resets it to 0 when it promotes the job).
 */
interface BullmqJobs {
  delayOf(id: string): Promise<number | undefined>
  close(): Promise<void>
}

function bullmqJobs(prefix: string, name: JobName): BullmqJobs {
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null })
  const queue = new Queue(name, { connection, prefix })
  return {
    delayOf: async (id) => (await queue.getJob(id))?.delay,
    async close() {
      await queue.close()
      connection.disconnect()
    },
  }
}

/** Fake timers for the in-process queue's delays; everything else (its pump, the waits here) stays real. */
function fakeClockFor(kind: string): void {
  if (kind === 'memory') vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
}

/** One contract, both implementations: what the FileManager and the relay rely on. */
describe.each(QUEUE_KINDS)('%s: JobQueue contract', (kind) => {
  let t: TestQueue | undefined
  const workers: Worker[] = []
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.close({ timeoutMs: 1000 })))
    await t?.dispose()
    t = undefined
  })
  const make = (options: Parameters<typeof createTestQueue>[1] = {}) => (t = createTestQueue(kind, options)).queue

  it('runs a job with its id, name, data and attempt', async () => {
    const queue = make()
    const seen: Omit<JobContext<JobName, UntypedJobPayloads>, 'signal'>[] = []
    workers.push(queue.work('variants', async ({ signal: _signal, ...job }) => void seen.push(job)))
    await queue.enqueue({ id: 'job-1', name: 'variants', data: { fileId: 'f1' } })
    await waitFor(() => seen.length === 1)
    expect(seen[0]).toEqual({ id: 'job-1', name: 'variants', data: { fileId: 'f1' }, attempt: 1, maxAttempts: 3 })
    await waitFor(async () => (await queue.counts()).active === 0)
    expect(await queue.counts()).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0 })
  })

  it('deduplicates by id while pending, and runs the id again once finished', async () => {
    const queue = make()
    await queue.enqueue({ id: 'same', name: 'variants', data: 1 })
    await queue.enqueue({ id: 'same', name: 'variants', data: 2 })
    expect((await queue.counts()).waiting).toBe(1)
    const runs: unknown[] = []
    workers.push(queue.work('variants', async (job) => void runs.push(job.data)))
    await waitFor(() => runs.length === 1)
    await sleep(150)
    expect(runs).toEqual([1])
    await waitFor(async () => (await queue.counts()).active === 0)
    await queue.enqueue({ id: 'same', name: 'variants', data: 3 })
    await waitFor(() => runs.length === 2)
    expect(runs).toEqual([1, 3])
  })

  it('delivers only the names a worker asked for, with bounded concurrency per name', async () => {
    const queue = make({ concurrency: 2 })
    let running = 0
    let peak = 0
    const names: string[] = []
    workers.push(
      queue.work(['variants', 'purge_cdn'], async (job) => {
        names.push(job.name)
        running += 1
        peak = Math.max(peak, running)
        await sleep(60)
        running -= 1
      }),
    )
    for (let i = 0; i < 6; i++) await queue.enqueue({ id: `v${i}`, name: 'variants', data: i })
    await queue.enqueue({ id: 'd1', name: 'delete_objects', data: null })
    await waitFor(() => names.length === 6)
    await sleep(100)
    expect(names).toEqual(Array(6).fill('variants'))
    expect(peak).toBe(2)
    expect((await queue.counts()).waiting).toBe(1) // delete_objects: nobody works on it
  })

  it('retries with exponential backoff, then succeeds', async () => {
    fakeClockFor(kind)
    const queue = make({ attempts: 3, backoffMs: 300 })
    const jobs = kind === 'bullmq' ? bullmqJobs(t?.prefix ?? '', 'variants') : undefined
    try {
      const attempts: number[] = []
      workers.push(
        queue.work('variants', async (job) => {
          attempts.push(job.attempt)
          if (job.attempt < 3) throw new Error(`fail ${job.attempt}`)
        }),
      )
      await queue.enqueue({ id: 'flaky', name: 'variants', data: null })
      // After each failure the job waits, delayed, for base × 2^(n-1) before its next attempt.
      for (const [failed, delay] of [
        [1, 300],
        [2, 600],
      ] as const) {
        await waitFor(async () => attempts.length === failed && (await queue.counts()).delayed === 1)
        if (jobs) {
          const recorded = async () => (await jobs.delayOf('flaky')) === delay
          await waitFor(recorded, 10_000, `a recorded backoff of ${delay} ms`)
        } else {
          // Not a moment early (the queue would have started it: these ticks yield to the event loop)...
          await vi.advanceTimersByTimeAsync(delay - 1)
          expect(attempts).toHaveLength(failed)
          // ...and at once when it is up.
          await vi.advanceTimersByTimeAsync(1)
          await waitFor(() => attempts.length === failed + 1)
        }
      }
      await waitFor(() => attempts.length === 3)
      expect(attempts).toEqual([1, 2, 3])
      await waitFor(async () => (await queue.counts()).active === 0)
      expect((await queue.counts()).failed).toBe(0)
    } finally {
      vi.useRealTimers()
      await jobs?.close()
    }
  })

  it('fails after the last attempt, and at once for a non-retryable LocalexError', async () => {
    const queue = make({ attempts: 2, backoffMs: 20 })
    const attempts: Record<string, number[]> = {}
    workers.push(
      queue.work('variants', async (job) => {
        ;(attempts[job.id] ??= []).push(job.attempt)
        if (job.id === 'permanent') throw new LocalexError('INVALID_IMAGE', 'not an image')
        throw new LocalexError('STORE_UNAVAILABLE', 'store down')
      }),
    )
    await queue.enqueue({ id: 'permanent', name: 'variants', data: null })
    await queue.enqueue({ id: 'transient', name: 'variants', data: null })
    await waitFor(async () => (await queue.counts()).failed === 2)
    expect(attempts).toEqual({ permanent: [1], transient: [1, 2] })
  })

  it('honours delayMs', async () => {
    fakeClockFor(kind)
    try {
      const queue = make()
      const ran = deferred()
      let runs = 0
      workers.push(
        queue.work('purge_cdn', async () => {
          runs += 1
          ran.resolve()
        }),
      )
      await queue.enqueue({ id: 'later', name: 'purge_cdn', data: null }, { delayMs: 300 })
      expect((await queue.counts()).delayed).toBe(1)
      expect(runs).toBe(0)
      if (kind === 'memory') {
        await vi.advanceTimersByTimeAsync(299)
        expect([runs, (await queue.counts()).delayed]).toEqual([0, 1])
        await vi.advanceTimersByTimeAsync(1)
      } else {
        const jobs = bullmqJobs(t?.prefix ?? '', 'purge_cdn')
        try {
          expect(await jobs.delayOf('later')).toBe(300)
        } finally {
          await jobs.close()
        }
      }
      await ran.promise
      expect(runs).toBe(1)
    } finally {
      vi.useRealTimers()
    }
  })

  it('graceful close waits for the job in flight, which completes', async () => {
    const queue = make()
    const started = deferred()
    let finished = 0
    const events: string[] = []
    const worker = queue.work('variants', async () => {
      started.resolve()
      await sleep(300)
      finished += 1
      events.push('job finished')
    })
    await queue.enqueue({ id: 'slow', name: 'variants', data: null })
    await started.promise
    events.push('close called')
    await worker.close()
    events.push('close resolved')
    expect(events).toEqual(['close called', 'job finished', 'close resolved'])
    expect(finished).toBe(1)
    expect(await queue.counts()).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0 })
  })

  it('close past its timeout aborts the job and returns it to the queue, attempt not counted', async () => {
    const queue = make()
    const started = deferred()
    const first = queue.work('variants', async ({ signal }) => {
      started.resolve()
      await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)))
    })
    await queue.enqueue({ id: 'returned', name: 'variants', data: null })
    await started.promise
    await first.close({ timeoutMs: 100 })
    await waitFor(async () => (await queue.counts()).waiting === 1, 5000, 'job back in waiting')
    const again = deferred<number>()
    workers.push(queue.work('variants', async (job) => again.resolve(job.attempt)))
    expect(await again.promise).toBe(1)
    expect((await queue.counts()).failed).toBe(0)
  })

  it('refuses unusable ids', async () => {
    const queue = make()
    for (const id of ['', 'a:b', '123']) {
      const error = await queue.enqueue({ id, name: 'variants', data: null }).catch((e: unknown) => e)
      expect(isLocalexError(error, 'INTERNAL')).toBe(true)
    }
  })
})

describe('createJobQueue', () => {
  it('picks BullMQ when REDIS_URL is set, the in-process queue otherwise', async () => {
    const memory = createJobQueue(testConfig())
    const port = await closedPort()
    const bull = createJobQueue(testConfig({ REDIS_URL: `redis://127.0.0.1:${port}` }))
    expect([memory.kind, bull.kind]).toEqual(['memory', 'bullmq'])
    await Promise.all([memory.close(), bull.close()])
  })
})
