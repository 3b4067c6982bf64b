import { LocalexError } from '../errors/index.js'
import { backoffDelay } from '../lib/index.js'
import { describeError, isPermanentFailure } from './retry.js'
import {
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

export interface InProcessQueueOptions {
  /** Attempts per job (first run included). */
  attempts: number
  /** First retry delay; doubles each attempt. */
  backoffMs: number
  /** Default concurrency per job name of `work`. */
  concurrency: number
  logger?: JobsLogger
}

interface Entry {
  readonly id: string
  readonly name: JobName
  readonly data: unknown
  failedAttempts: number
  state: 'waiting' | 'delayed' | 'active'
  timer?: NodeJS.Timeout
  /** Identifies the current run, so a run abandoned at shutdown cannot settle a later one. */
  run: number
}

/**
 * The embedded default: jobs live in this process's memory, with the same deduplication,
 * retries, backoff, per-name concurrency and graceful close as the BullMQ queue. Nothing here
 * survives the process, which is fine because callers enqueue from the outbox: rows dispatched
 * to a queue that died are dispatched again (see `OutboxRelay`).
 */
export class InProcessJobQueue<P extends JobPayloadMap = JobPayloads> implements JobQueue<P> {
  readonly kind = 'memory' as const
  readonly #options: InProcessQueueOptions
  readonly #logger: JobsLogger
  readonly #entries = new Map<string, Entry>()
  readonly #waiting = new Map<JobName, Entry[]>()
  readonly #workers = new Set<InProcessWorker<P>>()
  #failed = 0
  #closed = false
  #pumpScheduled = false
  #runs = 0

  constructor(options: InProcessQueueOptions) {
    this.#options = options
    this.#logger = options.logger ?? consoleLogger
  }

  async enqueue(job: JobToEnqueue<P>, options: EnqueueOptions = {}): Promise<void> {
    if (this.#closed) throw new LocalexError('QUEUE_UNAVAILABLE', 'The job queue is closed')
    assertJobId(job.id)
    if (this.#entries.has(job.id)) return
    const entry: Entry = { id: job.id, name: job.name, data: job.data, failedAttempts: 0, state: 'waiting', run: 0 }
    this.#entries.set(job.id, entry)
    if (options.delayMs && options.delayMs > 0) this.#delay(entry, options.delayMs)
    else this.#makeWaiting(entry)
  }

  work<N extends JobName>(names: N | readonly N[], handler: JobHandler<N, P>, options: WorkOptions = {}): Worker {
    if (this.#closed) throw new LocalexError('QUEUE_UNAVAILABLE', 'The job queue is closed')
    const list: readonly JobName[] = typeof names === 'string' ? [names] : [...names]
    const worker = new InProcessWorker(
      this,
      list,
      handler as RawJobHandler,
      options.concurrency ?? this.#options.concurrency,
    )
    this.#workers.add(worker)
    this.schedulePump()
    return worker
  }

  async counts(): Promise<QueueCounts> {
    const counts: QueueCounts = { waiting: 0, active: 0, delayed: 0, failed: this.#failed }
    for (const entry of this.#entries.values()) counts[entry.state] += 1
    return counts
  }

  async ping(): Promise<void> {
    if (this.#closed) throw new LocalexError('QUEUE_UNAVAILABLE', 'The job queue is closed')
  }

  async close(options: CloseOptions = {}): Promise<void> {
    this.#closed = true
    await Promise.all([...this.#workers].map((w) => w.close(options)))
    for (const entry of this.#entries.values()) clearTimeout(entry.timer)
    this.#entries.clear()
    this.#waiting.clear()
  }

  // ------------------------------------------------------------ used by InProcessWorker

  /** @internal Next waiting job of one of `names`, or undefined. */
  take(names: readonly JobName[]): Entry | undefined {
    for (const name of names) {
      const entry = this.#waiting.get(name)?.shift()
      if (entry) {
        entry.state = 'active'
        entry.run = ++this.#runs
        return entry
      }
    }
    return undefined
  }

  /** @internal Whether `run` is still the live run of `entry` (not returned at shutdown). */
  isCurrent(entry: Entry, run: number): boolean {
    return entry.run === run && this.#entries.get(entry.id) === entry && entry.state === 'active'
  }

  /** @internal A run ended. */
  settle(entry: Entry, error: unknown | undefined, failed: boolean): void {
    if (!failed) {
      this.#entries.delete(entry.id)
    } else if (isPermanentFailure(error) || entry.failedAttempts + 1 >= this.#options.attempts) {
      this.#entries.delete(entry.id)
      this.#failed += 1
      this.#logger.warn(
        { jobId: entry.id, job: entry.name, attempt: entry.failedAttempts + 1, error: describeError(error) },
        'job failed',
      )
    } else {
      entry.failedAttempts += 1
      // No jitter: the schedule BullMQ's `exponential` backoff follows (base, 2×base, 4×base, …).
      this.#delay(entry, backoffDelay(entry.failedAttempts, { baseMs: this.#options.backoffMs, jitter: 'none' }))
    }
    this.schedulePump()
  }

  /** @internal A worker shut down before the run ended: the job waits again (front of the line). */
  giveBack(entry: Entry): void {
    if (this.#entries.get(entry.id) !== entry || this.#closed) return
    entry.state = 'waiting'
    entry.run = 0
    const list = this.#waiting.get(entry.name) ?? []
    list.unshift(entry)
    this.#waiting.set(entry.name, list)
    this.schedulePump()
  }

  /** @internal */
  forget(worker: InProcessWorker<P>): void {
    this.#workers.delete(worker)
  }

  get maxAttempts(): number {
    return this.#options.attempts
  }

  schedulePump(): void {
    if (this.#pumpScheduled) return
    this.#pumpScheduled = true
    // Asynchronously: `enqueue` resolves before its handler starts, and no handler runs inside
    // another job's settle.
    setImmediate(() => {
      this.#pumpScheduled = false
      for (const worker of this.#workers) worker.fill()
    })
  }

  #makeWaiting(entry: Entry): void {
    entry.state = 'waiting'
    entry.timer = undefined
    const list = this.#waiting.get(entry.name) ?? []
    list.push(entry)
    this.#waiting.set(entry.name, list)
    this.schedulePump()
  }

  #delay(entry: Entry, ms: number): void {
    entry.state = 'delayed'
    entry.timer = setTimeout(() => this.#makeWaiting(entry), ms)
    // A delayed job must not keep the process alive: it is lost with the process either way.
    entry.timer.unref()
  }
}

class InProcessWorker<P extends JobPayloadMap> implements Worker {
  readonly #queue: InProcessJobQueue<P>
  readonly #names: readonly JobName[]
  readonly #handler: RawJobHandler
  readonly #concurrency: number
  readonly #active = new Map<JobName, number>()
  readonly #inFlight = new Map<Entry, { run: number; controller: AbortController; done: Promise<void> }>()
  #closing: Promise<void> | undefined

  constructor(queue: InProcessJobQueue<P>, names: readonly JobName[], handler: RawJobHandler, concurrency: number) {
    this.#queue = queue
    this.#names = names
    this.#handler = handler
    this.#concurrency = Math.max(1, concurrency)
  }

  /** Starts waiting jobs while this worker has free slots. */
  fill(): void {
    if (this.#closing) return
    for (const name of this.#names) {
      while ((this.#active.get(name) ?? 0) < this.#concurrency) {
        const entry = this.#queue.take([name])
        if (!entry) break
        this.#start(entry)
      }
    }
  }

  close(options: CloseOptions = {}): Promise<void> {
    this.#closing ??= this.#shutdown(options)
    return this.#closing
  }

  async #shutdown(options: CloseOptions): Promise<void> {
    const all = Promise.all([...this.#inFlight.values()].map((f) => f.done))
    if (options.timeoutMs === undefined) {
      await all
    } else {
      let timer: NodeJS.Timeout | undefined
      const timedOut = await Promise.race([
        all.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), options.timeoutMs))),
      ])
      clearTimeout(timer)
      if (timedOut) {
        for (const [entry, flight] of this.#inFlight) {
          flight.controller.abort(new LocalexError('ABORTED', 'Worker is shutting down'))
          this.#queue.giveBack(entry)
        }
        this.#inFlight.clear()
      }
    }
    this.#queue.forget(this)
  }

  #start(entry: Entry): void {
    const name = entry.name
    const run = entry.run
    this.#active.set(name, (this.#active.get(name) ?? 0) + 1)
    const controller = new AbortController()
    const done = (async () => {
      let error: unknown
      let failed = false
      try {
        await this.#handler({
          id: entry.id,
          name,
          data: entry.data,
          attempt: entry.failedAttempts + 1,
          maxAttempts: this.#queue.maxAttempts,
          signal: controller.signal,
        })
      } catch (e) {
        error = e
        failed = true
      }
      this.#active.set(name, (this.#active.get(name) ?? 1) - 1)
      this.#inFlight.delete(entry)
      if (this.#queue.isCurrent(entry, run)) this.#queue.settle(entry, error, failed)
      else this.#queue.schedulePump()
    })()
    this.#inFlight.set(entry, { run, controller, done })
  }
}

/** Both queues take the same ids: BullMQ reserves ':' and needs something non-numeric. */
export function assertJobId(id: string): void {
  if (!id || id.includes(':') || /^\d+$/.test(id))
    throw new LocalexError('INTERNAL', `Job id "${id}" is not allowed (empty, numeric or containing ":")`)
}
