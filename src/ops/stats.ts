import { files, usage, type ObjectGroup, type UserUsage } from '../db/index.js'
import { ENTITY_TYPES, FILE_STATUSES } from '../domain/index.js'
import { keyKind } from '../storage/keys.js'
import { errorOf, type OpsContext, type OpsError, type OpsRunOptions } from './types.js'

/** Billing unit of S3 storage prices: GB-month with GB = 2^30 bytes. */
export const BYTES_PER_GB = 1024 ** 3

export interface StatsOptions extends OpsRunOptions {
  /** How many of the heaviest users to list (default 10; 0: none). */
  byUser?: number
  /** Also walk the bucket and compare its totals with the database's. */
  verify?: boolean
  /** Price per GB-month for the estimate (default `STORAGE_PRICE_PER_GB_MONTH`). */
  pricePerGbMonth?: number
  /** CDN hit ratio (0..1) when the caller knows it (from the CDN's metrics); reported as is. */
  cdnHitRatio?: number | null
}

export interface EntityStats {
  entityType: string
  /** Files whose objects are in the store (`uploading`, `processing`, `ready`). */
  files: number
  /** Sum of the uploaded files' sizes as received. */
  uploadedBytes: number
  /** Every stored object: originals plus derived. */
  storedBytes: number
  originalBytes: number
  derivedBytes: number
}

export interface VerifyResult {
  /** Objects and bytes per key prefix kind (`item`, `profile`, `verification`, `temp`, `other`). */
  bucket: Record<string, { objects: number; bytes: number }>
  /** Per entity type: database stored bytes vs bucket bytes (temp and other have no rows). */
  comparison: Array<{
    entityType: string
    dbObjects: number
    dbBytes: number
    bucketObjects: number
    bucketBytes: number
    diffBytes: number
  }>
  matches: boolean
  interrupted: boolean
}

export interface StatsSummary {
  generatedAt: string
  totals: { files: number; storedBytes: number; originalBytes: number; derivedBytes: number; uploadedBytes: number }
  byEntity: EntityStats[]
  /** Every status, including `failed` and `deleted` (their bytes are not counted as stored). */
  byStatus: Array<{ entityType: string; status: string; files: number; bytes: number }>
  byVariant: ObjectGroup[]
  topUsers: UserUsage[]
  cost: { pricePerGbMonth: number; gb: number; monthly: number; currency: 'USD' }
  cdnHitRatio: number | null
  verify?: VerifyResult
  errors: OpsError[]
  durationMs: number
}

/**
 * Storage statistics from the database (`stored_bytes` and the `objects` JSON of each row): files
 * and bytes per entity type, per status, per variant and format, originals vs derived, the
 * heaviest users, and the monthly cost at `pricePerGbMonth`. With `verify`, the bucket is walked
 * (page by page) and its bytes per prefix compared with the database's; a difference is what
 * `orphans` then explains.
 */
export async function storageStats(ctx: OpsContext, options: StatsOptions = {}): Promise<StatsSummary> {
  const started = performance.now()
  const { signal, onProgress } = options
  onProgress?.({ phase: 'database', done: 0 })
  const [statusRows, groups, originals, users] = await Promise.all([
    files.stats(ctx.db),
    usage.objectGroups(ctx.db),
    usage.originalBytes(ctx.db),
    usage.topUsers(ctx.db, options.byUser ?? 10),
  ])
  const stored = new Set<string>(['uploading', 'processing', 'ready'])
  const byEntity: EntityStats[] = ENTITY_TYPES.map((entityType) => {
    const rows = statusRows.filter((r) => r.entityType === entityType && stored.has(r.status))
    const storedBytes = rows.reduce((n, r) => n + r.storedBytes, 0)
    const originalBytes = originals.get(entityType) ?? 0
    return {
      entityType,
      files: rows.reduce((n, r) => n + r.files, 0),
      uploadedBytes: rows.reduce((n, r) => n + r.bytes, 0),
      storedBytes,
      originalBytes,
      derivedBytes: storedBytes - originalBytes,
    }
  })
  const sum = (k: keyof Omit<EntityStats, 'entityType'>) => byEntity.reduce((n, e) => n + e[k], 0)
  const storedBytes = sum('storedBytes')
  const price = options.pricePerGbMonth ?? ctx.config.files.pricePerGbMonth
  const gb = storedBytes / BYTES_PER_GB
  const summary: StatsSummary = {
    generatedAt: new Date(options.now ?? Date.now()).toISOString(),
    totals: {
      files: sum('files'),
      storedBytes,
      originalBytes: sum('originalBytes'),
      derivedBytes: sum('derivedBytes'),
      uploadedBytes: sum('uploadedBytes'),
    },
    byEntity,
    byStatus: statusRows
      .map((r) => ({ entityType: r.entityType, status: r.status, files: r.files, bytes: r.storedBytes }))
      .sort(
        (a, b) =>
          a.entityType.localeCompare(b.entityType) ||
          FILE_STATUSES.indexOf(a.status as never) - FILE_STATUSES.indexOf(b.status as never),
      ),
    byVariant: groups,
    topUsers: users,
    cost: { pricePerGbMonth: price, gb: round(gb, 6), monthly: round(gb * price, 4), currency: 'USD' },
    cdnHitRatio: options.cdnHitRatio ?? null,
    errors: [],
    durationMs: 0,
  }
  onProgress?.({ phase: 'database', done: 1, total: 1 })

  if (options.verify) {
    const bucket: VerifyResult['bucket'] = {}
    let walked = 0
    let interrupted = false
    try {
      for await (const entry of ctx.store.admin.inventory('', { pageSize: 1000, signal })) {
        const kind = keyKind(entry.key)
        const b = (bucket[kind] ??= { objects: 0, bytes: 0 })
        b.objects++
        b.bytes += entry.size
        if (++walked % 1000 === 0) {
          onProgress?.({ phase: 'bucket', done: walked })
          if (signal?.aborted) {
            interrupted = true
            break
          }
        }
      }
    } catch (error) {
      interrupted = Boolean(signal?.aborted)
      if (!interrupted) summary.errors.push(errorOf('verify', '(bucket)', error))
    }
    onProgress?.({ phase: 'bucket', done: walked })
    const dbObjects = new Map<string, number>()
    for (const g of groups) dbObjects.set(g.entityType, (dbObjects.get(g.entityType) ?? 0) + g.objects)
    const comparison = byEntity.map((e) => {
      const b = bucket[e.entityType] ?? { objects: 0, bytes: 0 }
      return {
        entityType: e.entityType,
        dbObjects: dbObjects.get(e.entityType) ?? 0,
        dbBytes: e.storedBytes,
        bucketObjects: b.objects,
        bucketBytes: b.bytes,
        diffBytes: b.bytes - e.storedBytes,
      }
    })
    summary.verify = {
      bucket,
      comparison,
      matches:
        !interrupted &&
        summary.errors.length === 0 &&
        comparison.every((c) => c.diffBytes === 0 && c.dbObjects === c.bucketObjects),
      interrupted,
    }
  }
  summary.durationMs = Math.round(performance.now() - started)
  return summary
}

function round(value: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(value * f) / f
}
