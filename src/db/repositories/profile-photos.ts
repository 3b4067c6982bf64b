import type { Db } from '../connection.js'
import { lockRows } from '../dialect.js'
import { withTransaction } from '../transaction.js'
import { now } from '../time.js'

/** The current profile photo of each user. */
export const profilePhotos = {
  /** The user's current profile photo id, or null. */
  async getCurrent(db: Db, userId: string): Promise<string | null> {
    const row = await db.selectFrom('profile_photos').select('file_id').where('user_id', '=', userId).executeTakeFirst()
    return row?.file_id ?? null
  },

  /**
   * Makes `fileId` the user's current photo and resolves the one it replaced (null when there was
   * none, or when `fileId` already was current). Of N concurrent calls for one user, every id
   * except the last one committed is returned exactly once as `previous`, so the caller can retire
   * each replaced photo, and exactly one stays current.
   *
   * How: the row is created if missing (`ON CONFLICT DO NOTHING`, so the first writer wins and
   * later inserters wait for it), then read `FOR UPDATE` and overwritten. The lock makes
   * concurrent replacements queue behind each other, and a READ COMMITTED locked read returns the
   * latest committed version, i.e. the predecessor's photo. On SQLite the `BEGIN IMMEDIATE`
   * transaction gives the same order. Joins the caller's transaction when given one (so the
   * replaced row can be soft-deleted and its cleanup queued atomically with the switch).
   */
  async setCurrent(db: Db, userId: string, fileId: string): Promise<string | null> {
    return withTransaction(db, async (trx) => {
      const at = now()
      const inserted = await trx
        .insertInto('profile_photos')
        .values({ user_id: userId, file_id: fileId, updated_at: at })
        .onConflict((oc) => oc.column('user_id').doNothing())
        .returning('file_id')
        .executeTakeFirst()
      if (inserted) return null
      const current = await lockRows(
        trx,
        trx.selectFrom('profile_photos').select('file_id').where('user_id', '=', userId),
      ).executeTakeFirst()
      if (!current) {
        // Deleted between the two statements by clearIf: start over (the insert will succeed).
        return profilePhotos.setCurrent(trx, userId, fileId)
      }
      if (current.file_id === fileId) return null
      await trx
        .updateTable('profile_photos')
        .set({ file_id: fileId, updated_at: at })
        .where('user_id', '=', userId)
        .execute()
      return current.file_id
    })
  },

  /**
   * Removes the pointer only while it still designates `fileId` (deleting the current photo must
   * not clear a newer one that replaced it meanwhile). Resolves whether it did.
   */
  async clearIf(db: Db, userId: string, fileId: string): Promise<boolean> {
    const result = await db
      .deleteFrom('profile_photos')
      .where('user_id', '=', userId)
      .where('file_id', '=', fileId)
      .executeTakeFirst()
    return Number(result.numDeletedRows) > 0
  },
}
