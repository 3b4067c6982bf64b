import { spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { isLocalexError } from '../../src/errors/index.js'
import { BullMqJobQueue, silentLogger, type UntypedJobPayloads, type Worker } from '../../src/jobs/index.js'
import { bounded } from '../support/wait.js'
import {
  REDIS_URL,
  RedisProxy,
  closedPort,
  createTestQueue,
  deferred,
  obliterate,
  testPrefix,
  waitFor,
  type TestQueue,
} from './helpers.js'

/**
 * Failing fast is a matter of which way a call fails, not of a stopwatch: with Redis away, a call
 * is refused because the connection is down, never after waiting out the command timeout.
 */
function expectFastFailure(error: unknown): void {
  expect(isLocalexError(error, 'QUEUE_UNAVAILABLE'), String(error)).toBe(true)
  expect((error as Error).message).toMatch(/not connected/)
  expect((error as Error).message).not.toMatch(/did not answer within/)
}

describe('bullmq: Redis unavailable', () => {
  const cleanups: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  it('enqueue, counts and ping fail fast with QUEUE_UNAVAILABLE; workers wait; nothing crashes', async () => {
    const port = await closedPort()
    const queue = new BullMqJobQueue<UntypedJobPayloads>({
      redisUrl: `redis://127.0.0.1:${port}`,
      prefix: testPrefix(),
      attempts: 1,
      backoffMs: 10,
      concurrency: 1,
      logger: silentLogger,
    })
    const worker = queue.work('variants', async () => undefined)
    cleanups.push(() => queue.close())
    for (let i = 0; i < 3; i++) {
      const error = await queue.enqueue({ id: `down-${i}`, name: 'variants', data: null }).catch((e: unknown) => e)
      expectFastFailure(error)
      await sleep(100) // let ioredis fail a few reconnects in between (each emits 'error')
    }
    expectFastFailure(await queue.counts().catch((e: unknown) => e))
    expectFastFailure(await queue.ping().catch((e: unknown) => e))
    // Closing does not wait for a Redis that is not there (the wait is bounded, not measured).
    await bounded(worker.close(), 10_000, 'the worker to close')
  })

  it('recovers when Redis returns: jobs enqueue and run again', async () => {
    const proxy = new RedisProxy()
    await proxy.start()
    const prefix = testPrefix()
    const queue = new BullMqJobQueue<UntypedJobPayloads>({
      redisUrl: proxy.url,
      prefix,
      attempts: 1,
      backoffMs: 10,
      concurrency: 1,
      logger: silentLogger,
    })
    cleanups.push(() => obliterate(prefix))
    cleanups.push(() => queue.close({ timeoutMs: 1000 }))
    cleanups.push(() => proxy.stop())
    const ran: string[] = []
    const worker: Worker = queue.work('variants', async (job) => void ran.push(job.id))
    cleanups.push(() => worker.close({ timeoutMs: 1000 }))

    await waitFor(
      () =>
        queue.ping().then(
          () => true,
          () => false,
        ),
      5000,
      'first connection',
    )
    await queue.enqueue({ id: 'before', name: 'variants', data: null })
    await waitFor(() => ran.includes('before'))

    await proxy.stop()
    await waitFor(
      async () => isLocalexError(await queue.ping().catch((e: unknown) => e), 'QUEUE_UNAVAILABLE'),
      5000,
      'outage noticed',
    )
    expectFastFailure(await queue.enqueue({ id: 'during', name: 'variants', data: null }).catch((e: unknown) => e))

    await proxy.start() // same port
    await waitFor(
      () =>
        queue.ping().then(
          () => true,
          () => false,
        ),
      10_000,
      'reconnection',
    )
    await queue.enqueue({ id: 'after', name: 'variants', data: null })
    await waitFor(() => ran.includes('after'), 10_000, 'job after recovery')
    expect(ran).toEqual(['before', 'after'])
  })
})

describe('bullmq: a worker killed mid-job', () => {
  let t: TestQueue | undefined
  afterEach(async () => {
    await t?.dispose()
  })

  it('has its job redelivered to another worker, which runs it to completion exactly once', async () => {
    t = createTestQueue('bullmq', { lockDurationMs: 1000, stalledIntervalMs: 500 })
    const { queue, prefix } = t
    await waitFor(
      () =>
        queue.ping().then(
          () => true,
          () => false,
        ),
      5000,
    )
    await queue.enqueue({ id: 'victim', name: 'variants', data: { fileId: 'f1' } })

    const script = fileURLToPath(new URL('./fixtures/slow-worker.ts', import.meta.url))
    const child = spawn(process.execPath, ['--import', 'tsx', script, REDIS_URL, prefix], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const started = deferred<string>()
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const line = output.split('\n').find((l) => l.startsWith('started '))
      if (line) started.resolve(line)
    })
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)))
    try {
      expect(await Promise.race([started.promise, sleep(20_000).then(() => 'child never started the job')])).toBe(
        'started victim attempt=1',
      )
      expect(await queue.counts()).toMatchObject({ active: 1 })
    } finally {
      child.kill('SIGKILL')
    }
    expect(await exited).toBe('SIGKILL')

    const runs: { attempt: number; data: unknown }[] = []
    const completed = deferred()
    const survivor = queue.work('variants', async (job) => {
      runs.push({ attempt: job.attempt, data: job.data })
      await sleep(50)
      completed.resolve()
    })
    try {
      // Redelivered once its lock lapses (the wait is bounded well past the lock duration).
      await bounded(completed.promise, 15_000, 'the stalled job to be redelivered')
      expect(runs).toEqual([{ attempt: 1, data: { fileId: 'f1' } }])
      await waitFor(async () => (await queue.counts()).active === 0, 5000)
      await sleep(1200) // past another lock period: no second redelivery
      expect(runs).toHaveLength(1)
      expect(await queue.counts()).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0 })
    } finally {
      await survivor.close({ timeoutMs: 1000 })
    }
  })
})
