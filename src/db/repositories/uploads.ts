import type { Insertable } from 'kysely'
import type { Db } from '../connection.js'
import type { UploadRow, UploadsTable } from '../schema.js'
import { now } from '../time.js'

export type NewUpload = Omit<Insertable<UploadsTable>, 'status' | 'file_id' | 'created_at'> & { created_at?: string }

/** Direct (presigned) uploads between `create` and `complete`. */
export const uploads = {
  async create(db: Db, upload: NewUpload): Promise<UploadRow> {
    return db
      .insertInto('uploads')
      .values({ ...upload, status: 'pending', file_id: null, created_at: upload.created_at ?? now() })
      .returningAll()
      .executeTakeFirstOrThrow()
  },

  async get(db: Db, id: string): Promise<UploadRow | null> {
    return (await db.selectFrom('uploads').selectAll().where('id', '=', id).executeTakeFirst()) ?? null
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
    const result = await db.updateTable('uploads').set({ status: 'expired' }).where('id', '=', id).where('status', '=', 'pending').executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  },

  /**
   * Marks every pending upload whose `expires_at` has passed as expired and resolves those rows
   * (their temp objects are the caller's to delete, then `remove`). At most `limit` per call.
   */
  async expire(db: Db, options: { at?: string; limit?: number } = {}): Promise<UploadRow[]> {
    const at = options.at ?? now()
    const due = db
      .selectFrom('uploads')
      .select('id')
      .where('status', '=', 'pending')
      .where('expires_at', '<=', at)
      .orderBy('expires_at')
      .limit(options.limit ?? 500)
    return db.updateTable('uploads').set({ status: 'expired' }).where('id', 'in', due).where('status', '=', 'pending').returningAll().execute()
  },

  /** Uploads in one status, oldest first (e.g. `expired` ones whose objects are still to delete). */
  async listByStatus(db: Db, status: UploadRow['status'], options: { limit?: number } = {}): Promise<UploadRow[]> {
    return db.selectFrom('uploads').selectAll().where('status', '=', status).orderBy('created_at').orderBy('id').limit(options.limit ?? 500).execute()
  },

  async remove(db: Db, id: string): Promise<boolean> {
    const result = await db.deleteFrom('uploads').where('id', '=', id).executeTakeFirst()
    return Number(result.numDeletedRows) > 0
  },
}
