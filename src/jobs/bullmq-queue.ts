import { Queue, UnrecoverableError, WaitingError, Worker as BullWorker, type Job } from 'bullmq'
import { Redis, type RedisOptions } from 'ioredis'
import { LocalexError, isLocalexError } from '../errors/index.js'
import { sleep } from '../lib/index.js'
import { assertJobId } from './memory-queue.js'
import { describeError, isPermanentFailure } from './retry.js'
import {
  JOB_NAMES,
  consoleLogger,
  type CloseOptions,
  type EnqueueOptions,
  type JobHandler,
  type JobName,
  type JobPayloadMap,
  type JobPayloads,
  type JobQueue,
  type JobToEnqueue,
  type JobsLogger,
  type QueueCounts,
  type RawJobHandler,
  type WorkOptions,
  type Worker,
} from './types.js'

export interface BullMqQueueOptions {
  redisUrl: string
  /** Key prefix of every BullMQ key (`QUEUE_PREFIX`). */
  prefix: string
  attempts: number
  backoffMs: number
  /** Default concurrency per job name of `work`. */
  concurrency: number
  /**
   * How long a worker's lock on a job lasts without renewal (renewed at half of it while the job
   * runs). A worker that dies (SIGKILL, OOM, lost network) stops renewing; after this time plus
   * up to `stalledIntervalMs` another worker takes the job again. Default 30000.
   */
  lockDurationMs?: number
  /** How often workers look for jobs whose lock lapsed. Default 30000. */
  stalledIntervalMs?: number
  /** Redeliveries after lapsed locks before the job fails. Default 2. */
  maxStalledCount?: number
  /** Upper bound of one producer call (enqueue, counts, ping) before QUEUE_UNAVAILABLE. Default 2000. */
  commandTimeoutMs?: number
  /** Bound of the graceful part of a worker's close past its `timeoutMs` (default 1000). */
  returnGraceMs?: number
  logger?: JobsLogger
}

// Reconnect for ever, but never more often than every 2 s once Redis has been gone a while.
const retryStrategy = (times: number): number => Math.min(100 * 2 ** Math.min(times, 5), 2000)

/**
 * Jobs in Redis through BullMQ: one BullMQ queue per job name (`<prefix>:<name>`), so a worker
 * process can take only some kinds of work.
 *
 * Connections: the producer side uses an ioredis client with the offline queue disabled and a
 * bound on every call, so while Redis is down `enqueue` rejects with QUEUE_UNAVAILABLE at once
 * instead of piling commands up in memory; the outbox keeps the work meanwhile. Workers get
 * their own client with `maxRetriesPerRequest: null`, as BullMQ requires for its blocking
 * commands, and simply wait for Redis to come back. Every client has an 'error' listener
 * (ioredis emits one per failed reconnect; unhandled, it would crash the process); the first of
 * each outage is logged.
 */
export class BullMqJobQueue<P extends JobPayloadMap = JobPayloads> implements JobQueue<P> {
  readonly kind = 'bullmq' as const
  readonly #options: Required<Omit<BullMqQueueOptions, 'logger'>>
  readonly #logger: JobsLogger
  readonly #producer: Redis
  readonly #queues = new Map<JobName, Queue>()
  readonly #workers = new Set<BullMqWorker>()
  #closed = false
  #producerFailed = false

