import {
  CreateBucketCommand,
  HeadBucketCommand,
  PutBucketCorsCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketVersioningCommand,
  PutPublicAccessBlockCommand,
  type CORSRule,
  type LifecycleRule,
  type S3Client,
} from '@aws-sdk/client-s3'
import { mkdir } from 'node:fs/promises'
import type { Config } from '../config/index.js'
import { s3Of } from './layout.js'
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
export function lifecycleRules(config: Config): LifecycleRule[] {
  const l = config.ops.lifecycle
  const rules: LifecycleRule[] = []
  if (l.tempDays > 0) rules.push({ ID: 'expire-temp', Status: 'Enabled', Filter: { Prefix: 'temp/' }, Expiration: { Days: l.tempDays } })
  if (l.multipartDays > 0) rules.push({ ID: 'abort-incomplete-multipart', Status: 'Enabled', Filter: { Prefix: '' }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: l.multipartDays } })
  if (l.noncurrentDays > 0 && config.ops.bucket.versioning) {
    rules.push({ ID: 'expire-noncurrent', Status: 'Enabled', Filter: { Prefix: '' }, NoncurrentVersionExpiration: { NoncurrentDays: l.noncurrentDays } })
  }
  if (l.transitionDays > 0 || l.archiveDays > 0) {
    for (const prefix of STORED_PREFIXES) {
      const transitions = [
        ...(l.transitionDays > 0 ? [{ Days: l.transitionDays, StorageClass: l.transitionClass }] : []),
        ...(l.archiveDays > 0 ? [{ Days: l.archiveDays, StorageClass: l.archiveClass }] : []),
      ]
      rules.push({ ID: `tier-${prefix.slice(0, -1)}`, Status: 'Enabled', Filter: { Prefix: prefix }, Transitions: transitions })
    }
  }
  return rules
}

export function corsRules(config: Config): CORSRule[] {
  const origins = config.ops.bucket.corsOrigins
  if (origins.length === 0) return []
  // Direct uploads are presigned POSTs (and PUTs); GET/HEAD for signed-URL reads from a page.
  return [{ ID: 'direct-uploads', AllowedOrigins: [...origins], AllowedMethods: ['GET', 'HEAD', 'PUT', 'POST'], AllowedHeaders: ['*'], ExposeHeaders: ['ETag'], MaxAgeSeconds: 3000 }]
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
  const s3 = s3Of(ctx.store)
  if (!s3) {
    const root = ctx.config.storage.disk.root
    if (!dryRun) await mkdir(root, { recursive: true })
    return {
      driver: 'disk',
      bucket: root,
      dryRun,
      steps: [{ feature: 'bucket', status: dryRun ? 'planned' : 'applied', detail: `disk root ${root}; bucket features (encryption, versioning, CORS, lifecycle) are S3's` }],
      refused: [],
      durationMs: Math.round(performance.now() - started),
    }
  }
  const { client, bucket } = s3
  const o = ctx.config.ops.bucket
  const opts = signal ? { abortSignal: signal } : {}
  const steps: SetupStep[] = []
  const summary: SetupBucketSummary = { driver: 's3', bucket, dryRun, steps, refused: [], durationMs: 0 }
  const total = 6
  const step = async (feature: SetupStep['feature'], request: unknown, apply: () => Promise<unknown>, enabled = true, why?: string) => {
    if (!enabled) steps.push({ feature, status: 'skipped', ...(why ? { detail: why } : {}) })
    else if (dryRun) steps.push({ feature, status: 'planned', request })
    else {
      try {
        await apply()
        steps.push({ feature, status: 'applied', request })
      } catch (error) {
        if (signal?.aborted) throw error
        const refusal = refusalOf(error)
        if (!refusal) throw error
        steps.push({ feature, status: 'refused', request, code: refusal.code, detail: refusal.message })
        summary.refused.push(feature)
      }
    }
    onProgress?.({ phase: 'setup', done: steps.length, total, detail: feature })
  }

  // The bucket itself: created only when HeadBucket says it does not exist.
  const exists = await client.send(new HeadBucketCommand({ Bucket: bucket }), opts).then(() => true, (error: unknown) => {
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number } }
    if (e.name === 'NotFound' || e.name === 'NoSuchBucket' || e.$metadata?.httpStatusCode === 404) return false
    throw error
  })
  const region = ctx.config.storage.s3.region
  const create = { Bucket: bucket, ...(region !== 'us-east-1' && !ctx.config.storage.s3.endpoint ? { CreateBucketConfiguration: { LocationConstraint: region } } : {}) }
  await step('bucket', create, () => client.send(new CreateBucketCommand(create as ConstructorParameters<typeof CreateBucketCommand>[0]), opts), !exists, 'exists')

  const block = { Bucket: bucket, PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true } }
  await step('public_access_block', block, () => client.send(new PutPublicAccessBlockCommand(block), opts), o.blockPublicAccess, 'BUCKET_BLOCK_PUBLIC_ACCESS=false')

  const encryption = { Bucket: bucket, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' as const } }] } }
  await step('encryption', encryption, () => client.send(new PutBucketEncryptionCommand(encryption), opts), o.encryption !== 'none', 'BUCKET_ENCRYPTION=none')

  // Versioning is only ever turned on here, or suspended when configured off on a bucket that has it.
  const versioning = { Bucket: bucket, VersioningConfiguration: { Status: o.versioning ? ('Enabled' as const) : ('Suspended' as const) } }
  await step('versioning', versioning, () => client.send(new PutBucketVersioningCommand(versioning), opts), o.versioning || exists, 'BUCKET_VERSIONING=false on a new bucket')

  const cors = { Bucket: bucket, CORSConfiguration: { CORSRules: corsRules(ctx.config) } }
  await step('cors', cors, () => client.send(new PutBucketCorsCommand(cors), opts), cors.CORSConfiguration.CORSRules.length > 0, 'BUCKET_CORS_ORIGINS is empty')

  const rules = lifecycleRules(ctx.config)
  const lifecycle = { Bucket: bucket, LifecycleConfiguration: { Rules: rules } }
  if (rules.length === 0 || dryRun) {
    await step('lifecycle', lifecycle, () => Promise.resolve(), rules.length > 0, 'every LIFECYCLE_*_DAYS is 0')
  } else {
    const result = await applyLifecycle(client, bucket, rules, signal)
    summary.lifecycle = { accepted: result.accepted.map((r) => r.ID as string), refused: result.refused }
    const request = { Bucket: bucket, LifecycleConfiguration: { Rules: result.accepted } }
    if (result.refused.length === 0) steps.push({ feature: 'lifecycle', status: 'applied', request })
    else {
      steps.push({
        feature: 'lifecycle',
        status: result.accepted.length ? 'applied' : 'refused',
        request,
        code: result.refused[0]?.code as string,
        detail: `refused by the store: ${result.refused.map((r) => `${r.id} (${r.code})`).join(', ')}${result.accepted.length ? `; applied: ${result.accepted.map((r) => r.ID).join(', ')}` : ''}`,
      })
      summary.refused.push(...result.refused.map((r) => `lifecycle:${r.id}`))
    }
    onProgress?.({ phase: 'setup', done: steps.length, total, detail: 'lifecycle' })
  }
  summary.durationMs = Math.round(performance.now() - started)
  return summary
}

