import type { JobPayload } from '../../domain/index.js'
import type { FilesDeps } from '../deps.js'

/** Requests a ready public file's URLs through the CDN so its first readers hit a warm cache. */
export async function runWarmCdnJob(
  deps: FilesDeps,
  payload: JobPayload<'warm_cdn'>,
  job: { signal?: AbortSignal },
): Promise<void> {
  const file = await deps.repo.getFile(payload.fileId)
  // Deleted, reprocessing or no longer public since it was queued: nothing to warm.
  if (!file || file.status !== 'ready' || file.accessLevel !== 'public') return
  const urls = file.objects.map((o) => deps.cdn.publicUrl(o.key))
  await deps.cdn.warm(urls, job.signal ? { signal: job.signal } : {})
}
