import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { LocalexError, isLocalexError } from '../../src/errors/index.js'
import { createJobQueue, type JobContext, type JobName, type UntypedJobPayloads, type Worker } from '../../src/jobs/index.js'
import { QUEUE_KINDS, closedPort, createTestQueue, deferred, waitFor, type TestQueue } from './helpers.js'
import { testConfig } from '../support/db.js'

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
    const queue = make({ attempts: 3, backoffMs: 100 })
    const at: number[] = []
    workers.push(
      queue.work('variants', async (job) => {
        at.push(Date.now())
        if (job.attempt < 3) throw new Error(`fail ${job.attempt}`)
      }),
    )
    await queue.enqueue({ id: 'flaky', name: 'variants', data: null })
    await waitFor(() => at.length === 3)
    const [a = 0, b = 0, c = 0] = at
    expect(b - a).toBeGreaterThanOrEqual(90) // 100 ms
    expect(c - b).toBeGreaterThanOrEqual(180) // 200 ms
    await waitFor(async () => (await queue.counts()).active === 0)
    expect((await queue.counts()).failed).toBe(0)
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
    const queue = make()
    const ran = deferred<number>()
    workers.push(queue.work('purge_cdn', async () => ran.resolve(Date.now())))
    const start = Date.now()
    await queue.enqueue({ id: 'later', name: 'purge_cdn', data: null }, { delayMs: 300 })
    expect((await queue.counts()).delayed).toBe(1)
    expect((await ran.promise) - start).toBeGreaterThanOrEqual(290)
  })

  it('graceful close waits for the job in flight, which completes', async () => {
    const queue = make()
    const started = deferred()
    let finished = 0
    const worker = queue.work('variants', async () => {
      started.resolve()
      await sleep(300)
      finished += 1
    })
    await queue.enqueue({ id: 'slow', name: 'variants', data: null })
    await started.promise
    const closing = Date.now()
    await worker.close()
    expect(Date.now() - closing).toBeGreaterThanOrEqual(250)
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
