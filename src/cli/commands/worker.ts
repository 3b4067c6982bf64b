import type { Scheduler } from '../../jobs/scheduler.js'
import { startSchedules } from '../../ops/index.js'
import type { Command } from '../command.js'
import { loadCommandConfig } from '../config.js'

export const worker: Command = {
  name: 'worker',
  summary:
    'Run background jobs (variants, object deletion, CDN purges, scheduled maintenance) as a process of its own.',
  description:
    'Takes jobs from BullMQ on Redis (REDIS_URL) and moves committed outbox rows to it, so any\n' +
    'number of workers may run next to any number of `serve` processes (set SERVE_WORKERS=0 on\n' +
    'those). Without REDIS_URL the queue is in-process: a worker then only runs the outbox rows of\n' +
    'this process, so prefer `serve` alone for the embedded default.\n\n' +
    'On SIGINT/SIGTERM it stops taking jobs, lets jobs in flight finish (BullMQ hands unfinished\n' +
    'ones to another worker after JOB_LOCK_DURATION) and exits 0.',
  options: {
    concurrency: {
      type: 'string',
      valueName: 'n',
      description: 'Jobs of each kind run at once (default: WORKER_CONCURRENCY).',
    },
    'no-schedule': {
      type: 'boolean',
      description: 'Do not run the scheduled maintenance (cleanup, orphan report) in this worker.',
    },
  },
  async run({ env, values, stderr, signal }) {
    const concurrency = typeof values.concurrency === 'string' ? values.concurrency : undefined
    const config = loadCommandConfig({ ...env, ...(concurrency ? { WORKER_CONCURRENCY: concurrency } : {}) })
    const { createStorage } = await import('../../app.js')
    const storage = await createStorage(config, { workers: true })
    let scheduler: Scheduler | undefined
    try {
      if (values['no-schedule'] !== true) {
        scheduler = await startSchedules(storage)
        if (scheduler.scheduled.length)
          stderr.write(`Scheduled (${scheduler.kind}): ${scheduler.scheduled.join(', ')}\n`)
      }
      stderr.write(
        `localex-storage worker running (queue: ${config.queue.redisUrl ? 'BullMQ' : 'in-process'}, concurrency ` +
          `${config.queue.concurrency})\n`,
      )
      if (!signal.aborted)
        await new Promise<void>((done) => signal.addEventListener('abort', () => done(), { once: true }))
      stderr.write('Shutting down: finishing jobs in flight...\n')
      return 0
    } finally {
      await scheduler?.close()
      await storage.close()
    }
  },
}