  constructor(options: BullMqQueueOptions) {
    this.#options = {
      lockDurationMs: 30_000,
      stalledIntervalMs: 30_000,
      maxStalledCount: 2,
      commandTimeoutMs: 2000,
      returnGraceMs: 1000,
      ...options,
    }
    this.#logger = options.logger ?? consoleLogger
    this.#producer = this.connect('producer', { enableOfflineQueue: false, maxRetriesPerRequest: 1 })
    this.#producer.on('error', () => (this.#producerFailed = true))
    this.#producer.on('close', () => (this.#producerFailed = true))
    this.#producer.on('ready', () => (this.#producerFailed = false))
  }

  async enqueue(job: JobToEnqueue<P>, options: EnqueueOptions = {}): Promise<void> {
    assertJobId(job.id)
    const queue = this.#queue(job.name)
    await this.#bounded('enqueue', async () => {
      // BullMQ ignores an add whose id exists in any state; we want "once while pending": a
      // finished job of the same id (kept failed ones; completed ones are removed) makes room.
      const state = await queue.getJobState(job.id)
      if (state === 'completed' || state === 'failed') await queue.remove(job.id)
      await queue.add(job.name, job.data, {
        jobId: job.id,
        attempts: this.#options.attempts,
        backoff: { type: 'exponential', delay: this.#options.backoffMs },
        removeOnComplete: true,
        removeOnFail: { count: 1000 },
        ...(options.delayMs && options.delayMs > 0 ? { delay: options.delayMs } : {}),
      })
    })
  }

  work<N extends JobName>(names: N | readonly N[], handler: JobHandler<N, P>, options: WorkOptions = {}): Worker {
    if (this.#closed) throw new LocalexError('QUEUE_UNAVAILABLE', 'The job queue is closed')
    const list: readonly JobName[] = typeof names === 'string' ? [names] : [...names]
    const worker = new BullMqWorker(
      this,
      list,
      handler as RawJobHandler,
      {
        concurrency: options.concurrency ?? this.#options.concurrency,
        prefix: this.#options.prefix,
        lockDurationMs: this.#options.lockDurationMs,
        stalledIntervalMs: this.#options.stalledIntervalMs,
        maxStalledCount: this.#options.maxStalledCount,
        returnGraceMs: this.#options.returnGraceMs,
      },
      this.#logger,
    )
    this.#workers.add(worker)
    return worker
  }

  async counts(): Promise<QueueCounts> {
    return this.#bounded('counts', async () => {
      const totals: QueueCounts = { waiting: 0, active: 0, delayed: 0, failed: 0 }
      for (const name of JOB_NAMES) {
        const c = await this.#queue(name).getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed')
        totals.waiting += (c.waiting ?? 0) + (c.prioritized ?? 0)
        totals.active += c.active ?? 0
        totals.delayed += c.delayed ?? 0
        totals.failed += c.failed ?? 0
      }
      return totals
    })
  }

  async ping(): Promise<void> {
    await this.#bounded('ping', () => this.#producer.ping())
  }

  async close(options: CloseOptions = {}): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.all([...this.#workers].map((w) => w.close(options)))
    await Promise.all(
      [...this.#queues.values()].map((q) =>
        withTimeout(q.close(), this.#options.commandTimeoutMs).catch(() => undefined),
      ),
    )
    await quit(this.#producer, this.#options.commandTimeoutMs)
  }

  /**
   * Deletes every job and key of this prefix (all job names). For tests and operators resetting
   * a queue; refuses while workers are active on it unless they are closed first.
   */
  async obliterate(): Promise<void> {
    await this.#bounded(
      'obliterate',
      async () => {
        for (const name of JOB_NAMES) await this.#queue(name).obliterate({ force: true })
      },
      30_000,
    )
  }

  // ------------------------------------------------------------ shared with BullMqWorker

  /** @internal A client for `role` with an error listener and outage logging. */
  connect(role: string, overrides: RedisOptions): Redis {
    const client = new Redis(this.#options.redisUrl, { connectTimeout: 2000, retryStrategy, ...overrides })
    let reported = false
    client.on('error', (error: Error) => {
      if (reported) return
      reported = true
      this.#logger.warn({ role, error: error.message }, 'Redis connection lost; retrying')
    })
    client.on('ready', () => (reported = false))
    return client
  }

  /** @internal */
  forget(worker: BullMqWorker): void {
    this.#workers.delete(worker)
  }

  #queue(name: JobName): Queue {
    if (this.#closed) throw new LocalexError('QUEUE_UNAVAILABLE', 'The job queue is closed')
    let queue = this.#queues.get(name)
    if (!queue) {
      queue = new Queue(name, { connection: this.#producer, prefix: this.#options.prefix })
      // Queue re-emits client errors; the client's own listener already reports them.
      queue.on('error', () => undefined)
      this.#queues.set(name, queue)
    }
    return queue
  }

  /**
   * Resolves when the producer is connected. While its very first connection attempt is under
   * way it waits for it (within the bound); once an attempt has failed, it rejects at once: an
   * outage answers immediately instead of making every caller wait for the timeout.
   */
  async #connected(timeoutMs: number): Promise<void> {
    const client = this.#producer
    if (client.status === 'ready') return
    if (this.#producerFailed || !['wait', 'connecting', 'connect'].includes(client.status)) {
      throw new LocalexError('QUEUE_UNAVAILABLE', `Redis is not connected (${client.status})`)
    }
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        const onReady = () => {
          client.off('error', onError)
          resolve()
        }
        const onError = (error: Error) => {
          client.off('ready', onReady)
          reject(new LocalexError('QUEUE_UNAVAILABLE', `Redis is not connected: ${error.message}`, { cause: error }))
        }
        client.once('ready', onReady)
        client.once('error', onError)
      }),
      timeoutMs,
    )
  }

  async #bounded<T>(what: string, fn: () => Promise<T>, timeoutMs = this.#options.commandTimeoutMs): Promise<T> {
    if (this.#closed) throw new LocalexError('QUEUE_UNAVAILABLE', 'The job queue is closed')
    try {
      await this.#connected(timeoutMs)
      return await withTimeout(fn(), timeoutMs)
    } catch (cause) {
      if (isLocalexError(cause, 'QUEUE_UNAVAILABLE')) throw cause
      throw new LocalexError('QUEUE_UNAVAILABLE', `Queue ${what} failed: ${describeError(cause)}`, { cause })
    }
  }
}

