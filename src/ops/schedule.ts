import { startScheduler, type Scheduler } from '../jobs/scheduler.js'
import { consoleLogger, type JobsLogger } from '../jobs/types.js'
import { cleanup, type CleanupSummary } from './cleanup.js'
import { findOrphans, type OrphanSummary } from './orphans.js'
import type { OpsContext } from './types.js'

export interface ScheduleOptions {
  /** Period of `cleanup` in ms (default `CLEANUP_INTERVAL`; 0: not scheduled). */
  cleanupEveryMs?: number
  /** Period of the report-only orphan sweep in ms (default `ORPHANS_INTERVAL`; 0: not scheduled). */
  orphansEveryMs?: number
  logger?: JobsLogger
  /** Each run's summary (the worker logs it; tests look at it). */
  onReport?: (
    report: { task: 'cleanup'; summary: CleanupSummary } | { task: 'orphans'; summary: OrphanSummary },
  ) => void
}

/**
 * Runs `cleanup` and a report-only `orphans` sweep periodically, for the `worker` command: as
 * BullMQ job schedulers when Redis is configured (one run per period across every worker), on
 * timers otherwise. The orphan sweep never deletes or marks on a schedule; its findings are
 * logged (warn when there are any) for an operator to act on with `orphans --delete`.
 * Close the returned scheduler before closing `storage`.
 */
export async function startSchedules(storage: OpsContext, options: ScheduleOptions = {}): Promise<Scheduler> {
  const logger = options.logger ?? consoleLogger
  const schedule = storage.config.ops.schedule
  return startScheduler(
    storage.config,
    [
      {
        name: 'cleanup',
        everyMs: options.cleanupEveryMs ?? schedule.cleanupEveryMs,
        async run(signal) {
          const summary = await cleanup(storage, { signal })
          options.onReport?.({ task: 'cleanup', summary })
          if (summary.errors.length)
            logger.warn({ counts: summary.counts, errors: summary.errors.slice(0, 10) }, 'scheduled cleanup had errors')
        },
      },
      {
        name: 'orphans',
        everyMs: options.orphansEveryMs ?? schedule.orphansEveryMs,
        async run(signal) {
          const summary = await findOrphans(storage, { signal })
          options.onReport?.({ task: 'orphans', summary })
          if (
            summary.orphans.objects ||
            summary.rows.missingOriginal ||
            summary.rows.missingDerived ||
            summary.errors.length
          ) {
            logger.warn(
              {
                orphans: summary.orphans,
                rows: summary.rows,
                errors: summary.errors.length,
                sample: summary.orphanObjects.slice(0, 10).map((o) => o.key),
              },
              'orphan sweep found leftovers; run `localex-storage orphans` for the list, `--delete` to remove them',
            )
          }
        },
      },
    ],
    { logger },
  )
}
