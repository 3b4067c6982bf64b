import { sql } from 'kysely'
import type { FileStatus, UploadStatus } from '../../domain/index.js'
import type { Db } from '../connection.js'
import { decodeObjects } from '../json.js'
import { keysetPages } from '../keyset.js'
import type { StoredObject, UploadRow } from '../schema.js'
import { fileRecordOf, type FileRecord } from './files.js'

/** What the orphan sweep needs of a file row to judge the objects listed under its folder. */
export interface FileFolder {
  status: FileStatus
  keyPrefix: string
  objects: StoredObject[]
}

/** Statuses whose rows should have their objects in the store. */
const WITH_OBJECTS = ['ready', 'processing'] as const satisfies readonly FileStatus[]

/**
 * The reads of the operator tasks (`cleanup`, `orphans`) that span what one table's repository
 * offers: keyset walks that a re-run can resume and that hold no connection between batches, and
 * the lookups that judge a batch of listed keys.
 */
export const maintenance = {
  /**
   * Rows in `statuses` last updated before `before`, oldest first, in batches keyed on
   * (updated_at, id): rows the caller leaves in place are not read again.
   */
  async *staleFiles(
    db: Db,
    options: { statuses: readonly FileStatus[]; before: string; batchSize?: number },
  ): AsyncGenerator<FileRecord[]> {
    const query = db
      .selectFrom('files')
      .selectAll()
      .where('status', 'in', [...options.statuses])
      .where('updated_at', '<', options.before)
    for await (const rows of keysetPages(query, { keys: ['updated_at', 'id'], batchSize: options.batchSize })) {
      yield rows.map(fileRecordOf)
    }
  },

  /** Direct uploads past their expiry (pending or already marked expired) created before `createdBefore`. */
  async *expiredUploads(
    db: Db,
    options: { at: string; createdBefore: string; batchSize?: number },
  ): AsyncGenerator<UploadRow[]> {
    const query = db
      .selectFrom('uploads')
      .selectAll()
      .where((eb) =>
        eb.or([
          eb('status', '=', 'expired'),
          eb.and([eb('status', '=', 'pending'), eb('expires_at', '<=', options.at)]),
        ]),
      )
      .where('created_at', '<', options.createdBefore)
    yield* keysetPages(query, { keys: ['id'], batchSize: options.batchSize })
  },

  /**
   * Rows that should have objects in the store (`ready`, `processing`), updated before `before`,
   * by id; with `prefix`, only rows whose folder is under it (or contains it).
   */
  async *filesWithObjects(
    db: Db,
    options: { before: string; prefix?: string; batchSize?: number },
  ): AsyncGenerator<FileRecord[]> {
    let query = db
      .selectFrom('files')
      .selectAll()
      .where('status', 'in', [...WITH_OBJECTS])
      .where('updated_at', '<', options.before)
    const prefix = options.prefix
    if (prefix) {
      // substr rather than LIKE: ids are full of `_`, LIKE's wildcard.
      query = query.where((eb) =>
        eb.or([
          eb(sql`substr(key_prefix, 1, ${prefix.length})`, '=', prefix),
          eb(sql`substr(${prefix}, 1, length(key_prefix))`, '=', sql.ref('key_prefix')),
        ]),
      )
    }
    for await (const rows of keysetPages(query, { keys: ['id'], batchSize: options.batchSize })) {
      yield rows.map(fileRecordOf)
    }
  },

  /** How many rows `filesWithObjects` walks without a prefix (its progress total). */
  async countFilesWithObjects(db: Db, options: { before: string }): Promise<number> {
    const row = await db
      .selectFrom('files')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', 'in', [...WITH_OBJECTS])
      .where('updated_at', '<', options.before)
      .executeTakeFirstOrThrow()
    return Number(row.n)
  },

  /** The folder, status and objects of each of `ids` that has a row: one indexed query. */
  async fileFolders(db: Db, ids: readonly string[]): Promise<Map<string, FileFolder>> {
    const found = new Map<string, FileFolder>()
    if (ids.length === 0) return found
    const rows = await db
      .selectFrom('files')
      .select(['id', 'status', 'key_prefix', 'objects'])
      .where('id', 'in', [...ids])
      .execute()
    for (const r of rows) {
      found.set(r.id, { status: r.status, keyPrefix: r.key_prefix, objects: decodeObjects(r.objects) })
    }
    return found
  },

  /** The status of each of `ids` that has an `uploads` row: one indexed query. */
  async uploadStatuses(db: Db, ids: readonly string[]): Promise<Map<string, UploadStatus>> {
    const found = new Map<string, UploadStatus>()
    if (ids.length === 0) return found
    const rows = await db
      .selectFrom('uploads')
      .select(['id', 'status'])
      .where('id', 'in', [...ids])
      .execute()
    for (const r of rows) found.set(r.id, r.status)
    return found
  },
}
