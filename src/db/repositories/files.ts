import { sql, type Insertable, type Updateable } from 'kysely'
import { LocalexError } from '../../errors/index.js'
import type { Db } from '../connection.js'
import { lockRows } from '../dialect.js'
import { isUniqueViolation } from '../errors.js'
import { keysetPages } from '../keyset.js'
import { decodeObjects, encodeObjects } from '../json.js'
import type { DocumentType, EntityType, FileRecord, FileStatus, StoredObject } from '../../domain/index.js'
import type { FileRow, FilesTable } from '../schema.js'
import { now } from '../time.js'

export type { FileRecord } from '../../domain/index.js'

/** The fields written as they are (`objects` is encoded with its byte sum, `storedBytes` derived). */
type FileFields = Omit<FileRecord, 'objects' | 'storedBytes'>
type NullableField = { [K in keyof FileFields]: null extends FileFields[K] ? K : never }[keyof FileFields]

/** What `files.insert` takes; nullable fields default to null, `objects` to none, timestamps to now. */
export type NewFile = Omit<FileFields, NullableField | 'createdAt' | 'updatedAt'> &
  Partial<Pick<FileFields, NullableField>> & {
    objects?: readonly StoredObject[]
    createdAt?: string
    updatedAt?: string
  }

/** Fields `files.update` may change; status changes go through `transition`. */
export type FilePatch = Partial<Omit<FileFields, 'id' | 'status' | 'createdAt' | 'updatedAt'>> & {
  objects?: readonly StoredObject[]
}

/** Statuses whose photos count against an item's limit (an `uploading` row holds its slot). */
export const ACTIVE_STATUSES = ['uploading', 'processing', 'ready'] as const satisfies readonly FileStatus[]

export interface FileFilter {
  statuses?: readonly FileStatus[]
  entityType?: EntityType
  entityId?: string
  ownerId?: string
}

export interface FileStats {
  entityType: EntityType
  status: FileStatus
  files: number
  /** Sum of the uploaded originals' sizes. */
  bytes: number
  /** Sum of every stored object (optimised original, variants, formats). */
  storedBytes: number
}

const asArray = <T>(value: T | readonly T[]): readonly T[] =>
  Array.isArray(value) ? (value as readonly T[]) : [value as T]

/** The column of each record field: the one place where the two spellings meet. */
const COLUMNS = {
  id: 'id',
  ownerId: 'owner_id',
  entityType: 'entity_type',
  entityId: 'entity_id',
  purpose: 'purpose',
  documentType: 'document_type',
  accessLevel: 'access_level',
  status: 'status',
  originalName: 'original_name',
  contentType: 'content_type',
  bytes: 'bytes',
  width: 'width',
  height: 'height',
  sha256: 'sha256',
  keyPrefix: 'key_prefix',
  placeholder: 'placeholder',
  dominantColor: 'dominant_color',
  position: 'position',
  errorReason: 'error_reason',
  idempotencyKey: 'idempotency_key',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
  readyAt: 'ready_at',
  deletedAt: 'deleted_at',
} as const satisfies { [K in keyof FileFields]: keyof FilesTable }

/** A row as the layers above see it. Exported for the keyset walks of the operations. */
export function fileRecordOf(row: FileRow): FileRecord {
  return {
    id: row.id,
    ownerId: row.owner_id,
    entityType: row.entity_type,
    entityId: row.entity_id,
    purpose: row.purpose,
    // The column is plain text; only the files layer writes it, from the checked vocabulary.
    documentType: row.document_type as DocumentType | null,
    accessLevel: row.access_level,
    status: row.status,
    originalName: row.original_name,
    contentType: row.content_type,
    bytes: row.bytes,
    width: row.width,
    height: row.height,
    sha256: row.sha256,
    keyPrefix: row.key_prefix,
    objects: decodeObjects(row.objects),
    storedBytes: row.stored_bytes,
    placeholder: row.placeholder,
    dominantColor: row.dominant_color,
    position: row.position,
    errorReason: row.error_reason,
    idempotencyKey: row.idempotency_key,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    readyAt: row.ready_at,
    deletedAt: row.deleted_at,
  }
}

