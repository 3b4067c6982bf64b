import { LocalexError } from '../errors/index.js'
import type { Db } from '../db/connection.js'
import { outboxRows, type OutboxRecord } from '../db/repositories/outbox.js'
import { now } from '../db/time.js'
import { describeError, isPermanentFailure } from './retry.js'
import {
  consoleLogger,
  isJobName,
  type JobHandler,
  type JobName,
  type JobPayloads,
  type JobPublisher,
  type JobToEnqueue,
  type JobsLogger,
  type UntypedJobPayloads,
} from './types.js'

/**
 * The transactional outbox: how work that must follow a database change (variants, object
 * deletion, CDN purges) reaches the queue without ever being lost or invented.
 *
 * 1. `outbox.add(trx, …)` writes a row in the same transaction as the change. Roll back and the
 *    work never existed; commit and it will happen, even if Redis is down right now.
 * 2. An `OutboxRelay` (in every process that writes, and/or in workers) claims due rows, hands
 *    each to the `JobQueue` with job id = row id, and marks it `dispatched` with a deadline. If the
 *    queue refuses (Redis down) the row goes back to `pending` and is tried again later; if the
 *    deadline passes without the row being finished (the queue lost it, a worker vanished), it is
 *    dispatched again.
 * 3. Workers run `runOutboxJob(handlers)`, which finishes the row: `done` on success, `failed` with
 *    the reason after the last attempt.
 *
 * Delivery is therefore at least once: a job can run twice (re-dispatch after a lost worker, a
 * redelivered BullMQ job, a handler that finished but could not record it). Handlers must be
 * idempotent: write under deterministic keys, make status changes guarded (`WHERE status = …`),
 * and treat "already done" as success.
 */
export type OutboxEntry = {
  [K in JobName]: {
    kind: K
    /** Stored as JSON; given to the handler as is. */
    payload: JobPayloads[K]
    fileId?: string | null
    /** Not before this time (default: as soon as the relay sees it). */
    runAfter?: Date | string | number
    /** Default: a random UUID. Becomes the job id. */
    id?: string
  }
}[JobName]

export const outbox = {
  /** Records work inside the caller's transaction (see above). Resolves the row. */
  add(trx: Db, entry: OutboxEntry): Promise<OutboxRecord> {
    return outboxRows.insert(trx, entry)
  },
  get: outboxRows.get,
  list: outboxRows.list,
  counts: outboxRows.counts,
  purgeDone: outboxRows.purgeDone,
}

export interface OutboxRelayOptions {
  db: Db
  queue: JobPublisher
  /** Poll period when not poked with `notify()`. Default 500 ms. */
  intervalMs?: number
  /** Rows claimed per round. Default 100. */
  batchSize?: number
  /**
   * After dispatching, how long a row may stay unfinished before it is presumed lost and
   * dispatched again. Must exceed a job's longest run plus its retries' backoff (workers push
   * it forward at each attempt). Default 10 minutes.
   */
  visibilityMs?: number
  /** When the queue refused a row, wait this long before trying it again. Default 1000 ms. */
  retryDelayMs?: number
  /**
   * At start, make every `dispatched` row due at once. Right for an in-process queue (nothing it
   * held before a restart still exists); default: `queue.kind === 'memory'`.
   */
  reclaimOnStart?: boolean
  logger?: JobsLogger
}

export interface RelayRound {
  /** Rows handed to the queue. */
  dispatched: number
  /** Rows put back to pending because the queue refused them. */
  deferred: number
  /** Rows failed at once (a kind no handler knows). */
  rejected: number
}

/**
 * Moves committed outbox rows to the job queue (see `outbox`). `start()` polls every
 * `intervalMs`; `notify()` runs a round now (call it right after committing a transaction that
 * added rows, so the embedded default feels instant). Several relays may run against one
 * database: claims are exclusive.
 */
