import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCorsCommand,
  DeleteBucketEncryptionCommand,
  DeleteBucketLifecycleCommand,
  GetBucketCorsCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketVersioningCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  PutBucketCorsCommand,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketVersioningCommand,
  PutPublicAccessBlockCommand,
  type CORSRule,
  type CreateBucketCommandInput,
  type LifecycleRule,
  type BucketLocationConstraint,
  type S3Client,
  type ServerSideEncryption,
  type Transition,
  type TransitionStorageClass,
} from '@aws-sdk/client-s3'
import type { RetryConfig, S3Config } from '../../../config/index.js'
import { LocalexError } from '../../../errors/index.js'
import {
  BUCKET_SETTINGS,
  inventoryOf,
  type BucketAdmin,
  type BucketChange,
  type BucketChangeOutcome,
  type BucketCorsRule,
  type BucketLifecycleRule,
  type BucketRequest,
  type BucketSettingName,
  type BucketSettings,
  type InventoryEntry,
  type InventoryOptions,
  type MultipartUpload,
} from '../../bucket-admin.js'
import { isTransientError, withRetry } from '../../retry.js'
import type { IoOptions, ListEntry, ListOptions } from '../../types.js'
import { mapS3Error } from './errors.js'

export interface S3BucketAdminOptions {
  client: S3Client
  s3: S3Config
  retry: RetryConfig
  /** The driver's listing, which the inventory reads. */
  list: (prefix: string, options: ListOptions) => AsyncIterable<ListEntry>
}

/** A change as the request it is sent as, and the call that sends it. */
interface Planned {
  request: BucketRequest
  send: (abortSignal: AbortSignal | undefined) => Promise<unknown>
}

/** What S3 answers when a setting was never set: the setting's "none", not an error. */
const UNSET: Partial<Record<BucketSettingName, string>> = {
  public_access_block: 'NoSuchPublicAccessBlockConfiguration',
  encryption: 'ServerSideEncryptionConfigurationNotFoundError',
  cors: 'NoSuchCORSConfiguration',
  lifecycle: 'NoSuchLifecycleConfiguration',
}

/**
 * The S3 side of `BucketAdmin`. Requests go through the driver's client and retry policy; a
 * store's refusal of a feature (radosgw's 501 NotImplemented, 400 InvalidArgument for SSE-S3) is
 * never retried, since asking again cannot change the answer.
 */
export class S3BucketAdmin implements BucketAdmin {
  readonly driver = 's3' as const
  readonly location: string
  readonly settings = BUCKET_SETTINGS

  readonly #client: S3Client
  readonly #s3: S3Config
  readonly #retry: RetryConfig
  readonly #list: S3BucketAdminOptions['list']

  constructor(options: S3BucketAdminOptions) {
    this.#client = options.client
    this.#s3 = options.s3
    this.#retry = options.retry
    this.#list = options.list
    this.location = options.s3.bucket
  }

