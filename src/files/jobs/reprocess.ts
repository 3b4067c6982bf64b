import type { FilesDeps } from '../deps.js'

/**
 * Renders a `ready` (or `failed`) file's variants again from its stored original, after a change
 * of sizes or formats: the file goes back to `processing` with a variants job in the outbox.
 * Resolves false when the file was in no state to reprocess.
 */
export async function reprocess(deps: FilesDeps, id: string): Promise<boolean> {
  const queued = await deps.repo.markReprocess(id)
  if (queued) deps.notify()
  return queued
}
