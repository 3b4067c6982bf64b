import type { Config } from '../config/index.js'
import type {
  BucketAdmin,
  BucketChange,
  BucketCorsRule,
  BucketLifecycleRule,
  BucketSetting,
  BucketSettingName,
} from '../storage/index.js'
import type { OpsContext, OpsRunOptions } from './types.js'

export interface SetupBucketOptions extends OpsRunOptions {
  /** Print the configuration it would apply; send nothing that changes the bucket. */
  dryRun?: boolean
}

/** One feature of the bucket and what became of it. */
export interface SetupStep {
  feature: 'bucket' | 'public_access_block' | 'encryption' | 'versioning' | 'cors' | 'lifecycle'
  /**
   * `applied`; `planned` (dry run); `skipped` (turned off in the config, or nothing to do);
   * `refused`: the store does not support it (radosgw lacks several), reported and passed over.
   */
  status: 'applied' | 'planned' | 'skipped' | 'refused'
  /** The exact request input (bucket name included) that was or would be sent. */
  request?: unknown
  detail?: string
  /** The store's error code when refused. */
  code?: string
}

export interface SetupBucketSummary {
  driver: 'disk' | 's3'
  bucket: string
  dryRun: boolean
  steps: SetupStep[]
  /** Lifecycle rules the store accepted and those it refused (each tried on its own). */
  lifecycle?: { accepted: string[]; refused: Array<{ id: string; code: string; message: string }> }
  refused: string[]
  durationMs: number
}

/** The layout prefixes that hold stored files (what the storage-class transitions apply to). */
export const STORED_PREFIXES = ['items/', 'profiles/', 'verification/'] as const

/** The lifecycle rules of the config, one per concern so a store can refuse one and keep the rest. */
export function lifecycleRules(config: Config): BucketLifecycleRule[] {
  const l = config.ops.lifecycle
  const rules: BucketLifecycleRule[] = []
  if (l.tempDays > 0) rules.push({ id: 'expire-temp', prefix: 'temp/', enabled: true, expirationDays: l.tempDays })
  if (l.multipartDays > 0) {
    const days = l.multipartDays
    rules.push({ id: 'abort-incomplete-multipart', prefix: '', enabled: true, abortIncompleteMultipartDays: days })
  }
  if (l.noncurrentDays > 0 && config.ops.bucket.versioning) {
    rules.push({ id: 'expire-noncurrent', prefix: '', enabled: true, noncurrentExpirationDays: l.noncurrentDays })
  }
  if (l.transitionDays > 0 || l.archiveDays > 0) {
    const transitions = [
      ...(l.transitionDays > 0 ? [{ days: l.transitionDays, storageClass: l.transitionClass }] : []),
      ...(l.archiveDays > 0 ? [{ days: l.archiveDays, storageClass: l.archiveClass }] : []),
    ]
    for (const prefix of STORED_PREFIXES) {
      rules.push({ id: `tier-${prefix.slice(0, -1)}`, prefix, enabled: true, transitions: [...transitions] })
    }
  }
  return rules
}

export function corsRules(config: Config): BucketCorsRule[] {
  const origins = config.ops.bucket.corsOrigins
  if (origins.length === 0) return []
  // Direct uploads are presigned POSTs (and PUTs); GET/HEAD for signed-URL reads from a page.
  return [
    {
      id: 'direct-uploads',
      allowedOrigins: [...origins],
      allowedMethods: ['GET', 'HEAD', 'PUT', 'POST'],
      allowedHeaders: ['*'],
      exposeHeaders: ['ETag'],
      maxAgeSeconds: 3000,
    },
  ]
}

interface WantedSetting {
  feature: BucketSettingName
  /** The state to apply, or null to leave the setting alone … */
  change: BucketSetting | null
  /** … for this reason. */
  skipped: string
}

/** Each setting `setup-bucket` manages besides the lifecycle: the state to apply, or why it is left alone. */
function wantedSettings(config: Config, existed: boolean): WantedSetting[] {
  const o = config.ops.bucket
  const all = { blockPublicAcls: true, ignorePublicAcls: true, blockPublicPolicy: true, restrictPublicBuckets: true }
  const cors = corsRules(config)
  return [
    {
      feature: 'public_access_block',
      change: o.blockPublicAccess ? { name: 'public_access_block', value: all } : null,
      skipped: 'BUCKET_BLOCK_PUBLIC_ACCESS=false',
    },
    {
      feature: 'encryption',
      change: o.encryption !== 'none' ? { name: 'encryption', value: { algorithm: o.encryption } } : null,
      skipped: 'BUCKET_ENCRYPTION=none',
    },
    // Versioning is only ever turned on here, or suspended when configured off on a bucket that has it.
    {
      feature: 'versioning',
      change:
        o.versioning || existed
          ? { name: 'versioning', value: { status: o.versioning ? 'enabled' : 'suspended' } }
          : null,
      skipped: 'BUCKET_VERSIONING=false on a new bucket',
    },
    {
      feature: 'cors',
      change: cors.length > 0 ? { name: 'cors', value: { rules: cors } } : null,
      skipped: 'BUCKET_CORS_ORIGINS is empty',
    },
  ]
}

