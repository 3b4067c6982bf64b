import type { JobPayload } from '../../domain/index.js'
import type { FilesDeps } from '../deps.js'

/** Drops paths from the edge; retried from the outbox until the CDN accepts them. */
export async function runPurgeCdnJob(
  deps: FilesDeps,
  payload: JobPayload<'purge_cdn'>,
  job: { id?: string; signal?: AbortSignal },
): Promise<void> {
  // The job id makes a redelivered job's requests recognisable (CloudFront caller references).
  await deps.cdn.invalidate(payload.paths, {
    signal: job.signal,
    reference: job.id,
  })
}
