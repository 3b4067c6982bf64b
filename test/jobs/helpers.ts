import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { createServer } from 'node:net'
import { TcpProxy } from '../support/tcp-proxy.js'
import {
  BullMqJobQueue,
  InProcessJobQueue,
  silentLogger,
  type JobQueue,
  type UntypedJobPayloads,
} from '../../src/jobs/index.js'

export const QUEUE_KINDS = ['memory', 'bullmq'] as const
export type QueueKind = (typeof QUEUE_KINDS)[number]

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

export interface TestQueueOptions {
  attempts?: number
  backoffMs?: number
  concurrency?: number
  redisUrl?: string
  prefix?: string
  lockDurationMs?: number
  stalledIntervalMs?: number
}

/** A unique BullMQ prefix per test, so parallel test files never share keys. */
export function testPrefix(): string {
  return `localex-test-${randomBytes(5).toString('hex')}`
}

export interface TestQueue {
  /** The contract is about moving jobs, not their payloads: any data goes. */
  queue: JobQueue<UntypedJobPayloads>
  prefix: string
  /** Closes the queue and, for BullMQ, obliterates every key under its prefix. */
  dispose(): Promise<void>
}

export function createTestQueue(kind: QueueKind, options: TestQueueOptions = {}): TestQueue {
  const settings = {
    attempts: options.attempts ?? 3,
    backoffMs: options.backoffMs ?? 50,
    concurrency: options.concurrency ?? 2,
    logger: silentLogger,
  }
  const prefix = options.prefix ?? testPrefix()
  if (kind === 'memory') {
    const queue = new InProcessJobQueue<UntypedJobPayloads>(settings)
    return { queue, prefix, dispose: () => queue.close({ timeoutMs: 2000 }) }
  }
  const queue = new BullMqJobQueue<UntypedJobPayloads>({
    ...settings,
    redisUrl: options.redisUrl ?? REDIS_URL,
    prefix,
    lockDurationMs: options.lockDurationMs ?? 2000,
    stalledIntervalMs: options.stalledIntervalMs ?? 1000,
  })
  return {
    queue,
    prefix,
    async dispose() {
      await queue.close({ timeoutMs: 2000 })
      if (options.redisUrl === undefined) await obliterate(prefix)
    },
  }
}

/** Removes every BullMQ key of `prefix` (through a fresh queue, the test's own may be closed). */
export async function obliterate(prefix: string): Promise<void> {
  const cleaner = new BullMqJobQueue({
    redisUrl: REDIS_URL,
    prefix,
    attempts: 1,
    backoffMs: 1,
    concurrency: 1,
    logger: silentLogger,
  })
  try {
    await waitFor(
      async () =>
        await cleaner.ping().then(
          () => true,
          () => false,
        ),
      5000,
    )
    await cleaner.obliterate()
  } finally {
    await cleaner.close()
  }
}

/** Resolves once `check` is true, polling; rejects after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(20)
  }
}

/** A port nothing listens on: bound by us, then released. */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

/** A TCP proxy in front of the real Redis (see test/support/tcp-proxy.ts). */
export class RedisProxy extends TcpProxy {
  constructor() {
    const target = new URL(REDIS_URL)
    super(target.hostname, Number(target.port || 6379))
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }
}
