import type { DocumentType, UploadRecord, UploadStatus } from '../../domain/index.js'
import type { Db } from '../connection.js'
import type { UploadRow } from '../schema.js'
import { now } from '../time.js'

export type { UploadRecord } from '../../domain/index.js'

/** What `uploads.create` takes: every field but the status and the file (a new upload is `pending`). */
export type NewUpload = Omit<UploadRecord, 'status' | 'fileId' | 'createdAt'> & { createdAt?: string }

/** A row as the layers above see it. Exported for the keyset walks of the operations. */
export function uploadRecordOf(row: UploadRow): UploadRecord {
  return {
    id: row.id,
    ownerId: row.owner_id,
    purpose: row.purpose,
    entityId: row.entity_id,
    // The column is plain text; only the files layer writes it, from the checked vocabulary.
    documentType: row.document_type as DocumentType | null,
    key: row.key,
    fileName: row.file_name,
    contentType: row.content_type,
    maxBytes: row.max_bytes,
    status: row.status,
    fileId: row.file_id,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
  }
}

/** Direct (presigned) uploads between `create` and `complete`. */
export const uploads = {
  async create(db: Db, upload: NewUpload): Promise<UploadRecord> {
    const row = await db
      .insertInto('uploads')
      .values({
        id: upload.id,
        owner_id: upload.ownerId,
        purpose: upload.purpose,
        entity_id: upload.entityId,
        document_type: upload.documentType,
        key: upload.key,
        file_name: upload.fileName,
        content_type: upload.contentType,
        max_bytes: upload.maxBytes,
        expires_at: upload.expiresAt,
        status: 'pending',
        file_id: null,
        created_at: upload.createdAt ?? now(),
      })
      .returningAll()
      .executeTakeFirstOrThrow()
    return uploadRecordOf(row)
  },

  async get(db: Db, id: string): Promise<UploadRecord | null> {
    const row = await db.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirst()
    return row ? uploadRecordOf(row) : null
  },

  /**
   * `pending` → `completed` with the file it produced, only while not expired. Resolves whether it
   * did (false: unknown, already completed, or expired), so two racing completions make one file.
   */
  async complete(db: Db, id: string, fileId: string): Promise<boolean> {
    const result = await db
      .updateTable('uploads')
      .set({ status: 'completed', file_id: fileId })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now())
      .executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  },

  /** Marks one pending upload expired (abandoned or refused). Resolves whether it did. */
  async markExpired(db: Db, id: string): Promise<boolean> {
    const result = await db
      .updateTable('uploads')
      .set({ status: 'expired' })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  },

  /**
   * Marks every pending upload whose `expiresAt` has passed as expired and resolves those uploads
   * (their temp objects are the caller's to delete, then `remove`). At most `limit` per call.
   */
  async expire(db: Db, options: { at?: string; limit?: number } = {}): Promise<UploadRecord[]> {
    const at = options.at ?? now()
    const due = db
      .selectFrom('uploads')
      .select('id')
      .where('status', '=', 'pending')
      .where('expires_at', '<=', at)
      .orderBy('expires_at')
      .limit(options.limit ?? 500)
    const rows = await db
      .updateTable('uploads')
      .set({ status: 'expired' })
      .where('id', 'in', due)
      .where('status', '=', 'pending')
      .returningAll()
      .execute()
    return rows.map(uploadRecordOf)
  },

  /** Uploads in one status, oldest first (e.g. `expired` ones whose objects are still to delete). */
  async listByStatus(db: Db, status: UploadStatus, options: { limit?: number } = {}): Promise<UploadRecord[]> {
    const rows = await db
      .selectFrom('uploads')
      .selectAll()
      .where('status', '=', status)
      .orderBy('created_at')
      .orderBy('id')
      .limit(options.limit ?? 500)
      .execute()
    return rows.map(uploadRecordOf)
  },

  async remove(db: Db, id: string): Promise<boolean> {
    const result = await db.deleteFrom('uploads').where('id', '=', id).executeTakeFirst()
    return Number(result.numDeletedRows) > 0
  },
}
