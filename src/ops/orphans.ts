import { auditLog, files, maintenance, type Db, type FileRecord } from '../db/index.js'
import type { FileStatus } from '../domain/index.js'
import { LocalexError } from '../errors/index.js'
import { mapLimit } from '../lib/index.js'
import type { ObjectStore } from '../storage/types.js'
import { ownerOfKey } from './layout.js'
import { errorOf, pushBounded, type OpsContext, type OpsError, type OpsRunOptions } from './types.js'

export interface OrphanOptions extends OpsRunOptions {
  /** Delete orphan objects (implies `mark`). Default: report only. */
  delete?: boolean
  /** Mark rows whose objects are missing (see `MissingObjects`). Default: report only. */
  mark?: boolean
  /** Only keys (and rows whose folder is) under this prefix. */
  prefix?: string
  /** Objects modified, and rows updated, more recently than this (ms) are skipped. Default `UPLOAD_GRACE`. */
  olderThanMs?: number
  /** Keys checked against the database per query (default 1,000). */
  batchSize?: number
  /** Folders listed at once for the rows → objects direction (default 16). */
  concurrency?: number
}

/** Why an object counts as an orphan. */
export type OrphanReason =
  /** No `files`/`uploads` row has that id. */
  | 'no_row'
  /** The row is soft-deleted: its objects should be gone. */
  | 'file_deleted'
  /** The row is `ready` and does not list this key (e.g. a variant from an older configuration). */
  | 'not_listed'
  /** A row of that id exists, but under another folder. */
  | 'wrong_folder'
  /** A temp object whose direct upload is completed or expired. */
  | 'upload_finished'

export interface OrphanObject {
  key: string
  size: number
  lastModified: string
  reason: OrphanReason
}

/**
 * A row whose objects are not all in the store. `original`: the file is unusable, so marking moves
 * it to `failed` with `error_reason` `OBJECTS_MISSING: …` (kept for `FAILED_RETENTION`, visible,
 * audited; never dropped by this sweep). `derived`: only variants are missing; marking keeps the
 * row `ready` and writes `error_reason` so `reprocess` can regenerate them.
 */
export interface MissingObjects {
  fileId: string
  status: FileStatus
  keyPrefix: string
  missing: string[]
  severity: 'original' | 'derived'
  marked: boolean
}

export interface OrphanSummary {
  mode: 'report' | 'mark' | 'delete'
  interrupted: boolean
  prefix: string
  /** Objects modified and rows updated after this were skipped. */
  cutoff: string
  bucket: {
    /** Every object listed under the prefix. */
    objects: number
    bytes: number
    /** Younger than the cutoff: never judged. */
    recent: number
    /** Outside the key layout: reported, never deleted. */
    foreign: number
  }
  orphans: { objects: number; bytes: number; deleted: number; byReason: Partial<Record<OrphanReason, number>> }
  rows: { checked: number; missingOriginal: number; missingDerived: number; marked: number }
  /** The first 1,000 of each (counts are exact). */
  orphanObjects: OrphanObject[]
  foreignKeys: string[]
  missingObjects: MissingObjects[]
  errors: OpsError[]
  durationMs: number
}

/**
 * The orphan sweep, both directions, in bounded memory:
 * 1. objects → rows: the bucket is listed page by page in key order; keys older than the cutoff
 *    are checked against `files`/`uploads` a batch at a time (one query per table per batch);
 *    orphans are deleted a batch at a time with `delete`.
 * 2. rows → objects: `ready`/`processing` rows older than the cutoff are read by id in batches,
 *    and each row's folder is listed (`concurrency` at once) to find objects it lists but the
 *    store lacks.
 * Read-only unless `delete`/`mark`; safe to interrupt and re-run (it keeps no state).
 */
