import { Queue, Worker as BullWorker, type Job } from 'bullmq'
import { Redis } from 'ioredis'
import type { Config } from '../config/index.js'
import { consoleLogger, type JobsLogger } from './types.js'

/**
 * Periodic tasks (cleanup, orphan sweeps). With Redis they are BullMQ job schedulers on one
 * `schedules` queue: however many worker processes call `startScheduler`, each period runs once,
 * in whichever worker takes it, and a period missed while every worker was down runs when one
 * comes back. Without Redis (the embedded default, one process) a timer per task runs it, never
 * two runs of one task at once.
 */

export interface ScheduledTask {
  /** Stable id of the schedule (`[a-z0-9_-]`): re-registering the same name replaces it. */
  name: string
  /** Period in ms; 0 removes the schedule. */
  everyMs: number
  /** One run; `signal` aborts when the scheduler closes. A throw is logged, and the next period runs anyway. */
  run(signal: AbortSignal): Promise<void>
}

export interface Scheduler {
  readonly kind: 'bullmq' | 'timer'
  /** Names of the tasks scheduled (period > 0). */
  readonly scheduled: readonly string[]
  /** Stops taking runs, aborts the ones in flight and waits for them. The schedules stay in Redis. */
  close(): Promise<void>
  /** Deletes this scheduler's schedules from Redis too (no-op for timers); for tests and for turning them off. */
  remove(): Promise<void>
}

export interface SchedulerOptions {
  logger?: JobsLogger
}

const QUEUE = 'schedules'

export async function startScheduler(
  config: Pick<Config, 'queue'>,
  tasks: readonly ScheduledTask[],
  options: SchedulerOptions = {},
): Promise<Scheduler> {
  const logger = options.logger ?? consoleLogger
  for (const task of tasks) {
    if (!/^[a-z0-9_-]+$/.test(task.name)) throw new Error(`Invalid schedule name "${task.name}"`)
  }
  return config.queue.redisUrl
    ? startBullMq(config.queue.redisUrl, config.queue.prefix, tasks, logger)
    : startTimers(tasks, logger)
}

async function startBullMq(
  redisUrl: string,
  prefix: string,
  tasks: readonly ScheduledTask[],
  logger: JobsLogger,
): Promise<Scheduler> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null, connectTimeout: 2000 })
  let reported = false
  connection.on('error', (error: Error) => {
    if (reported) return
    reported = true
    logger.warn({ role: 'scheduler', error: error.message }, 'Redis connection lost; retrying')
  })
  connection.on('ready', () => (reported = false))
  const queue = new Queue(QUEUE, { connection, prefix })
  queue.on('error', () => undefined)
  const byName = new Map(tasks.map((t) => [t.name, t]))
  try {
    for (const task of tasks) {
      if (task.everyMs > 0) {
        await queue.upsertJobScheduler(
          task.name,
          { every: task.everyMs },
          { name: task.name, opts: { attempts: 1, removeOnComplete: 100, removeOnFail: 100 } },
        )
      } else {
        await queue.removeJobScheduler(task.name)
      }
    }
  } catch (error) {
    await queue.close().catch(() => undefined)
    connection.disconnect()
    throw error
  }
  // Blocking commands need a connection of their own; BullMQ does not close one it was given.
  const workerConnection = connection.duplicate()
  workerConnection.on('error', () => undefined)
  const worker = new BullWorker(
    QUEUE,
    async (job: Job, _token?: string, signal?: AbortSignal) => {
      const task = byName.get(job.name)
      // A schedule another deployment registered: not ours to run; leave it to that one.
      if (!task) return
      await task.run(signal ?? new AbortController().signal)
    },
    { connection: workerConnection, prefix, concurrency: 1 },
  )
  worker.on('error', (error: Error) =>
    logger.error({ role: 'scheduler', error: error.message }, 'scheduler worker error'),
  )
  worker.on('failed', (job: Job | undefined, error: Error) =>
    logger.warn({ schedule: job?.name, error: error.message }, 'scheduled run failed'),
  )
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    await worker.close()
    await queue.close()
    await workerConnection.quit().catch(() => workerConnection.disconnect())
    await connection.quit().catch(() => connection.disconnect())
  }
  return {
    kind: 'bullmq',
    scheduled: tasks.filter((t) => t.everyMs > 0).map((t) => t.name),
    close,
    async remove() {
      const q = closed ? null : queue
      if (q) for (const task of tasks) await q.removeJobScheduler(task.name)
      await close()
    },
  }
}

function startTimers(tasks: readonly ScheduledTask[], logger: JobsLogger): Scheduler {
  const controller = new AbortController()
  const timers = new Set<NodeJS.Timeout>()
  const running = new Set<Promise<void>>()
  const loop = (task: ScheduledTask, delay: number) => {
    if (controller.signal.aborted) return
    const timer = setTimeout(() => {
      timers.delete(timer)
      const run = task
        .run(controller.signal)
        .catch((error: unknown) => {
          if (!controller.signal.aborted)
            logger.warn(
              { schedule: task.name, error: error instanceof Error ? error.message : String(error) },
              'scheduled run failed',
            )
        })
        .finally(() => {
          running.delete(run)
          loop(task, task.everyMs)
        })
      running.add(run)
    }, delay)
    timer.unref()
    timers.add(timer)
  }
  // First run right away (as BullMQ's `every` does), then one period after each run ends.
  for (const task of tasks) if (task.everyMs > 0) loop(task, 0)
  const close = async () => {
    controller.abort(new Error('scheduler closed'))
    for (const timer of timers) clearTimeout(timer)
    timers.clear()
    await Promise.allSettled([...running])
  }
  return { kind: 'timer', scheduled: tasks.filter((t) => t.everyMs > 0).map((t) => t.name), close, remove: close }
}
