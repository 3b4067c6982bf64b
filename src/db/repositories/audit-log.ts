import type { AuditRecord } from '../../domain/index.js'
import type { Db } from '../connection.js'
import { decodeDetails, encodeJson } from '../json.js'
import type { AuditRow } from '../schema.js'
import { now } from '../time.js'

export type { AuditRecord } from '../../domain/index.js'

export interface AuditEntry {
  action: string
  actorId?: string | null
  actorRole?: string | null
  fileId?: string | null
  entityType?: string | null
  entityId?: string | null
  ip?: string | null
  userAgent?: string | null
  details?: Record<string, unknown> | null
  /** Defaults to now. */
  at?: string
}

export interface AuditPage {
  entries: AuditRecord[]
  /** Pass as `before` for the next (older) page; null on the last page. */
  next: number | null
}

export interface AuditPaging {
  /** Default 50, at most 1000. */
  limit?: number
  /** Only entries older than this id (the previous page's `next`). */
  before?: number
}

/** The append-only audit trail. Entries are listed newest first, paged by id. */
export const auditLog = {
  async append(db: Db, entry: AuditEntry): Promise<number> {
    const row = await db
      .insertInto('audit_log')
      .values({
        at: entry.at ?? now(),
        action: entry.action,
        actor_id: entry.actorId ?? null,
        actor_role: entry.actorRole ?? null,
        file_id: entry.fileId ?? null,
        entity_type: entry.entityType ?? null,
        entity_id: entry.entityId ?? null,
        ip: entry.ip ?? null,
        user_agent: entry.userAgent ?? null,
        details: entry.details == null ? null : encodeJson(entry.details),
      })
      .returning('id')
      .executeTakeFirstOrThrow()
    return Number(row.id)
  },

  listByFile(db: Db, fileId: string, paging: AuditPaging = {}): Promise<AuditPage> {
    return page(db, 'file_id', fileId, paging)
  },

  listByActor(db: Db, actorId: string, paging: AuditPaging = {}): Promise<AuditPage> {
    return page(db, 'actor_id', actorId, paging)
  },

  /** Retention: deletes entries older than `before` (ISO). Resolves how many went. */
  async purgeBefore(db: Db, before: string): Promise<number> {
    const result = await db.deleteFrom('audit_log').where('at', '<', before).executeTakeFirst()
    return Number(result.numDeletedRows)
  },
}

async function page(db: Db, column: 'file_id' | 'actor_id', value: string, paging: AuditPaging): Promise<AuditPage> {
  const limit = Math.min(Math.max(paging.limit ?? 50, 1), 1000)
  let query = db.selectFrom('audit_log').selectAll().where(column, '=', value)
  if (paging.before !== undefined) query = query.where('id', '<', paging.before)
  const rows = await query
    .orderBy('id', 'desc')
    .limit(limit + 1)
    .execute()
  const entries = rows.slice(0, limit).map(auditRecordOf)
  return { entries, next: rows.length > limit ? (entries.at(-1)?.id ?? null) : null }
}

function auditRecordOf(row: AuditRow): AuditRecord {
  return {
    id: Number(row.id),
    at: row.at,
    action: row.action,
    actorId: row.actor_id,
    actorRole: row.actor_role,
    fileId: row.file_id,
    entityType: row.entity_type,
    entityId: row.entity_id,
    ip: row.ip,
    userAgent: row.user_agent,
    details: decodeDetails(row.details),
  }
}