/** Record fields → columns; `objects` becomes its JSON text and `stored_bytes`. Undefined fields are left out. */
function columnsOf(fields: Partial<FileFields> & { objects?: readonly StoredObject[] }): Updateable<FilesTable> {
  const { objects, ...rest } = fields
  const out: Record<string, unknown> = objects === undefined ? {} : encodeObjects(objects)
  for (const [field, value] of Object.entries(rest)) {
    if (value === undefined) continue
    const column = (COLUMNS as Record<string, string>)[field]
    // Only reachable through a cast: a field with no column must not turn into a bad statement.
    if (column === undefined) throw new LocalexError('INTERNAL', `files has no column for field "${field}"`)
    out[column] = value
  }
  return out as Updateable<FilesTable>
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function applyFilter<QB extends { where: (...args: any[]) => any }>(query: QB, filter: FileFilter): QB {
  let q = query
  if (filter.statuses) q = q.where('status', 'in', filter.statuses.length ? [...filter.statuses] : ['\u0000']) as QB
  if (filter.entityType) q = q.where('entity_type', '=', filter.entityType) as QB
  if (filter.entityId) q = q.where('entity_id', '=', filter.entityId) as QB
  if (filter.ownerId) q = q.where('owner_id', '=', filter.ownerId) as QB
  return q
}

/**
 * The `files` table. Every function takes the Kysely instance or a transaction (`withTransaction`),
 * so the files layer composes several calls into one atomic change.
 */
export const files = {
  /**
   * Inserts a file row. With an `idempotencyKey` already used by the same owner, nothing is
   * inserted and the existing row is returned with `created: false` (no unique-violation error,
   * which on PostgreSQL would abort the caller's transaction). A duplicate id rejects with CONFLICT.
   */
  async insert(db: Db, file: NewFile): Promise<{ file: FileRecord; created: boolean }> {
    const at = now()
    const { objects = [], createdAt = at, updatedAt = createdAt, ...rest } = file
    const columns = columnsOf({ ...rest, objects })
    const values = { ...columns, created_at: createdAt, updated_at: updatedAt } as Insertable<FilesTable>
    try {
      let query = db.insertInto('files').values(values).returningAll()
      if (file.idempotencyKey != null) {
        query = query.onConflict((oc) =>
          oc.columns(['owner_id', 'idempotency_key']).where('idempotency_key', 'is not', null).doNothing(),
        )
      }
      const row = await query.executeTakeFirst()
      if (row) return { file: fileRecordOf(row), created: true }
    } catch (error) {
      if (isUniqueViolation(error))
        throw new LocalexError('CONFLICT', `File "${file.id}" already exists`, { cause: error })
      throw error
    }
    const existing = await files.getByIdempotencyKey(db, file.ownerId, file.idempotencyKey as string)
    if (!existing) throw new LocalexError('INTERNAL', 'Idempotency key conflicted but no row holds it')
    return { file: existing, created: false }
  },

  /** The row, or null. `forUpdate` locks it until the transaction ends (PostgreSQL). */
  async get(db: Db, id: string, options: { forUpdate?: boolean } = {}): Promise<FileRecord | null> {
    const query = db.selectFrom('files').selectAll().where('id', '=', id)
    const row = await (options.forUpdate ? lockRows(db, query) : query).executeTakeFirst()
    return row ? fileRecordOf(row) : null
  },

  /** Rows for the given ids, in no particular order; missing ids are simply absent. */
  async getMany(db: Db, ids: readonly string[]): Promise<FileRecord[]> {
    if (ids.length === 0) return []
    const rows = await db
      .selectFrom('files')
      .selectAll()
      .where('id', 'in', [...ids])
      .execute()
    return rows.map(fileRecordOf)
  },

  /** The `limit` public files that became ready last, newest first (what a CDN probe requests). */
  async listRecentlyReadyPublic(db: Db, limit: number): Promise<FileRecord[]> {
    const rows = await db
      .selectFrom('files')
      .selectAll()
      .where('status', '=', 'ready')
      .where('access_level', '=', 'public')
      .orderBy('ready_at', 'desc')
      .limit(limit)
      .execute()
    return rows.map(fileRecordOf)
  },

  async getByIdempotencyKey(db: Db, ownerId: string, key: string): Promise<FileRecord | null> {
    const row = await db
      .selectFrom('files')
      .selectAll()
      .where('owner_id', '=', ownerId)
      .where('idempotency_key', '=', key)
      .executeTakeFirst()
    return row ? fileRecordOf(row) : null
  },

  /**
   * Changes columns other than `status` (stamping `updated_at`). With `expect`, only while the row
   * is in one of those statuses. Resolves whether a row changed.
   */
  async update(
    db: Db,
    id: string,
    patch: FilePatch,
    options: { expect?: FileStatus | readonly FileStatus[] } = {},
  ): Promise<boolean> {
    let query = db
      .updateTable('files')
      .set({ ...columnsOf(patch), updated_at: now() })
      .where('id', '=', id)
    if (options.expect !== undefined) query = query.where('status', 'in', [...asArray(options.expect)])
    const result = await query.executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  },

  /**
   * The guarded status change (`UPDATE … WHERE id = ? AND status IN (from)`): of two concurrent
   * callers moving the same row out of the same status exactly one gets `true`. Stamps
   * `updated_at`, plus `ready_at` (→ ready) or `deleted_at` (→ deleted); `patch` is written in the
   * same statement (objects and placeholder with `ready`, `errorReason` with `failed`).
   */
  async transition(
    db: Db,
    id: string,
    change: { from: FileStatus | readonly FileStatus[]; to: FileStatus; patch?: FilePatch },
  ): Promise<boolean> {
    const at = now()
    const stamps = change.to === 'ready' ? { ready_at: at } : change.to === 'deleted' ? { deleted_at: at } : {}
    const result = await db
      .updateTable('files')
      .set({ ...columnsOf(change.patch ?? {}), ...stamps, status: change.to, updated_at: at })
      .where('id', '=', id)
      .where('status', 'in', [...asArray(change.from)])
      .executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  },

  /**
   * The files attached to one entity (an item's photos, a user's profile photos or documents),
   * in display order: by position (rows without one last), then creation.
   */
  async listByEntity(
    db: Db,
    entityType: EntityType,
    entityId: string,
    options: { statuses?: readonly FileStatus[] } = {},
  ): Promise<FileRecord[]> {
    const rows = await applyFilter(db.selectFrom('files').selectAll(), {
      entityType,
      entityId,
      statuses: options.statuses ?? ACTIVE_STATUSES,
    })
      // Portable "NULLS LAST": PostgreSQL sorts NULL last ascending, SQLite first.
      .orderBy(sql`case when position is null then 1 else 0 end`)
      .orderBy('position')
      .orderBy('created_at')
      .orderBy('id')
      .execute()
    return rows.map(fileRecordOf)
  },

  /** Photos counting against the item's limit. Call inside the inserting transaction, after locking. */
  async countActivePhotos(db: Db, itemId: string): Promise<number> {
    const row = await db
      .selectFrom('files')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('entity_type', '=', 'item')
      .where('entity_id', '=', itemId)
      .where('status', 'in', [...ACTIVE_STATUSES])
      .executeTakeFirstOrThrow()
    return Number(row.n)
  },

  /** The position a new photo of the item takes: after the last active one. */
  async nextPosition(db: Db, itemId: string): Promise<number> {
    const row = await db
      .selectFrom('files')
      .select((eb) => eb.fn.max('position').as('max'))
      .where('entity_type', '=', 'item')
      .where('entity_id', '=', itemId)
      .where('status', 'in', [...ACTIVE_STATUSES])
      .executeTakeFirst()
    return row?.max == null ? 0 : Number(row.max) + 1
  },

  /**
   * Sets the item's photo positions to the order of `orderedIds` (0, 1, …) in one statement.
   * Ids of other items are untouched. Resolves how many rows changed; the caller compares it
   * with `orderedIds.length` to refuse a partial or foreign list (and rolls back).
   */
  async setPositions(db: Db, itemId: string, orderedIds: readonly string[]): Promise<number> {
    if (orderedIds.length === 0) return 0
    const result = await db
      .updateTable('files')
      .set((eb) => {
        const [first, ...others] = orderedIds
        let position = eb
          .case()
          .when('id', '=', first as string)
          .then(0)
        others.forEach((id, i) => (position = position.when('id', '=', id).then(i + 1)))
        return { position: position.end(), updated_at: now() }
      })
      .where('entity_type', '=', 'item')
      .where('entity_id', '=', itemId)
      .where('id', 'in', [...orderedIds])
      .executeTakeFirst()
    return Number(result.numUpdatedRows)
  },

  /**
   * Rows in one of `statuses` not updated since `before` (ISO), oldest first: stale `uploading`
   * rows of crashed uploads, `failed` and `deleted` rows past their retention.
   */
  async listStale(
    db: Db,
    options: { statuses: readonly FileStatus[]; before: string; limit?: number },
  ): Promise<FileRecord[]> {
    const rows = await applyFilter(db.selectFrom('files').selectAll(), { statuses: options.statuses })
      .where('updated_at', '<', options.before)
      .orderBy('updated_at')
      .orderBy('id')
      .limit(options.limit ?? 100)
      .execute()
    return rows.map(fileRecordOf)
  },

  /**
   * Every matching row, one at a time, read in batches by id (keyset), for orphan sweeps and
   * reprocessing. Pull-based: the next batch is read only when the consumer asks, and no
   * connection or transaction is held between batches, so the consumer may write meanwhile.
   * Rows inserted during the walk may or may not be seen.
   */
  async *iterate(
    db: Db,
    filter: FileFilter & { batchSize?: number } = {},
  ): AsyncGenerator<FileRecord, void, undefined> {
    const query = applyFilter(db.selectFrom('files').selectAll(), filter)
    for await (const rows of keysetPages(query, { keys: ['id'], batchSize: filter.batchSize })) {
      for (const row of rows) yield fileRecordOf(row)
    }
  },

  /** How many rows match (progress bars for `iterate`). */
  async count(db: Db, filter: FileFilter = {}): Promise<number> {
    const row = await applyFilter(
      db.selectFrom('files').select((eb) => eb.fn.countAll<number>().as('n')),
      filter,
    ).executeTakeFirstOrThrow()
    return Number(row.n)
  },

  /** Counts and byte sums grouped by entity type and status (optionally for one owner). */
  async stats(db: Db, filter: Pick<FileFilter, 'ownerId' | 'entityType'> = {}): Promise<FileStats[]> {
    const rows = await applyFilter(
      db
        .selectFrom('files')
        .select((eb) => [
          'entity_type',
          'status',
          eb.fn.countAll<number>().as('files'),
          eb.fn.coalesce(eb.fn.sum<number>('bytes'), sql<number>`0`).as('bytes'),
          eb.fn.coalesce(eb.fn.sum<number>('stored_bytes'), sql<number>`0`).as('stored_bytes'),
        ]),
      filter,
    )
      .groupBy(['entity_type', 'status'])
      .orderBy('entity_type')
      .orderBy('status')
      .execute()
    return rows.map((r) => ({
      entityType: r.entity_type,
      status: r.status,
      files: Number(r.files),
      bytes: Number(r.bytes),
      storedBytes: Number(r.stored_bytes),
    }))
  },

  /** Deletes the row for good (after `deleted`/`failed` retention). Resolves whether it existed. */
  async remove(db: Db, id: string, options: { expect?: FileStatus | readonly FileStatus[] } = {}): Promise<boolean> {
    let query = db.deleteFrom('files').where('id', '=', id)
    if (options.expect !== undefined) query = query.where('status', 'in', [...asArray(options.expect)])
    const result = await query.executeTakeFirst()
    return Number(result.numDeletedRows) > 0
  },
}
