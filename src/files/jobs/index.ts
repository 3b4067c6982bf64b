import type { JobPayload } from '../../domain/index.js'
import type { VariantsJobRun } from './variants.js'

export { runDeleteObjectsJob } from './delete-objects.js'
export { runPurgeCdnJob } from './purge-cdn.js'
export { reprocess } from './reprocess.js'
export { runVariantsJob, type VariantsJobRun } from './variants.js'
export { runWarmCdnJob } from './warm-cdn.js'

/** Work the queue runs for the files layer: registered with the outbox by the composition root. */
export interface FileJobs {
  /** Writes the variants of a `processing` file; idempotent under redelivery. */
  runVariantsJob(payload: JobPayload<'variants'>, job: VariantsJobRun): Promise<void>
  /** Removes every object under a deleted file's folder (and what a racing job may have written). */
  runDeleteObjectsJob(payload: JobPayload<'delete_objects'>, job: { signal?: AbortSignal }): Promise<void>
  /** Drops paths from the edge; retried from the outbox until the CDN accepts them. */
  runPurgeCdnJob(payload: JobPayload<'purge_cdn'>, job: { id?: string; signal?: AbortSignal }): Promise<void>
  /** Requests a ready public file's URLs through the CDN so first readers hit (best effort). */
  runWarmCdnJob(payload: JobPayload<'warm_cdn'>, job: { signal?: AbortSignal }): Promise<void>
  /** Renders a `ready` file's variants again from its stored original (after a config change). */
  reprocess(id: string): Promise<boolean>
}
