import { LocalexError } from '../errors/index.js'
import { auditLog, files, maintenance, uploads, type FileRecord } from '../db/index.js'
import type { FileStatus } from '../domain/index.js'
import type { ObjectStore } from '../storage/types.js'
import { ownerOfKey } from './layout.js'
import { errorOf, pushBounded, type OpsContext, type OpsError, type OpsRunOptions } from './types.js'

export interface CleanupOptions extends OpsRunOptions {
  /** Report what would be removed; change nothing. */
  dryRun?: boolean
  /**
   * Grace period in ms (default `UPLOAD_GRACE`): `uploading` rows and multipart uploads younger
   * than this are never touched, and no retention is shorter than it.
   */
  olderThanMs?: number
}

export interface CleanupItem {
  kind: 'temp_upload' | 'stale_uploading' | 'failed' | 'deleted' | 'multipart'
  /** Upload or file id, or the key of a multipart upload. */
  id: string
  /** Objects removed (or that would be). */
  objects: number
}

export interface CleanupSummary {
  dryRun: boolean
  interrupted: boolean
  /** ISO cut-offs used: nothing updated after them was looked at. */
  cutoffs: { uploading: string; failed: string; deleted: string; tempCreated: string }
  counts: {
    tempUploads: number
    staleUploading: number
    failed: number
    deleted: number
    multipartUploads: number
    /** Objects deleted (or that would be) over all the above. */
    objects: number
  }
  /** The first 1,000 items (counts are exact). */
  items: CleanupItem[]
  errors: OpsError[]
  durationMs: number
}

/**
 * Removes what the write paths leave behind on purpose or by crashing: direct uploads past their
 * expiry (row and temp object), `uploading` rows older than the grace period with their objects
 * (a crashed upload), `failed` files past `FAILED_RETENTION`, soft-deleted files past
 * `DELETED_RETENTION`, and (S3) multipart uploads started before the grace period and never
 * completed. Every removal is guarded by the row's status (a concurrent writer wins) and
 * audited as `purge`. Safe to interrupt and run again: each row is claimed, emptied, then
 * removed, and a re-run finds whatever an interruption left.
 */
export async function cleanup(ctx: OpsContext, options: CleanupOptions = {}): Promise<CleanupSummary> {
  const started = performance.now()
  const now = options.now ?? Date.now()
  const { signal, onProgress } = options
  const dryRun = options.dryRun ?? false
  const grace = options.olderThanMs ?? ctx.config.files.uploadGraceMs
  const iso = (ms: number) => new Date(ms).toISOString()
  const cutoffs = {
    uploading: iso(now - grace),
    failed: iso(now - Math.max(grace, ctx.config.files.failedRetentionMs)),
    deleted: iso(now - Math.max(grace, ctx.config.files.deletedRetentionMs)),
    tempCreated: iso(now - grace),
  }
  const summary: CleanupSummary = {
    dryRun,
    interrupted: false,
    cutoffs,
    counts: { tempUploads: 0, staleUploading: 0, failed: 0, deleted: 0, multipartUploads: 0, objects: 0 },
    items: [],
    errors: [],
    durationMs: 0,
  }
  const record = (item: CleanupItem) => {
    pushBounded(summary.items, item)
    summary.counts.objects += item.objects
  }
  const stopped = () => {
    if (signal?.aborted) summary.interrupted = true
    return summary.interrupted
  }

  // 1. Direct uploads past their expiry: the row and whatever was uploaded under its folder.
  let done = 0
  for await (const batch of maintenance.expiredUploads(ctx.db, { at: iso(now), createdBefore: cutoffs.tempCreated })) {
    if (stopped()) break
    for (const upload of batch) {
      if (stopped()) break
      try {
        const folder = ownerOfKey(upload.key)
        const prefix = folder.kind === 'upload' && folder.uploadId === upload.id ? folder.folder : null
        let objects = 0
        if (dryRun) {
          objects = prefix ? await countObjects(ctx.store, prefix, signal) : 0
        } else {
          // Claim it first: a completion racing us either wins (and we leave it) or finds it expired.
          if (upload.status === 'pending' && !(await uploads.markExpired(ctx.db, upload.id))) continue
          objects = prefix ? await deletePrefix(ctx.store, prefix, signal) : 0
          await uploads.remove(ctx.db, upload.id)
        }
        summary.counts.tempUploads++
        record({ kind: 'temp_upload', id: upload.id, objects })
      } catch (error) {
        if (stopped()) break
        summary.errors.push(errorOf('temp_uploads', upload.id, error))
      }
      onProgress?.({ phase: 'temp uploads', done: ++done })
    }
  }

  // 2-4. File rows: stale uploads, failed past retention, deleted past retention.
  const phases: Array<{
    status: FileStatus
    before: string
    kind: CleanupItem['kind']
    count: keyof CleanupSummary['counts']
  }> = [
    { status: 'uploading', before: cutoffs.uploading, kind: 'stale_uploading', count: 'staleUploading' },
    { status: 'failed', before: cutoffs.failed, kind: 'failed', count: 'failed' },
    { status: 'deleted', before: cutoffs.deleted, kind: 'deleted', count: 'deleted' },
  ]
  for (const phase of phases) {
    if (stopped()) break
    done = 0
    for await (const batch of maintenance.staleFiles(ctx.db, { statuses: [phase.status], before: phase.before })) {
      if (stopped()) break
      for (const row of batch) {
        if (stopped()) break
        try {
          const objects = await purgeFile(ctx, row, phase.kind, dryRun, signal)
          if (objects === null) continue
          summary.counts[phase.count]++
          record({ kind: phase.kind, id: row.id, objects })
        } catch (error) {
          if (stopped()) break
          summary.errors.push(errorOf(phase.kind, row.id, error))
        }
        onProgress?.({ phase: `${phase.status} files`, done: ++done })
      }
    }
  }

  // 5. Incomplete multipart uploads (S3 only: the disk store writes through temp files it removes itself).
  if (!stopped()) {
    done = 0
    const admin = ctx.store.admin
    try {
      for await (const upload of admin.multipartUploads({ signal })) {
        if (stopped()) break
        // No date: treat as fresh (never touch what we cannot age).
        if (!upload.initiated || upload.initiated.getTime() >= now - grace) continue
        try {
          if (!dryRun) await admin.abortMultipartUpload(upload, { signal })
          summary.counts.multipartUploads++
          pushBounded(summary.items, { kind: 'multipart', id: upload.key, objects: 0 })
        } catch (error) {
          if (stopped()) break
          summary.errors.push(errorOf('multipart', upload.key, error))
        }
        onProgress?.({ phase: 'multipart uploads', done: ++done })
      }
    } catch (error) {
      if (!stopped()) summary.errors.push(errorOf('multipart', admin.location, error))
    }
  }

  stopped()
  summary.durationMs = Math.round(performance.now() - started)
  return summary
}