  async exists(options: IoOptions = {}): Promise<boolean> {
    try {
      await this.#send(options.signal, (abortSignal) =>
        this.#client.send(new HeadBucketCommand({ Bucket: this.location }), { abortSignal }),
      )
      return true
    } catch (error) {
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } }
      if (e.name === 'NotFound' || e.name === 'NoSuchBucket' || e.$metadata?.httpStatusCode === 404) return false
      throw mapS3Error(error, { op: 'headBucket', signal: options.signal })
    }
  }

  async read<K extends BucketSettingName>(name: K, options: IoOptions = {}): Promise<BucketSettings[K] | undefined> {
    const op = `read ${name}`
    try {
      return (await this.#send(options.signal, (abortSignal) => this.#read(name, abortSignal))) as BucketSettings[K]
    } catch (error) {
      if (UNSET[name] !== undefined && codeOf(error) === UNSET[name]) return NONE[name] as BucketSettings[K]
      if (refusalOf(error)) return undefined
      throw mapS3Error(error, { op, signal: options.signal })
    }
  }

  describe(change: BucketChange): BucketRequest {
    return this.#plan(change).request
  }

  async apply(change: BucketChange, options: IoOptions = {}): Promise<BucketChangeOutcome> {
    const { request, send } = this.#plan(change)
    try {
      await this.#send(options.signal, send)
      return { status: 'applied' }
    } catch (error) {
      const refusal = options.signal?.aborted ? null : refusalOf(error)
      if (refusal) return { status: 'refused', ...refusal }
      throw mapS3Error(error, { op: request.operation, signal: options.signal })
    }
  }

  async *multipartUploads(options: IoOptions = {}): AsyncGenerator<MultipartUpload> {
    let keyMarker: string | undefined
    let uploadIdMarker: string | undefined
    for (;;) {
      const input = { Bucket: this.location, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }
      let page
      try {
        page = await this.#send(options.signal, (abortSignal) =>
          this.#client.send(new ListMultipartUploadsCommand(input), { abortSignal }),
        )
      } catch (error) {
        throw mapS3Error(error, { op: 'listMultipartUploads', signal: options.signal })
      }
      for (const upload of page.Uploads ?? []) {
        if (!upload.Key || !upload.UploadId) continue
        yield { key: upload.Key, uploadId: upload.UploadId, initiated: upload.Initiated }
      }
      if (!page.IsTruncated) return
      keyMarker = page.NextKeyMarker
      uploadIdMarker = page.NextUploadIdMarker
    }
  }

  async abortMultipartUpload(upload: MultipartUpload, options: IoOptions = {}): Promise<void> {
    const input = { Bucket: this.location, Key: upload.key, UploadId: upload.uploadId }
    try {
      await this.#send(options.signal, (abortSignal) =>
        this.#client.send(new AbortMultipartUploadCommand(input), { abortSignal }),
      )
    } catch (error) {
      throw mapS3Error(error, { op: 'abortMultipartUpload', key: upload.key, signal: options.signal })
    }
  }

  inventory(prefix: string, options: InventoryOptions = {}): AsyncIterable<InventoryEntry> {
    return inventoryOf(this.#list(prefix, options))
  }

  /** One request under the driver's retry policy; the raw SDK error is left for the caller to judge. */
  #send<T>(signal: AbortSignal | undefined, call: (abortSignal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    return withRetry(() => call(signal), {
      ...this.#retry,
      signal,
      isRetryable: (error) => isTransientError(error) && !refusalOf(error),
    })
  }

  async #read(name: BucketSettingName, abortSignal: AbortSignal | undefined): Promise<unknown> {
    const Bucket = this.location
    const client = this.#client
    switch (name) {
      case 'public_access_block': {
        const out = await client.send(new GetPublicAccessBlockCommand({ Bucket }), { abortSignal })
        const c = out.PublicAccessBlockConfiguration ?? {}
        return {
          blockPublicAcls: c.BlockPublicAcls ?? false,
          ignorePublicAcls: c.IgnorePublicAcls ?? false,
          blockPublicPolicy: c.BlockPublicPolicy ?? false,
          restrictPublicBuckets: c.RestrictPublicBuckets ?? false,
        }
      }
      case 'encryption': {
        const out = await client.send(new GetBucketEncryptionCommand({ Bucket }), { abortSignal })
        const rule = out.ServerSideEncryptionConfiguration?.Rules?.[0]
        return { algorithm: rule?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm ?? 'none' }
      }
      case 'versioning': {
        const out = await client.send(new GetBucketVersioningCommand({ Bucket }), { abortSignal })
        const status = out.Status === 'Enabled' ? 'enabled' : out.Status === 'Suspended' ? 'suspended' : 'unversioned'
        return { status }
      }
      case 'cors': {
        const out = await client.send(new GetBucketCorsCommand({ Bucket }), { abortSignal })
        return { rules: (out.CORSRules ?? []).map(fromCorsRule) }
      }
      case 'lifecycle': {
        const out = await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket }), { abortSignal })
        return { rules: (out.Rules ?? []).map(fromLifecycleRule) }
      }
    }
  }

  #plan(change: BucketChange): Planned {
    const Bucket = this.location
    // The request as described is exactly the command's input: what a dry run prints is what is sent.
    const plan = (operation: string, command: { input: object }): Planned => ({
      request: { operation, input: { ...command.input } },
      // Every command here is one of the S3 client's; its generic types do not unify across commands.
      send: (abortSignal) => this.#client.send(command as never, { abortSignal }),
    })
    switch (change.name) {
      case 'bucket': {
        // Outside us-east-1 AWS wants the region named; S3-compatible stores (an endpoint) do not.
        const { region, endpoint } = this.#s3
        const input: CreateBucketCommandInput =
          region !== 'us-east-1' && !endpoint
            ? { Bucket, CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }
            : { Bucket }
        return plan('CreateBucket', new CreateBucketCommand(input))
      }
      case 'public_access_block': {
        const v = change.value
        return plan(
          'PutPublicAccessBlock',
          new PutPublicAccessBlockCommand({
            Bucket,
            PublicAccessBlockConfiguration: {
              BlockPublicAcls: v.blockPublicAcls,
              IgnorePublicAcls: v.ignorePublicAcls,
              BlockPublicPolicy: v.blockPublicPolicy,
              RestrictPublicBuckets: v.restrictPublicBuckets,
            },
          }),
        )
      }
      case 'encryption': {
        const { algorithm } = change.value
        if (algorithm === 'none') return plan('DeleteBucketEncryption', new DeleteBucketEncryptionCommand({ Bucket }))
        const SSEAlgorithm = algorithm as ServerSideEncryption
        const configuration = { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm } }] }
        const command = new PutBucketEncryptionCommand({ Bucket, ServerSideEncryptionConfiguration: configuration })
        return plan('PutBucketEncryption', command)
      }
      case 'versioning': {
        const { status } = change.value
        if (status === 'unversioned') {
          const message = 'A versioned bucket cannot become unversioned again; suspend versioning instead'
          throw new LocalexError('VALIDATION_FAILED', message, { details: { field: 'versioning' } })
        }
        const Status = status === 'enabled' ? ('Enabled' as const) : ('Suspended' as const)
        const command = new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status } })
        return plan('PutBucketVersioning', command)
      }
      case 'cors': {
        // S3 refuses an empty rule set: "no CORS" is a deletion; so is "no lifecycle".
        const { rules } = change.value
        if (rules.length === 0) return plan('DeleteBucketCors', new DeleteBucketCorsCommand({ Bucket }))
        const command = new PutBucketCorsCommand({ Bucket, CORSConfiguration: { CORSRules: rules.map(toCorsRule) } })
        return plan('PutBucketCors', command)
      }
      case 'lifecycle': {
        const { rules } = change.value
        if (rules.length === 0) return plan('DeleteBucketLifecycle', new DeleteBucketLifecycleCommand({ Bucket }))
        const configuration = { Rules: rules.map(toLifecycleRule) }
        const command = new PutBucketLifecycleConfigurationCommand({ Bucket, LifecycleConfiguration: configuration })
        return plan('PutBucketLifecycleConfiguration', command)
      }
    }
  }
}