export async function findOrphans(ctx: OpsContext, options: OrphanOptions = {}): Promise<OrphanSummary> {
  const started = performance.now()
  const now = options.now ?? Date.now()
  const { signal, onProgress } = options
  const remove = options.delete ?? false
  const mark = remove || (options.mark ?? false)
  const prefix = options.prefix ?? ''
  const cutoffMs = now - (options.olderThanMs ?? ctx.config.files.uploadGraceMs)
  const batchSize = options.batchSize ?? 1000
  const summary: OrphanSummary = {
    mode: remove ? 'delete' : mark ? 'mark' : 'report',
    interrupted: false,
    prefix,
    cutoff: new Date(cutoffMs).toISOString(),
    bucket: { objects: 0, bytes: 0, recent: 0, foreign: 0 },
    orphans: { objects: 0, bytes: 0, deleted: 0, byReason: {} },
    rows: { checked: 0, missingOriginal: 0, missingDerived: 0, marked: 0 },
    orphanObjects: [],
    foreignKeys: [],
    missingObjects: [],
    errors: [],
    durationMs: 0,
  }
  const stopped = () => {
    if (signal?.aborted) summary.interrupted = true
    return summary.interrupted
  }

  // ---- 1. objects → rows
  let pending: Array<{ key: string; size: number; lastModified: Date }> = []
  let doomed: string[] = []
  const flushDeletes = async (force: boolean) => {
    if (!remove || doomed.length === 0 || (!force && doomed.length < 1000)) return
    const keys = doomed
    doomed = []
    try {
      const result = await ctx.store.deleteMany(keys, signal ? { signal } : {})
      summary.orphans.deleted += result.deleted.length
      for (const f of result.failed)
        pushBounded(summary.errors, { phase: 'delete', target: f.key, code: f.code, message: f.message })
    } catch (error) {
      if (!stopped()) summary.errors.push(errorOf('delete', `${keys.length} keys from ${keys[0]}`, error))
    }
  }
  const judge = async () => {
    const batch = pending
    pending = []
    if (batch.length === 0) return
    for (const orphan of await classify(ctx.db, batch)) {
      summary.orphans.objects++
      summary.orphans.bytes += orphan.size
      summary.orphans.byReason[orphan.reason] = (summary.orphans.byReason[orphan.reason] ?? 0) + 1
      pushBounded(summary.orphanObjects, orphan)
      if (remove) doomed.push(orphan.key)
    }
    await flushDeletes(false)
  }
  try {
    for await (const entry of ctx.store.admin.inventory(prefix, { pageSize: 1000, signal })) {
      summary.bucket.objects++
      summary.bucket.bytes += entry.size
      if (entry.lastModified.getTime() >= cutoffMs) summary.bucket.recent++
      else if (ownerOfKey(entry.key).kind === 'foreign') {
        summary.bucket.foreign++
        pushBounded(summary.foreignKeys, entry.key)
      } else {
        pending.push(entry)
        if (pending.length >= batchSize) {
          await judge()
          onProgress?.({ phase: 'objects', done: summary.bucket.objects, detail: entry.key })
          if (stopped()) break
        }
      }
    }
    if (!stopped()) await judge()
    await flushDeletes(true)
  } catch (error) {
    if (!stopped() || !isAbort(error)) summary.errors.push(errorOf('objects', prefix || '(bucket)', error))
  }
  onProgress?.({ phase: 'objects', done: summary.bucket.objects })

  // ---- 2. rows → objects
  if (!stopped()) {
    const total = await countRows(ctx, summary.cutoff, prefix)
    try {
      const walk = maintenance.filesWithObjects(ctx.db, { before: summary.cutoff, prefix, batchSize: 200 })
      for await (const batch of walk) {
        if (stopped()) break
        const found = await mapLimit(batch, options.concurrency ?? 16, (row) =>
          checkRow(ctx.store, row, prefix, signal).catch((error: unknown) => {
            if (!stopped()) summary.errors.push(errorOf('rows', row.id, error))
            return null
          }),
        )
        for (const missing of found) {
          if (!missing) continue
          if (missing.severity === 'original') summary.rows.missingOriginal++
          else summary.rows.missingDerived++
          if (mark && !stopped()) {
            try {
              missing.marked = await markMissing(ctx.db, missing)
              if (missing.marked) summary.rows.marked++
            } catch (error) {
              summary.errors.push(errorOf('mark', missing.fileId, error))
            }
          }
          pushBounded(summary.missingObjects, missing)
        }
        summary.rows.checked += batch.length
        onProgress?.({ phase: 'rows', done: summary.rows.checked, total })
      }
    } catch (error) {
      if (!stopped() || !isAbort(error)) summary.errors.push(errorOf('rows', prefix || '(all)', error))
    }
  }

  stopped()
  summary.durationMs = Math.round(performance.now() - started)
  return summary
}

