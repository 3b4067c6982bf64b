/**
 * The job-queue port. The FileManager, the outbox relay and the worker process depend on these
 * interfaces only; `bullmq-queue.ts` (Redis) and `memory-queue.ts` (in-process) implement them
 * with the same observable behaviour, checked by one contract suite.
 *
 * Delivery is at least once: a job may run again after a crash, a lost lock or a redelivery, so
 * every handler must be idempotent (same end state however often it runs).
 */

import type { JobName, JobPayloads } from '../domain/index.js'

// The job vocabulary lives in the domain module (db, files and app speak it too); the queue port
// re-exports it so its users need one import.
export { JOB_NAMES, isJobName, type JobName, type JobPayload, type JobPayloads } from '../domain/index.js'

/**
 * A payload type per job name. The port is generic in it so the queue stays a transport: the
 * application uses `JobPayloads` (the default); the queue's own contract tests, which only move
 * data around, use `UntypedJobPayloads`.
 */
export type JobPayloadMap = { readonly [N in JobName]: unknown }
export type UntypedJobPayloads = JobPayloadMap

/** One job to add: for each name, its own payload type (a wrong payload is a type error). */
export type JobToEnqueue<P extends JobPayloadMap = JobPayloads> = {
  [N in JobName]: {
    /**
     * Deduplication key and job id: enqueuing an id that is still waiting, delayed or running is a
     * no-op; once it finished, the same id can run again. No ':' (BullMQ's key separator).
     */
    id: string
    name: N
    /** JSON-serialisable. */
    data: P[N]
  }
}[JobName]

export interface EnqueueOptions {
  /** Run no earlier than this many milliseconds from now. */
  delayMs?: number
}

/** What a handler receives; for a handler of one name, `data` has that name's payload type. */
export type JobContext<N extends JobName = JobName, P extends JobPayloadMap = JobPayloads> = {
  [K in N]: {
    id: string
    name: K
    data: P[K]
    /** 1 on the first run; counts failed runs, not redeliveries after a crashed worker. */
    attempt: number
    /** After this attempt fails the job is failed for good. */
    maxAttempts: number
    /** Aborted when the worker is shutting down past its grace period (or the job is cancelled). */
    signal: AbortSignal
  }
}[N]

/**
 * Resolves when the job is done. Throwing retries it with exponential backoff, unless the error
 * is a `LocalexError` whose `retryable` is false or the attempts are used up: then it fails.
 */
export type JobHandler<N extends JobName = JobName, P extends JobPayloadMap = JobPayloads> = (
  job: JobContext<N, P>,
) => Promise<void>

/**
 * @internal How the queue implementations hold a handler: they deliver each job only to a handler
 * of its name, with the data it was enqueued with, which `JobToEnqueue` typed; Redis and memory
 * cannot carry that type themselves.
 */
export type RawJobHandler = (job: JobContext<JobName, UntypedJobPayloads>) => Promise<void>

export interface WorkOptions {
  /** Jobs of each name this worker runs at once. Default: the config's WORKER_CONCURRENCY. */
  concurrency?: number
}

export interface CloseOptions {
  /**
   * How long to wait for jobs in flight. Default: as long as they take. Past it their signals
   * are aborted and they go back to the queue (not counted as an attempt) to run elsewhere or on
   * the next start; a handler that ignores its signal may still finish, so the job may run twice.
   */
  timeoutMs?: number
}

export interface Worker {
  /** Stops taking jobs and resolves when the jobs in flight have finished or been returned. */
  close(options?: CloseOptions): Promise<void>
}

export interface QueueCounts {
  waiting: number
  active: number
  delayed: number
  failed: number
}

export interface JobQueue<P extends JobPayloadMap = JobPayloads> {
  readonly kind: 'bullmq' | 'memory'
  /**
   * Adds a job (see `JobToEnqueue.id` for deduplication). Rejects with QUEUE_UNAVAILABLE,
   * quickly, when the queue cannot take it (Redis down): callers keep the work (the outbox
   * row stays pending) and try later.
   */
  enqueue(job: JobToEnqueue<P>, options?: EnqueueOptions): Promise<void>
  /** Runs `handler` for jobs of the given name(s) until the returned worker is closed. */
  work<N extends JobName>(names: N | readonly N[], handler: JobHandler<N, P>, options?: WorkOptions): Worker
  /** Totals over every job name. Rejects with QUEUE_UNAVAILABLE when Redis is down. */
  counts(): Promise<QueueCounts>
  /** Resolves when the queue can take jobs; QUEUE_UNAVAILABLE otherwise (health checks). */
  ping(): Promise<void>
  /** Closes every worker of this queue (gracefully, with `options`), then the connections. */
  close(options?: CloseOptions): Promise<void>
}

/**
 * The producing side of a queue, which is all the outbox relay uses. Any queue whose payload types
 * accept the application's (a transport-typed one included) can publish for it.
 */
export type JobPublisher = Pick<JobQueue, 'kind' | 'enqueue'>

/** Where the queue reports trouble it handles itself (lost connections, failed jobs). Pino-compatible. */
export interface JobsLogger {
  warn(fields: Record<string, unknown>, message: string): void
  error(fields: Record<string, unknown>, message: string): void
}

export const consoleLogger: JobsLogger = {
  warn: (fields, message) => console.warn(`[localex-storage] ${message}`, fields),
  error: (fields, message) => console.error(`[localex-storage] ${message}`, fields),
}

export const silentLogger: JobsLogger = { warn: () => undefined, error: () => undefined }
