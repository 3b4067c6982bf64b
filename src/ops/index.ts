/**
 * Operations on a running storage: bucket setup, cleanup of what uploads leave behind, the
 * orphan sweep (both directions), storage statistics and their schedules. Each function takes
 * an `OpsContext` (config, store, database), an AbortSignal and a progress callback, returns a
 * JSON-serialisable summary, and is safe to interrupt and run again.
 */
export {
  setupBucket,
  lifecycleRules,
  corsRules,
  STORED_PREFIXES,
  type SetupBucketOptions,
  type SetupBucketSummary,
  type SetupStep,
} from './setup-bucket.js'
export { cleanup, type CleanupOptions, type CleanupSummary, type CleanupItem } from './cleanup.js'
export {
  findOrphans,
  type OrphanOptions,
  type OrphanSummary,
  type OrphanObject,
  type OrphanReason,
  type MissingObjects,
} from './orphans.js'
export {
  storageStats,
  BYTES_PER_GB,
  type StatsOptions,
  type StatsSummary,
  type EntityStats,
  type VerifyResult,
} from './stats.js'
export { startSchedules, type ScheduleOptions } from './schedule.js'
export { ownerOfKey, type KeyOwner } from './layout.js'
export type { OpsContext, Progress, OpsRunOptions, OpsError } from './types.js'
