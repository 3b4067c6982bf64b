import type { FileRecord, FileStatus, StoredObject, UploadRecord } from '../domain/index.js'
import type { Actor, ItemOwnershipVerifier, RequestContext } from './types.js'

export type { FileRecord, StoredObject, UploadRecord } from '../domain/index.js'

/** A new file as the upload creates it; status, timestamps, position and byte sum are the repository's. */
export type NewUploadingFile = Omit<
  FileRecord,
  'status' | 'storedBytes' | 'position' | 'errorReason' | 'createdAt' | 'updatedAt' | 'readyAt' | 'deletedAt'
>

/** A new direct upload; it starts `pending`, with no file. */
export type NewDirectUpload = Omit<UploadRecord, 'status' | 'fileId' | 'createdAt'>

export interface AuditEntry {
  actor: Actor
  ctx?: RequestContext
  action: string
  fileId?: string
  entityType?: string
  entityId?: string
  details?: Record<string, unknown>
}

/**
 * The part of the metadata store the files layer uses (implemented over the db layer in
 * `repository-db.ts`). Every method that changes more than one row, or a row and the outbox, does
 * so in one transaction, so a crash leaves either all or none of it.
 */
export interface FileRepository {
  getFile(id: string): Promise<FileRecord | null>
  getByIdempotencyKey(ownerId: string, key: string): Promise<FileRecord | null>
  /** Item photos that are stored (processing or ready), in order. */
  listItemPhotos(itemId: string): Promise<FileRecord[]>
  /** Photos that count against the limit: uploading, processing or ready. */
  countActiveItemPhotos(itemId: string): Promise<number>
  /** Null when `fileIds` is not exactly the item's current photos. */
  reorderItemPhotos(itemId: string, fileIds: readonly string[]): Promise<FileRecord[] | null>
  currentProfilePhoto(userId: string): Promise<FileRecord | null>
  listDocuments(userId: string): Promise<FileRecord[]>
  /** Registers or transfers an item; returns the previous owner. */
  setItemOwner(itemId: string, ownerId: string): Promise<string | null>
  defaultOwnership(): ItemOwnershipVerifier

  /**
   * Inserts the row as `uploading`. With `itemLimit`, counts the item's active photos and inserts
   * in one serialised transaction (TOO_MANY_PHOTOS when full; the position is the next free one).
   * Resolves the row and whether it was created: with an idempotency key already used by the
   * owner, nothing is inserted and the existing row comes back.
   */
  insertUploading(file: NewUploadingFile, itemLimit?: number): Promise<{ file: FileRecord; created: boolean }>
  /**
   * `uploading` → `processing` with its variants job in the outbox (or straight to `ready` when no
   * variants are needed), in one transaction. With `makeCurrentProfileOf`, the file also becomes
   * the user's current profile photo and the one it replaces is soft-deleted with its object
   * removal (and CDN purge of `purgePathsOf(replaced)`) queued; that replaced row is returned.
   */
  markStored(
    id: string,
    options: { needsVariants: boolean; makeCurrentProfileOf?: string; purgePathsOf?: (file: FileRecord) => string[] },
  ): Promise<FileRecord | null>
  /** `processing` → `ready` with the full object list; false when the row was no longer processing. */
  markReady(id: string, objects: StoredObject[]): Promise<boolean>
  /** → `failed` with a reason, only from the given statuses; false when nothing changed. */
  markFailed(id: string, reason: string, from: FileStatus[]): Promise<boolean>
  /**
   * → `deleted`, queueing removal of the file's objects (and a CDN purge of `purgePaths`); clears
   * the current profile photo if it was this one. False when already deleted.
   */
  markDeleted(id: string, purgePaths: string[]): Promise<boolean>
  /** `ready`/`failed` → `processing` with a variants job queued (reprocessing). */
  markReprocess(id: string): Promise<boolean>

  audit(entry: AuditEntry): Promise<void>

  insertUpload(upload: NewDirectUpload): Promise<void>
  getUpload(id: string): Promise<UploadRecord | null>
  completeUpload(id: string, fileId: string): Promise<void>
  expireUpload(id: string): Promise<void>
}
