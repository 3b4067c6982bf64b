import { LocalexError } from '../errors/index.js'
import { assertSafeId } from '../storage/keys.js'
import { assertCanModify, assertCanRead, assertSelfOrAdmin, isAdmin, notFound, requireActor } from './access.js'
import type { FilesDeps } from './deps.js'
import { retireFile } from './lifecycle.js'
import type { Actor, FileView, RequestContext } from './types.js'
import { toView } from './view.js'

/**
 * What hangs off items and users once uploaded: an item's photos (listed, reordered) and its owner,
 * a user's profile photo and verification documents, and the deletion of any file.
 */

export async function listItemPhotos(deps: FilesDeps, itemId: string, _actor: Actor = null): Promise<FileView[]> {
  assertSafeId(itemId, 'itemId')
  const photos = await deps.repo.listItemPhotos(itemId)
  return photos.map((file) => toView(file, deps.cdn))
}

/** `fileIds` must be exactly the item's current photos, in the new order. */
export async function reorderItemPhotos(
  deps: FilesDeps,
  actor: Actor,
  itemId: string,
  fileIds: string[],
  ctx: RequestContext = {},
): Promise<FileView[]> {
  requireActor(actor, 'reorder photos')
  assertSafeId(itemId, 'itemId')
  const owner = await deps.ownership.ownerOf(itemId)
  if (owner !== actor.id && !isAdmin(actor)) {
    throw new LocalexError('FORBIDDEN', "Only the item's owner or an admin may reorder photos")
  }
  const photos = await deps.repo.reorderItemPhotos(itemId, fileIds)
  if (!photos) {
    throw new LocalexError('CONFLICT', "fileIds must list each of the item's current photos exactly once", {
      details: { itemId },
    })
  }
  await deps.repo.audit({ actor, ctx, action: 'reorder', entityType: 'item', entityId: itemId, details: { fileIds } })
  return photos.map((file) => toView(file, deps.cdn))
}

/** Admins: record or change who owns an item. */
export async function setItemOwner(
  deps: FilesDeps,
  actor: Actor,
  itemId: string,
  ownerId: string,
  ctx: RequestContext = {},
): Promise<void> {
  requireActor(actor)
  if (!isAdmin(actor)) throw new LocalexError('FORBIDDEN', 'Only admins may register or transfer items')
  assertSafeId(itemId, 'itemId')
  assertSafeId(ownerId, 'ownerId')
  const previous = await deps.repo.setItemOwner(itemId, ownerId)
  await deps.repo.audit({
    actor,
    ctx,
    action: previous ? 'transfer_owner' : 'register_owner',
    entityType: 'item',
    entityId: itemId,
    details: { from: previous, to: ownerId },
  })
}

export async function getProfilePhoto(deps: FilesDeps, userId: string, actor: Actor = null): Promise<FileView> {
  assertSafeId(userId, 'userId')
  const file = await deps.repo.currentProfilePhoto(userId)
  if (!file) throw new LocalexError('NOT_FOUND', `User "${userId}" has no profile photo`)
  assertCanRead(actor, file)
  return toView(file, deps.cdn)
}

export async function deleteProfilePhoto(
  deps: FilesDeps,
  actor: Actor,
  userId: string,
  ctx: RequestContext = {},
): Promise<void> {
  assertSelfOrAdmin(actor, userId)
  const file = await deps.repo.currentProfilePhoto(userId)
  if (!file) throw new LocalexError('NOT_FOUND', `User "${userId}" has no profile photo`)
  await retireFile(deps, actor, ctx, file)
}

/** A user's documents: the user or an admin; an admin's listing is audited. */
export async function listVerificationDocuments(
  deps: FilesDeps,
  actor: Actor,
  userId: string,
  ctx: RequestContext = {},
): Promise<FileView[]> {
  assertSelfOrAdmin(actor, userId)
  const documents = await deps.repo.listDocuments(userId)
  if (actor.id !== userId) {
    await deps.repo.audit({ actor, ctx, action: 'list_private', entityType: 'verification', entityId: userId })
  }
  return documents.map((file) => toView(file, deps.cdn))
}

/** The owner of what the file hangs off (the item's owner for item photos), or an admin. */
export async function deleteFile(deps: FilesDeps, actor: Actor, id: string, ctx: RequestContext = {}): Promise<void> {
  const file = await deps.repo.getFile(id)
  if (!file || file.status === 'deleted') throw notFound(id)
  const entityOwner = file.entityType === 'item' ? await deps.ownership.ownerOf(file.entityId) : file.entityId
  assertCanModify(actor, file, entityOwner)
  await retireFile(deps, actor, ctx, file)
}