/**
 * Prepares the bucket: creates it if missing, blocks public access, sets SSE-S3 default
 * encryption, versioning, CORS for direct browser uploads and the lifecycle rules, each from the
 * config. Idempotent (every call is a full PUT of the wanted state). A feature the store refuses
 * (NotImplemented, an unknown storage class, …) is reported as `refused` and the next is applied;
 * lifecycle rules are tried one by one so that one refused transition does not cost the others.
 * On the disk driver it only creates the root folder.
 */
export async function setupBucket(ctx: OpsContext, options: SetupBucketOptions = {}): Promise<SetupBucketSummary> {
  const started = performance.now()
  const dryRun = options.dryRun ?? false
  const { signal, onProgress } = options
  const admin = ctx.store.admin
  const elapsed = () => Math.round(performance.now() - started)
  if (admin.settings.length === 0) {
    // A folder has no bucket settings: its root is all there is to make.
    if (!dryRun) await admin.apply({ name: 'bucket' }, { signal })
    const detail = `disk root ${admin.location}; bucket features (encryption, versioning, CORS, lifecycle) are S3's`
    const steps: SetupStep[] = [{ feature: 'bucket', status: dryRun ? 'planned' : 'applied', detail }]
    return { driver: admin.driver, bucket: admin.location, dryRun, steps, refused: [], durationMs: elapsed() }
  }
  const steps: SetupStep[] = []
  const summary: SetupBucketSummary = {
    driver: admin.driver,
    bucket: admin.location,
    dryRun,
    steps,
    refused: [],
    durationMs: 0,
  }
  const total = 6
  const step = async (feature: SetupStep['feature'], change: BucketChange | null, why?: string) => {
    if (!change) steps.push({ feature, status: 'skipped', detail: why })
    else if (dryRun) steps.push({ feature, status: 'planned', request: admin.describe(change).input })
    else {
      const request = admin.describe(change).input
      const outcome = await admin.apply(change, { signal })
      if (outcome.status === 'applied') steps.push({ feature, status: 'applied', request })
      else {
        steps.push({ feature, status: 'refused', request, code: outcome.code, detail: outcome.message })
        summary.refused.push(feature)
      }
    }
    onProgress?.({ phase: 'setup', done: steps.length, total, detail: feature })
  }

  // The bucket itself: created only when it does not exist.
  const exists = await admin.exists({ signal })
  await step('bucket', exists ? null : { name: 'bucket' }, 'exists')
  for (const { feature, change, skipped } of wantedSettings(ctx.config, exists)) await step(feature, change, skipped)

  const rules = lifecycleRules(ctx.config)
  const lifecycle: BucketChange = { name: 'lifecycle', value: { rules } }
  if (rules.length === 0 || dryRun) {
    await step('lifecycle', rules.length > 0 ? lifecycle : null, 'every LIFECYCLE_*_DAYS is 0')
  } else {
    const result = await applyLifecycle(admin, rules, signal)
    summary.lifecycle = { accepted: result.accepted.map((r) => r.id), refused: result.refused }
    const request = admin.describe({ name: 'lifecycle', value: { rules: result.accepted } }).input
    if (result.refused.length === 0) steps.push({ feature: 'lifecycle', status: 'applied', request })
    else {
      const refusedList = result.refused.map((r) => `${r.id} (${r.code})`).join(', ')
      const appliedList = result.accepted.length ? `; applied: ${result.accepted.map((r) => r.id).join(', ')}` : ''
      steps.push({
        feature: 'lifecycle',
        status: result.accepted.length ? 'applied' : 'refused',
        request,
        code: result.refused[0]?.code as string,
        detail: `refused by the store: ${refusedList}${appliedList}`,
      })
      summary.refused.push(...result.refused.map((r) => `lifecycle:${r.id}`))
    }
    onProgress?.({ phase: 'setup', done: steps.length, total, detail: 'lifecycle' })
  }
  summary.durationMs = elapsed()
  return summary
}

/**
 * Applies every rule at once; if the store refuses the set, finds which rules it refuses by adding
 * them one at a time to the accepted ones, and leaves the bucket with the accepted set.
 */
async function applyLifecycle(
  admin: BucketAdmin,
  rules: BucketLifecycleRule[],
  signal?: AbortSignal,
): Promise<{ accepted: BucketLifecycleRule[]; refused: Array<{ id: string; code: string; message: string }> }> {
  const put = (set: BucketLifecycleRule[]) => admin.apply({ name: 'lifecycle', value: { rules: set } }, { signal })
  if ((await put(rules)).status === 'applied') return { accepted: rules, refused: [] }
  const accepted: BucketLifecycleRule[] = []
  const refused: Array<{ id: string; code: string; message: string }> = []
  for (const rule of rules) {
    const outcome = await put([...accepted, rule])
    if (outcome.status === 'applied') accepted.push(rule)
    else refused.push({ id: rule.id, code: outcome.code, message: outcome.message })
  }
  // The last request may have been a refused one; the bucket keeps the previous accepted set, which
  // is `accepted` already (each successful request was exactly it).
  return { accepted, refused }
}
