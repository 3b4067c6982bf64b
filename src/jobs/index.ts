import type { Config } from '../config/index.js'
import { BullMqJobQueue, type BullMqQueueOptions } from './bullmq-queue.js'
import { InProcessJobQueue } from './memory-queue.js'
import type { JobQueue, JobsLogger } from './types.js'

export interface JobQueueOptions extends Pick<
  BullMqQueueOptions,
  'lockDurationMs' | 'stalledIntervalMs' | 'maxStalledCount' | 'commandTimeoutMs' | 'returnGraceMs'
> {
  logger?: JobsLogger
}

/** BullMQ on Redis when `queue.redisUrl` is set, otherwise the in-process queue. */
export function createJobQueue(config: Pick<Config, 'queue'>, options: JobQueueOptions = {}): JobQueue {
  const { redisUrl, prefix, attempts, backoffMs, concurrency, lockDurationMs, stalledIntervalMs } = config.queue
  if (redisUrl)
    return new BullMqJobQueue({
      redisUrl,
      prefix,
      attempts,
      backoffMs,
      concurrency,
      lockDurationMs,
      stalledIntervalMs,
      ...options,
    })
  return new InProcessJobQueue({
    attempts,
    backoffMs,
    concurrency,
    logger: options.logger,
  })
}

export { BullMqJobQueue, type BullMqQueueOptions } from './bullmq-queue.js'
export { InProcessJobQueue, type InProcessQueueOptions } from './memory-queue.js'
export { describeError, isPermanentFailure } from './retry.js'
export * from './types.js'
export * from './outbox.js'
