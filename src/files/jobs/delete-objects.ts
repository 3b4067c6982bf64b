import type { JobPayload } from '../../domain/index.js'
import type { FilesDeps } from '../deps.js'
import { deletePrefix } from '../objects.js'

/**
 * Removes every object under a retired file's folder, including what a variants job racing the
 * delete may have written. Queued in the transaction that retired the file, so it is retried until
 * the store accepts it (a partial deletion throws STORE_ERROR).
 */
export async function runDeleteObjectsJob(
  deps: FilesDeps,
  payload: JobPayload<'delete_objects'>,
  job: { signal?: AbortSignal },
): Promise<void> {
  await deletePrefix(deps.store, payload.prefix, job.signal)
}