/** The orphans among one batch of listed keys: two indexed queries, whatever the batch size. */
async function classify(
  db: Db,
  batch: ReadonlyArray<{ key: string; size: number; lastModified: Date }>,
): Promise<OrphanObject[]> {
  const fileIds = new Set<string>()
  const uploadIds = new Set<string>()
  const owners = batch.map((entry) => {
    const owner = ownerOfKey(entry.key)
    if (owner.kind === 'file') fileIds.add(owner.fileId)
    else if (owner.kind === 'upload') uploadIds.add(owner.uploadId)
    return owner
  })
  const rows = await maintenance.fileFolders(db, [...fileIds])
  const ups = await maintenance.uploadStatuses(db, [...uploadIds])
  const listed = new Map<string, Set<string>>()
  const out: OrphanObject[] = []
  batch.forEach((entry, i) => {
    const owner = owners[i]
    let reason: OrphanReason | null = null
    if (owner?.kind === 'file') {
      const row = rows.get(owner.fileId)
      if (!row) reason = 'no_row'
      else if (row.keyPrefix !== owner.folder) reason = 'wrong_folder'
      else if (row.status === 'deleted') reason = 'file_deleted'
      else if (row.status === 'ready') {
        let keys = listed.get(owner.fileId)
        if (!keys) {
          keys = new Set(row.objects.map((o) => o.key))
          listed.set(owner.fileId, keys)
        }
        if (!keys.has(entry.key)) reason = 'not_listed'
      }
      // uploading / processing / failed: every object in the folder is the row's (cleanup's business).
    } else if (owner?.kind === 'upload') {
      const status = ups.get(owner.uploadId)
      if (status === undefined) reason = 'no_row'
      else if (status !== 'pending') reason = 'upload_finished'
    }
    if (reason) out.push({ key: entry.key, size: entry.size, lastModified: entry.lastModified.toISOString(), reason })
  })
  return out
}

/** Lists one row's folder; null when every object it should have is there. */
async function checkRow(
  store: ObjectStore,
  row: FileRecord,
  prefix: string,
  signal?: AbortSignal,
): Promise<MissingObjects | null> {
  const present = new Set<string>()
  for await (const entry of store.list(row.keyPrefix, signal ? { signal } : {})) {
    if (entry.type === 'object') present.add(entry.key)
  }
  const original = row.objects.find((o) => o.variant === 'original')
  const expected = row.status === 'ready' ? row.objects : original ? [original] : []
  const missing = expected.filter((o) => o.key.startsWith(prefix) && !present.has(o.key)).map((o) => o.key)
  if (missing.length === 0) return null
  return {
    fileId: row.id,
    status: row.status,
    keyPrefix: row.keyPrefix,
    missing,
    severity: !original || missing.includes(original.key) ? 'original' : 'derived',
    marked: false,
  }
}

/** Marks one row (guarded by the status it was read in); audited as `objects_missing`. */
async function markMissing(db: Db, m: MissingObjects): Promise<boolean> {
  const names = m.missing.map((k) => k.slice(m.keyPrefix.length))
  const list = names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ')
  const changed =
    m.severity === 'original'
      ? await files.transition(db, m.fileId, {
          from: m.status,
          to: 'failed',
          patch: { errorReason: `OBJECTS_MISSING: ${list} not in the store` },
        })
      : await files.update(
          db,
          m.fileId,
          { errorReason: `OBJECTS_MISSING: ${list} not in the store; reprocess to regenerate` },
          { expect: 'ready' },
        )
  if (changed) {
    await auditLog.append(db, {
      action: 'objects_missing',
      actorRole: 'system',
      fileId: m.fileId,
      details: { missing: m.missing.slice(0, 20), severity: m.severity, previousStatus: m.status },
    })
  }
  return changed
}

async function countRows(ctx: OpsContext, before: string, prefix: string): Promise<number | undefined> {
  return prefix ? undefined : maintenance.countFilesWithObjects(ctx.db, { before })
}

function isAbort(error: unknown): boolean {
  return error instanceof LocalexError && error.code === 'ABORTED'
}