/** The "none" state of each setting, for when S3 says it was never set. */
const NONE: { [K in BucketSettingName]: BucketSettings[K] } = {
  public_access_block: {
    blockPublicAcls: false,
    ignorePublicAcls: false,
    blockPublicPolicy: false,
    restrictPublicBuckets: false,
  },
  encryption: { algorithm: 'none' },
  versioning: { status: 'unversioned' },
  cors: { rules: [] },
  lifecycle: { rules: [] },
}

function toCorsRule(rule: BucketCorsRule): CORSRule {
  return {
    ID: rule.id,
    AllowedOrigins: [...rule.allowedOrigins],
    AllowedMethods: [...rule.allowedMethods],
    AllowedHeaders: [...rule.allowedHeaders],
    ExposeHeaders: [...rule.exposeHeaders],
    ...(rule.maxAgeSeconds === undefined ? {} : { MaxAgeSeconds: rule.maxAgeSeconds }),
  }
}

function fromCorsRule(rule: CORSRule): BucketCorsRule {
  return {
    id: rule.ID ?? '',
    allowedOrigins: rule.AllowedOrigins ?? [],
    allowedMethods: rule.AllowedMethods ?? [],
    allowedHeaders: rule.AllowedHeaders ?? [],
    exposeHeaders: rule.ExposeHeaders ?? [],
    ...(rule.MaxAgeSeconds === undefined ? {} : { maxAgeSeconds: rule.MaxAgeSeconds }),
  }
}

