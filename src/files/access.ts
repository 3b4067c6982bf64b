import { LocalexError } from '../errors/index.js'
import type { FileRecord } from '../domain/index.js'
import type { Actor } from './types.js'

/**
 * Who may do what, in one place. Reads: `public` anyone, `authenticated` any signed-in user,
 * `private` the owner and admins. Writes (delete, replace, reorder): the owner of the thing the file
 * hangs off — the item's owner for item photos, the user for profile photos and documents — or an
 * admin. A private file that the actor may not read is reported as NOT_FOUND, so that nobody can
 * probe which ids exist.
 */

export const isAdmin = (actor: Actor): boolean => actor?.role === 'admin'

export function canRead(actor: Actor, file: Pick<FileRecord, 'accessLevel' | 'ownerId'>): boolean {
  switch (file.accessLevel) {
    case 'public':
      return true
    case 'authenticated':
      return actor !== null
    case 'private':
      return actor !== null && (actor.id === file.ownerId || actor.role === 'admin')
  }
}

/** Throws the error that does not leak existence: NOT_FOUND for private files, else 401/403. */
export function assertCanRead(actor: Actor, file: Pick<FileRecord, 'id' | 'accessLevel' | 'ownerId'>): void {
  if (canRead(actor, file)) return
  if (file.accessLevel === 'private') throw notFound(file.id)
  throw new LocalexError('UNAUTHENTICATED', 'Sign in to see this file')
}

/**
 * `entityOwner` is the item's owner for item photos, the user for the rest. Actors who may not even
 * read the file get NOT_FOUND (same answer as a missing file); readers who may not write get
 * FORBIDDEN, anonymous callers UNAUTHENTICATED.
 */
export function assertCanModify(
  actor: Actor,
  file: Pick<FileRecord, 'id' | 'accessLevel' | 'ownerId'>,
  entityOwner: string | null,
): asserts actor is NonNullable<Actor> {
  if (!canRead(actor, file)) assertCanRead(actor, file)
  if (actor === null) throw new LocalexError('UNAUTHENTICATED', 'Sign in to change files')
  if (actor.role === 'admin' || actor.id === entityOwner) return
  throw new LocalexError('FORBIDDEN', 'Only the owner or an admin may change this file')
}

export function requireActor(actor: Actor, what = 'do this'): asserts actor is NonNullable<Actor> {
  if (actor === null) throw new LocalexError('UNAUTHENTICATED', `Sign in to ${what}`)
}

/** Acting on a user's own resources (profile photo, documents): that user or an admin. */
export function assertSelfOrAdmin(actor: Actor, userId: string): asserts actor is NonNullable<Actor> {
  requireActor(actor)
  if (actor.id !== userId && actor.role !== 'admin')
    throw new LocalexError('FORBIDDEN', 'Only the user or an admin may do this')
}

export function notFound(id: string): LocalexError {
  return new LocalexError('NOT_FOUND', `File "${id}" does not exist`, { details: { id } })
}
