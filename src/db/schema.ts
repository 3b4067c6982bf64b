import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely'
import type { AccessLevel, EntityType, FileStatus, OutboxStatus, Purpose, UploadStatus } from '../domain/index.js'

/**
 * The metadata model, one interface per table, typed for Kysely. Both dialects store the same
 * columns: timestamps are ISO-8601 UTC strings (SQLite has no timestamp type, and string order is
 * time order), booleans are 0/1 integers, JSON is text. Only the db layer turns them into
 * `Date`/objects.
 */

// The element type of the `objects` JSON column: the domain's, stored as it is.
export type { StoredObject } from '../domain/index.js'

export interface FilesTable {
  id: string
  owner_id: string
  entity_type: EntityType
  /** Item id, or the user id for profile photos and documents. */
  entity_id: string
  purpose: Purpose
  document_type: string | null
  access_level: AccessLevel
  status: FileStatus
  /** Sanitised, display only. */
  original_name: string
  content_type: string
  bytes: number
  width: number | null
  height: number | null
  sha256: string
  /** Folder prefix every object of the file lives under (ends with `/`). */
  key_prefix: string
  /** JSON `StoredObject[]`. */
  objects: string
  /**
   * Sum of `objects[].size`, kept by the db layer whenever `objects` is written, so storage
   * statistics are one SQL `sum` on both dialects instead of parsing JSON per row.
   */
  stored_bytes: Generated<number>
  placeholder: string | null
  dominant_color: string | null
  /** Item photos: 0-based order. */
  position: number | null
  error_reason: string | null
  idempotency_key: string | null
  created_at: string
  updated_at: string
  ready_at: string | null
  deleted_at: string | null
}

/** Default item-ownership registry: who first attached photos, or whom an admin registered. */
export interface ItemOwnersTable {
  item_id: string
  owner_id: string
  created_at: string
  updated_at: string
}

/** The current profile photo of each user; switched atomically when a replacement is stored. */
export interface ProfilePhotosTable {
  user_id: string
  file_id: string
  updated_at: string
}

export interface AuditLogTable {
  id: Generated<number>
  at: string
  actor_id: string | null
  actor_role: string | null
  /** upload, replace, delete, read_private, url_private, reorder, register_owner, transfer_owner, reprocess, … */
  action: string
  file_id: string | null
  entity_type: string | null
  entity_id: string | null
  ip: string | null
  user_agent: string | null
  /** JSON object. */
  details: string | null
}

/**
 * Work that must happen after a commit (variants, CDN purges, object deletion). Rows are written in
 * the same transaction as the change that needs them, so Redis being down loses nothing: the relay
 * dispatches pending rows to the queue when it can, and re-dispatches rows whose worker vanished.
 */
export interface OutboxTable {
  id: string
  kind: string
  /** JSON. */
  payload: string
  file_id: string | null
  status: OutboxStatus
  attempts: number
  /** Not dispatched before this time (backoff, or a visibility timeout once dispatched). */
  run_after: string
  last_error: string | null
  created_at: string
  updated_at: string
}

/** Direct (presigned) uploads waiting for `complete`. */
export interface UploadsTable {
  id: string
  owner_id: string
  purpose: Purpose
  entity_id: string
  document_type: string | null
  key: string
  file_name: string
  content_type: string | null
  max_bytes: number
  status: UploadStatus
  file_id: string | null
  expires_at: string
  created_at: string
}

export interface Database {
  files: FilesTable
  item_owners: ItemOwnersTable
  profile_photos: ProfilePhotosTable
  audit_log: AuditLogTable
  outbox: OutboxTable
  uploads: UploadsTable
}

export type FileRow = Selectable<FilesTable>
export type NewFileRow = Insertable<FilesTable>
export type FileRowUpdate = Updateable<FilesTable>
export type OutboxRow = Selectable<OutboxTable>
export type AuditRow = Selectable<AuditLogTable>
export type UploadRow = Selectable<UploadsTable>
// Re-exported so layers above do not import kysely for one helper type.
export type { ColumnType }
