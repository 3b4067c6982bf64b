import { randomUUID } from 'node:crypto'
import type { Db } from '../connection.js'
import { lockRows } from '../dialect.js'
import { decodeJson, encodeJson } from '../json.js'
import type { OutboxRecord, OutboxStatus } from '../../domain/index.js'
import type { OutboxRow } from '../schema.js'
import { now, toTimestamp } from '../time.js'

export type { OutboxRecord } from '../../domain/index.js'

export interface NewOutboxRow {
  kind: string
  payload: unknown
  fileId?: string | null
  /** Not before this time (default: now). */
  runAfter?: Date | string | number
  /** Default: a random UUID. It becomes the job id, so it must not contain ':'. */
  id?: string
}

const MAX_ERROR = 2000

function toRecord(row: OutboxRow): OutboxRecord {
  return {
    id: row.id,
    kind: row.kind,
    payload: decodeJson(row.payload, 'outbox.payload'),
    fileId: row.file_id,
    status: row.status,
    attempts: row.attempts,
    runAfter: row.run_after,
    lastError: row.last_error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

function clip(error: string): string {
  return error.length > MAX_ERROR ? `${error.slice(0, MAX_ERROR - 1)}…` : error
}

/**
 * Rows of the transactional outbox (`jobs/outbox.ts` builds the relay and the worker wrapper on
 * these). Lifecycle: `pending` → `dispatched` (handed to the queue; `run_after` is then the
 * deadline after which the dispatch is presumed lost) → `done` or `failed`. Callers get
 * `OutboxRecord`s (camelCase, payload parsed).
 */
export const outboxRows = {
  /** Inserts a pending row; inside the caller's transaction it commits or vanishes with it. */
  async insert(db: Db, entry: NewOutboxRow): Promise<OutboxRecord> {
    const at = now()
    const row = await db
      .insertInto('outbox')
      .values({
        id: entry.id ?? randomUUID(),
        kind: entry.kind,
        payload: encodeJson(entry.payload ?? null),
        file_id: entry.fileId ?? null,
        status: 'pending',
        attempts: 0,
        run_after: entry.runAfter === undefined ? at : toTimestamp(entry.runAfter),
        last_error: null,
        created_at: at,
        updated_at: at,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
    return toRecord(row)
  },

  async get(db: Db, id: string): Promise<OutboxRecord | null> {
    const row = await db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirst()
    return row ? toRecord(row) : null
  },

  /**
   * Claims up to `limit` due rows (`pending`, or `dispatched` past their deadline) in one
   * statement: they become `dispatched` with `run_after = now + leaseMs`. On PostgreSQL the rows
   * are picked `FOR UPDATE SKIP LOCKED`, so concurrent relays claim disjoint sets; on SQLite the
   * single statement runs under the database write lock, which gives the same guarantee.
   */
  async claimDue(db: Db, options: { limit: number; leaseMs: number }): Promise<OutboxRecord[]> {
    const at = now()
    const due = lockRows(
      db,
      db
        .selectFrom('outbox')
        .select('id')
        .where('status', 'in', ['pending', 'dispatched'])
        .where('run_after', '<=', at)
        .orderBy('run_after')
        .limit(options.limit),
      { skipLocked: true },
    )
    const rows = await db
      .updateTable('outbox')
      .set({ status: 'dispatched', run_after: now(options.leaseMs), updated_at: at })
      .where('id', 'in', due)
      // Re-checked on the locked row version: another relay may have claimed it meanwhile.
      .where('status', 'in', ['pending', 'dispatched'])
      .where('run_after', '<=', at)
      .returningAll()
      .execute()
    return rows.map(toRecord).sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0))
  },

  /** `dispatched` → `pending` (the queue refused it), due again at `runAfter`. */
  async release(db: Db, id: string, options: { runAfter: string; error: string }): Promise<boolean> {
    const result = await db
      .updateTable('outbox')
      .set({ status: 'pending', run_after: options.runAfter, last_error: clip(options.error), updated_at: now() })
      .where('id', '=', id)
      .where('status', '=', 'dispatched')
      .executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  },

  /**
   * A worker's heartbeat on a live row: moves the re-dispatch deadline to `runAfter`, optionally
   * counting an attempt or recording the error of a failed one (that will be retried).
   */
  async touch(
    db: Db,
    id: string,
    options: { runAfter: string; countAttempt?: boolean; error?: string },
  ): Promise<boolean> {
    const result = await db
      .updateTable('outbox')
      .set((eb) => ({
        run_after: options.runAfter,
        updated_at: now(),
        ...(options.countAttempt ? { attempts: eb('attempts', '+', 1) } : {}),
        ...(options.error !== undefined ? { last_error: clip(options.error) } : {}),
      }))
      .where('id', '=', id)
      .where('status', 'in', ['pending', 'dispatched'])
      .executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  },

  /** → `done` unless already finished. Resolves whether this call finished it. */
  async markDone(db: Db, id: string): Promise<boolean> {
    const result = await db
      .updateTable('outbox')
      .set({ status: 'done', updated_at: now() })
      .where('id', '=', id)
      .where('status', 'in', ['pending', 'dispatched'])
      .executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  },

  /** → `failed` with the reason, unless already finished. Resolves whether this call did it. */
  async markFailed(db: Db, id: string, error: string): Promise<boolean> {
    const result = await db
      .updateTable('outbox')
      .set({ status: 'failed', last_error: clip(error), updated_at: now() })
      .where('id', '=', id)
      .where('status', 'in', ['pending', 'dispatched'])
      .executeTakeFirst()
    return Number(result.numUpdatedRows) > 0
  },

  /**
   * Every `dispatched` row becomes due again now. For a process whose queue lives in memory:
   * at start-up nothing it dispatched before a crash can still be queued.
   */
  async reclaimDispatched(db: Db): Promise<number> {
    const at = now()
    const result = await db
      .updateTable('outbox')
      .set({ status: 'pending', run_after: at, updated_at: at })
      .where('status', '=', 'dispatched')
      .executeTakeFirst()
    return Number(result.numUpdatedRows)
  },

  /** Rows by status, file and/or kind, oldest first (operators, tests). */
  async list(
    db: Db,
    filter: { status?: OutboxStatus; fileId?: string; kind?: string; limit?: number } = {},
  ): Promise<OutboxRecord[]> {
    let query = db.selectFrom('outbox').selectAll()
    if (filter.status) query = query.where('status', '=', filter.status)
    if (filter.fileId) query = query.where('file_id', '=', filter.fileId)
    if (filter.kind) query = query.where('kind', '=', filter.kind)
    const rows = await query
      .orderBy('created_at')
      .orderBy('id')
      .limit(filter.limit ?? 500)
      .execute()
    return rows.map(toRecord)
  },

  /** Row counts per status (every status present, zero when none). */
  async counts(db: Db): Promise<Record<OutboxStatus, number>> {
    const rows = await db
      .selectFrom('outbox')
      .select((eb) => ['status', eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute()
    const out: Record<OutboxStatus, number> = { pending: 0, dispatched: 0, done: 0, failed: 0 }
    for (const r of rows) out[r.status] = Number(r.n)
    return out
  },

  /** Retention: deletes `done` rows last updated before `before` (ISO). Resolves how many. */
  async purgeDone(db: Db, before: string): Promise<number> {
    const result = await db
      .deleteFrom('outbox')
      .where('status', '=', 'done')
      .where('updated_at', '<', before)
      .executeTakeFirst()
    return Number(result.numDeletedRows)
  },
}