interface WorkerSettings {
  concurrency: number
  prefix: string
  lockDurationMs: number
  stalledIntervalMs: number
  maxStalledCount: number
  returnGraceMs: number
}

/** What a worker needs of its queue. */
interface WorkerOwner {
  connect(role: string, overrides: RedisOptions): Redis
  forget(worker: BullMqWorker): void
}

class BullMqWorker implements Worker {
  readonly #owner: WorkerOwner
  readonly #client: Redis
  readonly #workers: BullWorker[]
  readonly #inFlight = new Map<AbortController, Promise<unknown>>()
  readonly #settings: WorkerSettings
  #returning = false
  #closing: Promise<void> | undefined

  constructor(
    owner: WorkerOwner,
    names: readonly JobName[],
    handler: RawJobHandler,
    settings: WorkerSettings,
    logger: JobsLogger,
  ) {
    this.#owner = owner
    this.#settings = settings
    this.#client = owner.connect('worker', { maxRetriesPerRequest: null })
    this.#workers = names.map((name) => {
      const worker = new BullWorker(
        name,
        (job: Job, token?: string, signal?: AbortSignal) => this.#process(name, handler, job, token, signal),
        {
          connection: this.#client,
          prefix: settings.prefix,
          concurrency: settings.concurrency,
          lockDuration: settings.lockDurationMs,
          stalledInterval: settings.stalledIntervalMs,
          maxStalledCount: settings.maxStalledCount,
        },
      )
      // Connection errors are reported by the client listener; others are worth a line.
      worker.on('error', (error: Error) => {
        if (this.#client.status === 'ready' && !this.#closing)
          logger.error({ job: name, error: error.message }, 'worker error')
      })
      worker.on('failed', (job: Job | undefined, error: Error) => {
        if (job && !(error instanceof WaitingError))
          logger.warn(
            { jobId: job.id, job: name, attempt: job.attemptsMade, error: error.message },
            'job attempt failed',
          )
      })
      return worker
    })
  }

  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= this.#shutdown(options)
    return this.#closing
  }

  #process(
    name: JobName,
    handler: RawJobHandler,
    job: Job,
    token: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const controller = new AbortController()
    const forward = () => controller.abort(signal?.reason)
    signal?.addEventListener('abort', forward, { once: true })
    const run = handler({
      id: job.id as string,
      name,
      data: job.data as unknown,
      attempt: job.attemptsMade + 1,
      maxAttempts: job.opts.attempts ?? 1,
      signal: controller.signal,
    })
    this.#inFlight.set(
      controller,
      run.catch(() => undefined),
    )
    return run
      .then(
        () => undefined,
        async (error: unknown) => {
          if (this.#returning && token) {
            // Shutdown past its grace period: hand the job back untouched (no attempt counted).
            await job.moveToWait(token)
            throw new WaitingError()
          }
          if (isPermanentFailure(error)) throw new UnrecoverableError(describeError(error))
          throw error instanceof Error ? error : new Error(describeError(error))
        },
      )
      .finally(() => {
        signal?.removeEventListener('abort', forward)
        this.#inFlight.delete(controller)
      })
  }

  async #shutdown(options: CloseOptions): Promise<void> {
    // Stop fetching. BullMQ's close also waits for the jobs in flight, but it cannot finish while
    // Redis is away, so the handlers are awaited here and BullMQ only for a bounded time after.
    const closed = Promise.all(this.#workers.map((w) => w.close())).then(
      () => true,
      () => true,
    )
    const handlers = () => Promise.all(this.#inFlight.values()).then(() => true)
    let settled =
      options.timeoutMs === undefined
        ? await handlers()
        : await Promise.race([handlers(), sleep(options.timeoutMs, { unref: true }).then(() => false)])
    if (!settled) {
      this.#returning = true
      for (const controller of this.#inFlight.keys())
        controller.abort(new LocalexError('ABORTED', 'Worker is shutting down'))
      settled = await Promise.race([handlers(), sleep(this.#settings.returnGraceMs, { unref: true }).then(() => false)])
    }
    // Let BullMQ record the last results (or move returned jobs back) while Redis answers.
    const finished = await Promise.race([
      closed,
      sleep(this.#client.status === 'ready' ? 5000 : 0, { unref: true }).then(() => false),
    ])
    // Otherwise drop the connection: a job still running loses its lock and another worker
    // takes it after lockDuration (at-least-once).
    if (!settled || !finished) this.#client.disconnect()
    await quit(this.#client, 2000)
    this.#owner.forget(this)
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new LocalexError('QUEUE_UNAVAILABLE', `Redis did not answer within ${ms} ms`)),
          ms,
        )
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

async function quit(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'end') return
  try {
    if (client.status !== 'ready') throw new Error('not connected')
    await withTimeout(client.quit(), timeoutMs)
  } catch {
    // Not connected or not answering: there is nothing to say goodbye to.
    client.disconnect()
  }
}