export class OutboxRelay {
  readonly #db: Db
  readonly #queue: JobPublisher
  readonly #intervalMs: number
  readonly #batchSize: number
  readonly #visibilityMs: number
  readonly #retryDelayMs: number
  readonly #reclaimOnStart: boolean
  readonly #logger: JobsLogger
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #again = false
  #started = false
  #stopping = false
  #lastError: string | undefined

  constructor(options: OutboxRelayOptions) {
    this.#db = options.db
    this.#queue = options.queue
    this.#intervalMs = options.intervalMs ?? 500
    this.#batchSize = options.batchSize ?? 100
    this.#visibilityMs = options.visibilityMs ?? 10 * 60_000
    this.#retryDelayMs = options.retryDelayMs ?? 1000
    this.#reclaimOnStart = options.reclaimOnStart ?? options.queue.kind === 'memory'
    this.#logger = options.logger ?? consoleLogger
  }

  /** Starts polling (idempotent). Resolves once start-up reclaiming is done. */
  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    this.#stopping = false
    if (this.#reclaimOnStart) {
      try {
        await outboxRows.reclaimDispatched(this.#db)
      } catch (error) {
        this.#report(error)
      }
    }
    this.notify()
  }

  /** Stops polling and waits for a round in progress. */
  async stop(): Promise<void> {
    this.#stopping = true
    this.#started = false
    clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#running
  }

