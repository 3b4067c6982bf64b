import type {
  AccessLevel,
  DocumentType,
  EntityType,
  FileStatus,
  OutboxStatus,
  Purpose,
  StoredFormat,
  UploadStatus,
} from './vocabulary.js'

/**
 * The records the metadata store holds, as every layer above the database sees them: camelCase
 * fields, JSON already parsed, timestamps as ISO-8601 UTC strings. The db repositories map their
 * rows to these and back at their own boundary, so a column rename stays inside `src/db`.
 */

/** One stored object of a file: the original or a variant, in one format. */
export interface StoredObject {
  variant: string
  format: StoredFormat
  key: string
  contentType: string
  size: number
  width?: number
  height?: number
}

/** A file: one upload with every object made from it. */
export interface FileRecord {
  id: string
  ownerId: string
  entityType: EntityType
  /** Item id, or the user id for profile photos and documents. */
  entityId: string
  purpose: Purpose
  documentType: DocumentType | null
  accessLevel: AccessLevel
  status: FileStatus
  /** Sanitised, display only. */
  originalName: string
  contentType: string
  /** Size of the upload as received. */
  bytes: number
  width: number | null
  height: number | null
  sha256: string
  /** Folder prefix every object of the file lives under (ends with `/`). */
  keyPrefix: string
  objects: StoredObject[]
  /** Sum of `objects[].size`, kept by the store whenever `objects` is written. */
  storedBytes: number
  placeholder: string | null
  dominantColor: string | null
  /** Item photos: 0-based order. */
  position: number | null
  errorReason: string | null
  idempotencyKey: string | null
  createdAt: string
  updatedAt: string
  readyAt: string | null
  deletedAt: string | null
}

/** A direct (presigned) upload between `create` and `complete`. */
export interface UploadRecord {
  id: string
  ownerId: string
  purpose: Purpose
  entityId: string
  documentType: DocumentType | null
  /** The temp object the client POSTs to. */
  key: string
  fileName: string
  contentType: string | null
  maxBytes: number
  status: UploadStatus
  /** The file it produced, once completed. */
  fileId: string | null
  expiresAt: string
  createdAt: string
}

/** One entry of the append-only audit trail. */
export interface AuditRecord {
  id: number
  at: string
  /** upload, replace, delete, url_private, list_private, reorder, register_owner, purge, … */
  action: string
  actorId: string | null
  actorRole: string | null
  fileId: string | null
  entityType: string | null
  entityId: string | null
  ip: string | null
  userAgent: string | null
  details: Record<string, unknown> | null
}

/** Who owns an item in the default ownership registry. */
export interface ItemOwnerRecord {
  itemId: string
  ownerId: string
  createdAt: string
  updatedAt: string
}

/** A row of the transactional outbox, payload parsed. */
export interface OutboxRecord {
  id: string
  kind: string
  payload: unknown
  fileId: string | null
  status: OutboxStatus
  attempts: number
  /** Not dispatched before this time (backoff, or a visibility timeout once dispatched). */
  runAfter: string
  lastError: string | null
  createdAt: string
  updatedAt: string
}
