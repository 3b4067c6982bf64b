import type { FileRecord } from '../domain/index.js'
import { isLocalexError } from '../errors/index.js'
import { notFound } from './access.js'
import { errorFields, type FilesDeps } from './deps.js'
import { deletePrefix, purgePaths } from './objects.js'
import type { Actor, RequestContext } from './types.js'

/**
 * Changes of a file's state that several use cases share: retiring (soft delete with its object
 * removal queued) and the reason recorded when a file fails.
 */

/** Soft-deletes a file, queueing the removal of its objects (and the CDN purge of public ones). */
export async function retireFile(
  deps: FilesDeps,
  actor: NonNullable<Actor>,
  ctx: RequestContext,
  file: FileRecord,
): Promise<void> {
  const retired = await deps.repo.markDeleted(file.id, purgePaths(file))
  if (!retired) throw notFound(file.id)
  await afterRetire(deps, file)
  const { id: fileId, entityType, entityId } = file
  await deps.repo.audit({ actor, ctx, action: 'delete', fileId, entityType, entityId })
}

/**
 * After a file was retired: start the queued work now, and try the object removal directly so the
 * deletion is visible at once.
 */
export async function afterRetire(deps: FilesDeps, file: FileRecord): Promise<void> {
  deps.notify()
  try {
    await deletePrefix(deps.store, file.keyPrefix)
  } catch (error) {
    // Continuing is right: the `delete_objects` outbox row committed with the status change, and
    // its job retries this removal until the store accepts it.
    deps.logger.warn(
      { fileId: file.id, prefix: file.keyPrefix, operation: 'delete_objects', ...errorFields(error) },
      'immediate deletion of a retired file failed; its queued job will retry',
    )
  }
}

/** What a failed file's `errorReason` says: the error code and message, at most 500 characters. */
export function failureReason(error: unknown): string {
  if (isLocalexError(error)) return `${error.code}: ${error.message}`.slice(0, 500)
  return `INTERNAL: ${(error as Error)?.message ?? String(error)}`.slice(0, 500)
}
