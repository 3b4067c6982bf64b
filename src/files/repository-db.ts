import {
  auditLog,
  files,
  itemOwners,
  lockKey,
  profilePhotos,
  uploads,
  withTransaction,
  type Db,
  type FileRecord,
} from '../db/index.js'
import { LocalexError } from '../errors/index.js'
import { outbox } from '../jobs/index.js'
import type { FileRepository } from './repository.js'
import type { ItemOwnershipVerifier } from './types.js'

/**
 * The FileRepository over the db layer's repositories. Each multi-row change is one transaction
 * (`withTransaction`), outbox rows included, so the queue never sees work whose change rolled back.
 */
export function createDbFileRepository(db: Db): FileRepository {
  const queueDeletion = async (trx: Db, file: FileRecord, purgePaths: readonly string[]) => {
    const fileId = file.id
    await outbox.add(trx, { kind: 'delete_objects', payload: { fileId, prefix: file.keyPrefix }, fileId })
    if (purgePaths.length) await outbox.add(trx, { kind: 'purge_cdn', payload: { paths: [...purgePaths] }, fileId })
  }

  return {
    getFile: (id) => files.get(db, id),
    getByIdempotencyKey: (ownerId, key) => files.getByIdempotencyKey(db, ownerId, key),
    listItemPhotos: (itemId) => files.listByEntity(db, 'item', itemId, { statuses: ['processing', 'ready'] }),
    countActiveItemPhotos: (itemId) => files.countActivePhotos(db, itemId),

    reorderItemPhotos: (itemId, fileIds) =>
      withTransaction(db, async (trx) => {
        await lockKey(trx, `item:${itemId}`)
        const current = await files.listByEntity(trx, 'item', itemId, { statuses: ['processing', 'ready'] })
        const wanted = new Set(fileIds)
        if (wanted.size !== fileIds.length || wanted.size !== current.length || current.some((f) => !wanted.has(f.id)))
          return null
        await files.setPositions(trx, itemId, fileIds)
        return files.listByEntity(trx, 'item', itemId, { statuses: ['processing', 'ready'] })
      }),

    async currentProfilePhoto(userId) {
      const id = await profilePhotos.getCurrent(db, userId)
      if (!id) return null
      const file = await files.get(db, id)
      return file && file.status !== 'deleted' ? file : null
    },

    listDocuments: (userId) => files.listByEntity(db, 'verification', userId, { statuses: ['processing', 'ready'] }),

    setItemOwner: (itemId, ownerId) => withTransaction(db, (trx) => itemOwners.transfer(trx, itemId, ownerId)),

    defaultOwnership(): ItemOwnershipVerifier {
      return {
        ownerOf: async (itemId) => (await itemOwners.get(db, itemId))?.ownerId ?? null,
        claim: async (itemId, actorId) => (await itemOwners.registerIfAbsent(db, itemId, actorId)).ownerId,
      }
    },

    insertUploading: (file, itemLimit) =>
      withTransaction(db, async (trx) => {
        // Before the photo count: a retry of an upload that filled the item's last slot is a replay,
        // not TOO_MANY_PHOTOS (files.insert would also catch the key, but only after the count).
        if (file.idempotencyKey != null) {
          const existing = await files.getByIdempotencyKey(trx, file.ownerId, file.idempotencyKey)
          if (existing) return { file: existing, created: false }
        }
        let position: number | null = null
        if (itemLimit !== undefined) {
          // Serialises "count, then insert" per item; an uploading row holds its slot.
          await lockKey(trx, `item:${file.entityId}`)
          const count = await files.countActivePhotos(trx, file.entityId)
          if (count >= itemLimit)
            throw new LocalexError('TOO_MANY_PHOTOS', `An item may have at most ${itemLimit} photos`, {
              details: { max: itemLimit },
            })
          position = await files.nextPosition(trx, file.entityId)
        }
        return files.insert(trx, { ...file, status: 'uploading', position })
      }),

    markStored: (id, options) =>
      withTransaction(db, async (trx) => {
        const moved = options.needsVariants
          ? await files.transition(trx, id, { from: 'uploading', to: 'processing' })
          : await files.transition(trx, id, { from: 'uploading', to: 'ready' })
        if (!moved) throw new LocalexError('CONFLICT', `File "${id}" is no longer uploading`)
        if (options.needsVariants) await outbox.add(trx, { kind: 'variants', payload: { fileId: id }, fileId: id })
        if (!options.makeCurrentProfileOf) return null
        const previousId = await profilePhotos.setCurrent(trx, options.makeCurrentProfileOf, id)
        if (!previousId) return null
        const previous = await files.get(trx, previousId)
        if (!previous || previous.status === 'deleted') return null
        await files.transition(trx, previous.id, {
          from: ['uploading', 'processing', 'ready', 'failed'],
          to: 'deleted',
        })
        await queueDeletion(trx, previous, options.purgePathsOf?.(previous) ?? [])
        return previous
      }),

    markReady: (id, objects) =>
      files.transition(db, id, { from: 'processing', to: 'ready', patch: { objects, errorReason: null } }),

    markFailed: (id, reason, from) => files.transition(db, id, { from, to: 'failed', patch: { errorReason: reason } }),

    markDeleted: (id, purgePaths) =>
      withTransaction(db, async (trx) => {
        const file = await files.get(trx, id, { forUpdate: true })
        if (!file || file.status === 'deleted') return false
        const moved = await files.transition(trx, id, { from: file.status, to: 'deleted' })
        if (!moved) return false
        if (file.entityType === 'profile') await profilePhotos.clearIf(trx, file.entityId, file.id)
        await queueDeletion(trx, file, purgePaths)
        return true
      }),

    markReprocess: (id) =>
      withTransaction(db, async (trx) => {
        const patch = { errorReason: null }
        const moved = await files.transition(trx, id, { from: ['ready', 'failed'], to: 'processing', patch })
        if (moved) await outbox.add(trx, { kind: 'variants', payload: { fileId: id, reprocess: true }, fileId: id })
        return moved
      }),

    async audit(entry) {
      await auditLog.append(db, {
        action: entry.action,
        actorId: entry.actor?.id ?? null,
        actorRole: entry.actor?.role ?? null,
        fileId: entry.fileId ?? null,
        entityType: entry.entityType ?? null,
        entityId: entry.entityId ?? null,
        ip: entry.ctx?.ip ?? null,
        userAgent: entry.ctx?.userAgent ?? null,
        details: entry.details ?? null,
      })
    },

    async insertUpload(upload) {
      await uploads.create(db, upload)
    },
    getUpload: (id) => uploads.get(db, id),
    async completeUpload(id, fileId) {
      await uploads.complete(db, id, fileId)
    },
    async expireUpload(id) {
      await uploads.markExpired(db, id)
    },
  }
}
