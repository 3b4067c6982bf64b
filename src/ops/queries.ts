import { sql } from 'kysely'
import { fileRecordOf, isPostgres, type Db, type FileRecord, type UploadRow } from '../db/index.js'
import type { FileStatus } from '../domain/index.js'

/**
 * The read queries of the operations that the repositories do not have: keyset walks that a
 * re-run can resume and that never hold a connection between batches, and the statistics over the
 * `objects` JSON column (the one place here that differs by dialect).
 */

/**
 * Rows in `statuses` last updated before `before`, oldest first, in batches keyed on
 * (updated_at, id): rows the caller leaves in place are not read again.
 */
export async function* staleFiles(db: Db, options: { statuses: readonly FileStatus[]; before: string; batchSize?: number }): AsyncGenerator<FileRecord[]> {
  const batchSize = options.batchSize ?? 200
  let after: { at: string; id: string } | null = null
  for (;;) {
    let query = db.selectFrom('files').selectAll().where('status', 'in', [...options.statuses]).where('updated_at', '<', options.before)
    if (after) {
      const { at, id } = after
      query = query.where((eb) => eb.or([eb('updated_at', '>', at), eb.and([eb('updated_at', '=', at), eb('id', '>', id)])]))
    }
    const rows = await query.orderBy('updated_at').orderBy('id').limit(batchSize).execute()
    if (rows.length) yield rows.map(fileRecordOf)
    const last = rows.at(-1)
    if (!last || rows.length < batchSize) return
    after = { at: last.updated_at, id: last.id }
  }
}

/** Direct uploads past their expiry (pending or already marked expired) created before `createdBefore`. */
export async function* expiredUploads(db: Db, options: { at: string; createdBefore: string; batchSize?: number }): AsyncGenerator<UploadRow[]> {
  const batchSize = options.batchSize ?? 200
  let after: string | null = null
  for (;;) {
    let query = db
      .selectFrom('uploads')
      .selectAll()
      .where((eb) => eb.or([eb('status', '=', 'expired'), eb.and([eb('status', '=', 'pending'), eb('expires_at', '<=', options.at)])]))
      .where('created_at', '<', options.createdBefore)
    if (after !== null) query = query.where('id', '>', after)
    const rows = await query.orderBy('id').limit(batchSize).execute()
    if (rows.length) yield rows
    const last = rows.at(-1)
    if (!last || rows.length < batchSize) return
    after = last.id
  }
}

/**
 * Rows that should have objects in the store (`ready`, `processing`), updated before `before`,
 * by id; with `prefix`, only rows whose folder is under it (or contains it).
 */
export async function* rowsWithObjects(db: Db, options: { before: string; prefix?: string; batchSize?: number }): AsyncGenerator<FileRecord[]> {
  const batchSize = options.batchSize ?? 200
  let after: string | null = null
  for (;;) {
    let query = db.selectFrom('files').selectAll().where('status', 'in', ['ready', 'processing']).where('updated_at', '<', options.before)
    const prefix = options.prefix
    if (prefix) {
      // substr rather than LIKE: ids are full of `_`, LIKE's wildcard.
      query = query.where((eb) => eb.or([
        eb(sql`substr(key_prefix, 1, ${prefix.length})`, '=', prefix),
        eb(sql`substr(${prefix}, 1, length(key_prefix))`, '=', sql.ref('key_prefix')),
      ]))
    }
    if (after !== null) query = query.where('id', '>', after)
    const rows = await query.orderBy('id').limit(batchSize).execute()
    if (rows.length) yield rows.map(fileRecordOf)
    const last = rows.at(-1)
    if (!last || rows.length < batchSize) return
    after = last.id
  }
}

/** Statuses whose objects are (or are being) in the store: what storage statistics count. */
export const STORED_STATUSES = ['uploading', 'processing', 'ready'] as const satisfies readonly FileStatus[]

export interface ObjectGroup {
  entityType: string
  variant: string
  format: string
  objects: number
  bytes: number
}

/** Objects and bytes per entity type, variant and format, from the `objects` JSON of stored rows. */
export async function objectGroups(db: Db): Promise<ObjectGroup[]> {
  const statuses = sql.join(STORED_STATUSES.map((s) => sql.lit(s)))
  const query = isPostgres(db)
    ? sql<{ entity_type: string; variant: string; format: string; objects: string; bytes: string }>`
        select f.entity_type, o.value->>'variant' as variant, o.value->>'format' as format,
               count(*) as objects, coalesce(sum((o.value->>'size')::bigint), 0) as bytes
        from files f cross join lateral jsonb_array_elements(f.objects::jsonb) as o(value)
        where f.status in (${statuses})
        group by 1, 2, 3 order by 1, 2, 3`
    : sql<{ entity_type: string; variant: string; format: string; objects: string; bytes: string }>`
        select f.entity_type, json_extract(o.value, '$.variant') as variant, json_extract(o.value, '$.format') as format,
               count(*) as objects, coalesce(sum(json_extract(o.value, '$.size')), 0) as bytes
        from files f, json_each(f.objects) as o
        where f.status in (${statuses})
        group by 1, 2, 3 order by 1, 2, 3`
  const { rows } = await query.execute(db)
  return rows.map((r) => ({ entityType: r.entity_type, variant: String(r.variant), format: String(r.format), objects: Number(r.objects), bytes: Number(r.bytes) }))
}

/**
 * Bytes of the uploaded originals as stored (the first `original` object of each row, as
 * `originalObject()` of the files layer picks it), per entity type. Everything else is derived.
 */
export async function originalBytes(db: Db): Promise<Map<string, number>> {
  const statuses = sql.join(STORED_STATUSES.map((s) => sql.lit(s)))
  const query = isPostgres(db)
    ? sql<{ entity_type: string; bytes: string }>`
        select f.entity_type, coalesce(sum((
          select (o.value->>'size')::bigint from jsonb_array_elements(f.objects::jsonb) with ordinality as o(value, n)
          where o.value->>'variant' = 'original' order by o.n limit 1)), 0) as bytes
        from files f where f.status in (${statuses}) group by 1`
    : sql<{ entity_type: string; bytes: string }>`
        select f.entity_type, coalesce(sum((
          select json_extract(o.value, '$.size') from json_each(f.objects) as o
          where json_extract(o.value, '$.variant') = 'original' order by o.key limit 1)), 0) as bytes
        from files f where f.status in (${statuses}) group by 1`
  const { rows } = await query.execute(db)
  return new Map(rows.map((r) => [r.entity_type, Number(r.bytes)]))
}

export interface UserUsage {
  ownerId: string
  files: number
  bytes: number
}

/** The `limit` owners with the most stored bytes. */
export async function topUsers(db: Db, limit: number): Promise<UserUsage[]> {
  if (limit <= 0) return []
  const rows = await db
    .selectFrom('files')
    .select((eb) => ['owner_id', eb.fn.countAll<number>().as('files'), eb.fn.coalesce(eb.fn.sum<number>('stored_bytes'), sql<number>`0`).as('bytes')])
    .where('status', 'in', [...STORED_STATUSES])
    .groupBy('owner_id')
    .orderBy('bytes', 'desc')
    .orderBy('owner_id')
    .limit(limit)
    .execute()
  return rows.map((r) => ({ ownerId: r.owner_id, files: Number(r.files), bytes: Number(r.bytes) }))
}