function toLifecycleRule(rule: BucketLifecycleRule): LifecycleRule {
  return {
    ID: rule.id,
    Status: rule.enabled ? 'Enabled' : 'Disabled',
    Filter: { Prefix: rule.prefix },
    ...(rule.expirationDays === undefined ? {} : { Expiration: { Days: rule.expirationDays } }),
    ...(rule.abortIncompleteMultipartDays === undefined
      ? {}
      : { AbortIncompleteMultipartUpload: { DaysAfterInitiation: rule.abortIncompleteMultipartDays } }),
    ...(rule.noncurrentExpirationDays === undefined
      ? {}
      : { NoncurrentVersionExpiration: { NoncurrentDays: rule.noncurrentExpirationDays } }),
    ...(rule.transitions === undefined ? {} : { Transitions: rule.transitions.map(toTransition) }),
  }
}

function toTransition(t: { days: number; storageClass: string }): Transition {
  return { Days: t.days, StorageClass: t.storageClass as TransitionStorageClass }
}

function fromLifecycleRule(rule: LifecycleRule): BucketLifecycleRule {
  // Older stores (radosgw among them) may answer with the rule's prefix outside a filter.
  const legacy = (rule as { Prefix?: string }).Prefix
  return {
    id: rule.ID ?? '',
    prefix: rule.Filter?.Prefix ?? legacy ?? '',
    enabled: rule.Status === 'Enabled',
    ...(rule.Expiration?.Days === undefined ? {} : { expirationDays: rule.Expiration.Days }),
    ...(rule.AbortIncompleteMultipartUpload?.DaysAfterInitiation === undefined
      ? {}
      : { abortIncompleteMultipartDays: rule.AbortIncompleteMultipartUpload.DaysAfterInitiation }),
    ...(rule.NoncurrentVersionExpiration?.NoncurrentDays === undefined
      ? {}
      : { noncurrentExpirationDays: rule.NoncurrentVersionExpiration.NoncurrentDays }),
    ...(rule.Transitions === undefined
      ? {}
      : { transitions: rule.Transitions.map((t) => ({ days: t.Days ?? 0, storageClass: t.StorageClass ?? '' })) }),
  }
}

function codeOf(error: unknown): string | undefined {
  const e = error as { name?: string; Code?: string } | undefined
  return e?.Code ?? e?.name
}

/**
 * A store's "no" to a feature: 4xx answers such as NotImplemented, InvalidArgument,
 * InvalidStorageClass, MalformedXML, InvalidRequest, and 501. Auth failures, a missing bucket,
 * throttling (retried) and other 5xx are not refusals: they stop the caller.
 */
const NOT_REFUSALS = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'NoSuchBucket',
  'SlowDown',
])

function refusalOf(error: unknown): { code: string; message: string } | null {
  const e = error as { name?: string; Code?: string; message?: string; $metadata?: { httpStatusCode?: number } }
  const status = e.$metadata?.httpStatusCode ?? 0
  const code = e.Code ?? e.name ?? 'Error'
  if (NOT_REFUSALS.has(code) || status === 429) return null
  if ((status >= 400 && status < 500) || status === 501 || code === 'NotImplemented') {
    return { code, message: (e.message && e.message !== 'UnknownError' ? e.message : `HTTP ${status}`).slice(0, 300) }
  }
  return null
}