/**
 * Empties one file's folder and removes its row. `uploading` rows are first moved to `failed`
 * (guarded), so an upload that was only slow loses cleanly instead of racing us: its own
 * `markStored` then fails and it compensates. Resolves the number of objects, or null when the
 * row changed meanwhile (left alone).
 */
async function purgeFile(
  ctx: OpsContext,
  row: FileRecord,
  kind: CleanupItem['kind'],
  dryRun: boolean,
  signal?: AbortSignal,
): Promise<number | null> {
  const owner = ownerOfKey(`${row.keyPrefix}x`)
  // A row whose folder is not its own (corrupt data) must never make us delete a wider prefix.
  const own = owner.kind === 'file' && owner.fileId === row.id && owner.folder === row.keyPrefix
  const prefix = own ? row.keyPrefix : null
  if (dryRun) return prefix ? countObjects(ctx.store, prefix, signal) : 0
  let status = row.status
  if (status === 'uploading') {
    const patch = { errorReason: 'CLEANUP: upload abandoned (older than the grace period)' }
    const claimed = await files.transition(ctx.db, row.id, { from: 'uploading', to: 'failed', patch })
    if (!claimed) return null
    status = 'failed'
  }
  const objects = prefix ? await deletePrefix(ctx.store, prefix, signal) : 0
  if (!(await files.remove(ctx.db, row.id, { expect: status }))) return null
  await auditLog.append(ctx.db, {
    action: 'purge',
    actorRole: 'system',
    fileId: row.id,
    entityType: row.entityType,
    entityId: row.entityId,
    details: { reason: kind, objects, ...(prefix ? {} : { skippedPrefix: row.keyPrefix }) },
  })
  return objects
}

async function countObjects(store: ObjectStore, prefix: string, signal?: AbortSignal): Promise<number> {
  let n = 0
  for await (const entry of store.list(prefix, signal ? { signal } : {})) if (entry.type === 'object') n++
  return n
}

/** Deletes every object under `prefix` (one folder: a handful of keys), resolving how many. */
export async function deletePrefix(store: ObjectStore, prefix: string, signal?: AbortSignal): Promise<number> {
  const keys: string[] = []
  for await (const entry of store.list(prefix, signal ? { signal } : {}))
    if (entry.type === 'object') keys.push(entry.key)
  if (keys.length === 0) return 0
  const result = await store.deleteMany(keys, signal ? { signal } : {})
  if (result.failed.length) {
    throw new LocalexError(
      'STORE_ERROR',
      `Could not delete ${result.failed.length} of ${keys.length} objects under ${prefix}`,
      { details: { failed: result.failed.slice(0, 10) } },
    )
  }
  return result.deleted.length
}