/**
 * PUTs every rule at once; if the store refuses the set, finds which rules it refuses by adding
 * them one at a time to the accepted ones, and leaves the bucket with the accepted set.
 */
async function applyLifecycle(
  client: S3Client,
  bucket: string,
  rules: LifecycleRule[],
  signal?: AbortSignal,
): Promise<{ accepted: LifecycleRule[]; refused: Array<{ id: string; code: string; message: string }> }> {
  const put = (set: LifecycleRule[]) => client.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: set } }), signal ? { abortSignal: signal } : {})
  try {
    await put(rules)
    return { accepted: rules, refused: [] }
  } catch (error) {
    if (signal?.aborted || !refusalOf(error)) throw error
  }
  const accepted: LifecycleRule[] = []
  const refused: Array<{ id: string; code: string; message: string }> = []
  for (const rule of rules) {
    try {
      await put([...accepted, rule])
      accepted.push(rule)
    } catch (error) {
      if (signal?.aborted) throw error
      const refusal = refusalOf(error)
      if (!refusal) throw error
      refused.push({ id: rule.ID as string, ...refusal })
    }
  }
  // The last PUT may have been a refused one; the bucket keeps the previous accepted set, which
  // is `accepted` already (each successful PUT was exactly it).
  return { accepted, refused }
}

/**
 * A store's "no" to a feature: 4xx answers such as NotImplemented, InvalidArgument,
 * InvalidStorageClass, MalformedXML, InvalidRequest. Auth failures and 5xx are not refusals
 * and stop the command.
 */
function refusalOf(error: unknown): { code: string; message: string } | null {
  const e = error as { name?: string; Code?: string; message?: string; $metadata?: { httpStatusCode?: number } }
  const status = e.$metadata?.httpStatusCode ?? 0
  const code = e.Code ?? e.name ?? 'Error'
  if (code === 'AccessDenied' || code === 'InvalidAccessKeyId' || code === 'SignatureDoesNotMatch' || code === 'NoSuchBucket') return null
  if ((status >= 400 && status < 500) || status === 501 || code === 'NotImplemented') {
    return { code, message: (e.message && e.message !== 'UnknownError' ? e.message : `HTTP ${status}`).slice(0, 300) }
  }
  return null
}
