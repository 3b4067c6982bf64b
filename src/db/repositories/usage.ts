import { sql, type RawBuilder } from 'kysely'
import type { FileStatus } from '../../domain/index.js'
import type { Db } from '../connection.js'
import { dialectOf, type DialectName } from '../dialect.js'

/** Statuses whose objects are (or are being) in the store: what storage statistics count. */
export const STORED_STATUSES = ['uploading', 'processing', 'ready'] as const satisfies readonly FileStatus[]

export interface ObjectGroup {
  entityType: string
  variant: string
  format: string
  objects: number
  bytes: number
}

export interface UserUsage {
  ownerId: string
  files: number
  bytes: number
}

type GroupRow = { entity_type: string; variant: string; format: string; objects: string; bytes: string }
type BytesRow = { entity_type: string; bytes: string }

const storedStatuses = () => sql.join(STORED_STATUSES.map((s) => sql.lit(s)))

/**
 * The statistics over the `objects` JSON column: the one place where the SQL differs by dialect
 * (PostgreSQL's jsonb functions, SQLite's json_each), so each query is written once per dialect.
 */
const OBJECT_GROUPS: Record<DialectName, () => RawBuilder<GroupRow>> = {
  postgres: () => sql<GroupRow>`
    select f.entity_type, o.value->>'variant' as variant, o.value->>'format' as format,
           count(*) as objects, coalesce(sum((o.value->>'size')::bigint), 0) as bytes
    from files f cross join lateral jsonb_array_elements(f.objects::jsonb) as o(value)
    where f.status in (${storedStatuses()})
    group by 1, 2, 3 order by 1, 2, 3`,
  sqlite: () => sql<GroupRow>`
    select f.entity_type, json_extract(o.value, '$.variant') as variant, json_extract(o.value, '$.format') as format,
           count(*) as objects, coalesce(sum(json_extract(o.value, '$.size')), 0) as bytes
    from files f, json_each(f.objects) as o
    where f.status in (${storedStatuses()})
    group by 1, 2, 3 order by 1, 2, 3`,
}

// The first `original` object of each row, as `originalObject()` of the files layer picks it.
const ORIGINAL_BYTES: Record<DialectName, () => RawBuilder<BytesRow>> = {
  postgres: () => sql<BytesRow>`
    select f.entity_type, coalesce(sum((
      select (o.value->>'size')::bigint from jsonb_array_elements(f.objects::jsonb) with ordinality as o(value, n)
      where o.value->>'variant' = 'original' order by o.n limit 1)), 0) as bytes
    from files f where f.status in (${storedStatuses()}) group by 1`,
  sqlite: () => sql<BytesRow>`
    select f.entity_type, coalesce(sum((
      select json_extract(o.value, '$.size') from json_each(f.objects) as o
      where json_extract(o.value, '$.variant') = 'original' order by o.key limit 1)), 0) as bytes
    from files f where f.status in (${storedStatuses()}) group by 1`,
}

/** Storage statistics: what is stored, per entity type, variant, format and owner. */
export const usage = {
  /** Objects and bytes per entity type, variant and format, from the `objects` JSON of stored rows. */
  async objectGroups(db: Db): Promise<ObjectGroup[]> {
    const { rows } = await OBJECT_GROUPS[dialectOf(db)]().execute(db)
    return rows.map((r) => ({
      entityType: r.entity_type,
      variant: String(r.variant),
      format: String(r.format),
      objects: Number(r.objects),
      bytes: Number(r.bytes),
    }))
  },

  /** Bytes of the uploaded originals as stored, per entity type. Everything else is derived. */
  async originalBytes(db: Db): Promise<Map<string, number>> {
    const { rows } = await ORIGINAL_BYTES[dialectOf(db)]().execute(db)
    return new Map(rows.map((r) => [r.entity_type, Number(r.bytes)]))
  },

  /** The `limit` owners with the most stored bytes. */
  async topUsers(db: Db, limit: number): Promise<UserUsage[]> {
    if (limit <= 0) return []
    const rows = await db
      .selectFrom('files')
      .select((eb) => [
        'owner_id',
        eb.fn.countAll<number>().as('files'),
        eb.fn.coalesce(eb.fn.sum<number>('stored_bytes'), sql<number>`0`).as('bytes'),
      ])
      .where('status', 'in', [...STORED_STATUSES])
      .groupBy('owner_id')
      .orderBy('bytes', 'desc')
      .orderBy('owner_id')
      .limit(limit)
      .execute()
    return rows.map((r) => ({ ownerId: r.owner_id, files: Number(r.files), bytes: Number(r.bytes) }))
  },
}