  /** Runs a round as soon as possible (coalesced with one in progress). No-op when stopped. */
  notify(): void {
    if (!this.#started || this.#stopping) return
    if (this.#running) {
      this.#again = true
      return
    }
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#running = this.#loop().finally(() => {
      this.#running = undefined
      if (this.#started && !this.#stopping) {
        this.#timer = setTimeout(() => this.notify(), this.#intervalMs)
        this.#timer.unref()
      }
    })
  }

  /** One round: claim due rows and hand them to the queue. Never throws for queue trouble. */
  async runOnce(): Promise<RelayRound> {
    const round: RelayRound = { dispatched: 0, deferred: 0, rejected: 0 }
    const claimed = await outboxRows.claimDue(this.#db, { limit: this.#batchSize, leaseMs: this.#visibilityMs })
    for (let i = 0; i < claimed.length; i++) {
      const row = claimed[i] as OutboxRecord
      if (!isJobName(row.kind)) {
        await outboxRows.markFailed(this.#db, row.id, `Unknown job kind "${row.kind}"`)
        round.rejected += 1
        continue
      }
      try {
        await this.#queue.enqueue(jobOf(row, row.kind))
        round.dispatched += 1
      } catch (error) {
        // The queue is away: every remaining row of this round goes back to pending.
        const message = describeError(error)
        const runAfter = now(this.#retryDelayMs)
        for (const rest of claimed.slice(i)) await outboxRows.release(this.#db, rest.id, { runAfter, error: message })
        round.deferred += claimed.length - i
        this.#report(error)
        break
      }
    }
    if (round.deferred === 0) this.#lastError = undefined
    return round
  }

  async #loop(): Promise<void> {
    do {
      this.#again = false
      try {
        const round = await this.runOnce()
        // A full batch means more may be due: go on without waiting for the timer.
        if (round.dispatched + round.rejected === this.#batchSize) this.#again = true
      } catch (error) {
        this.#report(error) // database away: the next tick tries again
      }
    } while (this.#again && !this.#stopping)
  }

  /** Logs the first of a run of identical errors (an outage would otherwise log every tick). */
  #report(error: unknown): void {
    const message = describeError(error)
    if (message === this.#lastError) return
    this.#lastError = message
    this.#logger.warn({ error: message }, 'outbox relay: will retry')
  }
}

export interface OutboxJobContext<K extends JobName = JobName> {
  /** Outbox row id (= job id). */
  id: string
  kind: K
  fileId: string | null
  attempt: number
  maxAttempts: number
  /** True on the last attempt: failing now fails the row for good. */
  final: boolean
  signal: AbortSignal
}

/** Does the work of one outbox row of kind `K`. Must be idempotent (see `outbox`). */
export type OutboxHandler<K extends JobName = JobName> = (
  payload: JobPayloads[K],
  job: OutboxJobContext<K>,
) => Promise<void>

/** A handler per kind, each typed by its payload. */
export type OutboxHandlers = { [K in JobName]?: OutboxHandler<K> }

export interface RunOutboxJobOptions {
  db: Db
  handlers: OutboxHandlers
  /** Same as the relay's: each attempt pushes the row's re-dispatch deadline this far. */
  visibilityMs?: number
  logger?: JobsLogger
}

/**
 * The queue handler for outbox jobs: `queue.work(names, runOutboxJob({ db, handlers }))`.
 *
 * - A job whose row does not exist (its transaction rolled back, or it was purged) or is already
 *   `done`/`failed` (a duplicate delivery) is skipped.
 * - Otherwise the attempt is counted on the row and the deadline pushed, the handler runs, and
 *   the row becomes `done` (guarded: a concurrent duplicate finishing first is fine).
 * - A failure is recorded as `last_error` and rethrown so the queue retries with backoff; on the
 *   final attempt (or a non-retryable LocalexError) the row becomes `failed` with the reason.
 *
 * The job's own data is not read (the row's payload is what runs), so the handler takes a job of
 * any payload type.
 */
export function runOutboxJob(options: RunOutboxJobOptions): JobHandler<JobName, UntypedJobPayloads> {
  const { db, handlers } = options
  const visibilityMs = options.visibilityMs ?? 10 * 60_000
  const logger = options.logger ?? consoleLogger
  return async (job) => {
    const row = await outboxRows.get(db, job.id)
    if (!row || row.status === 'done' || row.status === 'failed') {
      if (!row) logger.warn({ jobId: job.id, job: job.name }, 'outbox job without a row: skipped')
      return
    }
    const kind = row.kind
    const run = isJobName(kind) ? handlerFor(handlers, row, kind) : undefined
    if (!run) {
      const reason = `No handler for outbox kind "${kind}"`
      await outboxRows.markFailed(db, row.id, reason)
      throw new LocalexError('INTERNAL', reason)
    }
    await outboxRows.touch(db, row.id, { runAfter: now(visibilityMs), countAttempt: true })
    const final = job.attempt >= job.maxAttempts
    try {
      await run({ attempt: job.attempt, maxAttempts: job.maxAttempts, final, signal: job.signal })
    } catch (error) {
      if (job.signal.aborted) throw error // shutdown: the queue hands the job back; the row stays as is
      const reason = describeError(error)
      if (final || isPermanentFailure(error)) await outboxRows.markFailed(db, row.id, reason)
      else await outboxRows.touch(db, row.id, { runAfter: now(visibilityMs), error: reason })
      throw error
    }
    await outboxRows.markDone(db, row.id)
  }
}

/**
 * A row's payload as its kind's type. Rows are written only through `outbox.add`, which the payload
 * map types, and the JSON format has not changed, so a row's payload is its kind's; this is the one
 * place that trusts it.
 */
function payloadOf<K extends JobName>(row: OutboxRecord, _kind: K): JobPayloads[K] {
  return row.payload as JobPayloads[K]
}

function jobOf<K extends JobName>(row: OutboxRecord, kind: K): JobToEnqueue {
  return { id: row.id, name: kind, data: payloadOf(row, kind) } as JobToEnqueue
}

/** The registered handler of `kind` bound to the row, or undefined when none is. */
function handlerFor<K extends JobName>(
  handlers: OutboxHandlers,
  row: OutboxRecord,
  kind: K,
): ((job: Omit<OutboxJobContext<K>, 'id' | 'kind' | 'fileId'>) => Promise<void>) | undefined {
  const handler: OutboxHandler<K> | undefined = handlers[kind]
  if (!handler) return undefined
  return (job) => handler(payloadOf(row, kind), { id: row.id, kind, fileId: row.fileId, ...job })
}
