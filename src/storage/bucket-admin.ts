import type { IoOptions, ListEntry } from './types.js'

/**
 * The `BucketAdmin` port: what the operator tasks need of a bucket besides its objects (setting
 * it up, its open multipart uploads, the inventory of what it holds), in the project's words, so
 * that `ops/` never sees a vendor SDK. Every driver implements it: S3 through the SDK under the
 * driver's own retry policy, disk for what a folder has (only the folder itself).
 *
 * Each setting is read and applied as a whole: `apply` leaves the bucket holding exactly the
 * given state (a full PUT, or a removal when the state is "none"), so applying twice changes
 * nothing, and comparing `read` with the wanted state tells what differs.
 */

/** Bucket-level settings, in the order `setup-bucket` applies them. */
export const BUCKET_SETTINGS = ['public_access_block', 'encryption', 'versioning', 'cors', 'lifecycle'] as const
export type BucketSettingName = (typeof BUCKET_SETTINGS)[number]

export interface PublicAccessBlock {
  blockPublicAcls: boolean
  ignorePublicAcls: boolean
  blockPublicPolicy: boolean
  restrictPublicBuckets: boolean
}

export interface BucketCorsRule {
  id: string
  allowedOrigins: string[]
  allowedMethods: string[]
  allowedHeaders: string[]
  exposeHeaders: string[]
  maxAgeSeconds?: number
}

/** One lifecycle rule; each action is optional, and a rule has at least one. */
export interface BucketLifecycleRule {
  id: string
  /** Keys it applies to; '' is the whole bucket. */
  prefix: string
  enabled: boolean
  expirationDays?: number
  abortIncompleteMultipartDays?: number
  noncurrentExpirationDays?: number
  transitions?: Array<{ days: number; storageClass: string }>
}

export interface BucketSettings {
  public_access_block: PublicAccessBlock
  /** `AES256` is SSE-S3, `none` no default encryption; other algorithms (KMS) read as the store names them. */
  encryption: { algorithm: string }
  /** A bucket never versioned is `unversioned`; once versioned, it can only be suspended. */
  versioning: { status: 'enabled' | 'suspended' | 'unversioned' }
  cors: { rules: BucketCorsRule[] }
  lifecycle: { rules: BucketLifecycleRule[] }
}

export type BucketSetting = { [K in BucketSettingName]: { name: K; value: BucketSettings[K] } }[BucketSettingName]

/** One change `apply` makes: create the bucket, or give one setting a wanted state. */
export type BucketChange = { name: 'bucket' } | BucketSetting

/** The request a change is sent as, exactly as the store receives it (what a dry run prints). */
export interface BucketRequest {
  /** The store's name of the operation (S3: `PutBucketCors`, `DeleteBucketCors`, …). */
  operation: string
  input: Record<string, unknown>
}

export type BucketChangeOutcome =
  | { status: 'applied' }
  /** The store said no to this feature or value (radosgw lacks several): its own code and message. */
  | { status: 'refused'; code: string; message: string }

export interface MultipartUpload {
  key: string
  uploadId: string
  /** Absent when the store does not say. */
  initiated?: Date
}

export interface InventoryEntry {
  key: string
  size: number
  lastModified: Date
}

export interface InventoryOptions extends IoOptions {
  /** Page size asked of the store (S3 caps it at 1,000). */
  pageSize?: number
}

/**
 * Errors are LocalexErrors as on `ObjectStore` (STORE_ACCESS_DENIED, STORE_UNAVAILABLE after
 * retries, ABORTED, STORE_ERROR); a store's refusal of a feature is an outcome, not an error.
 */
export interface BucketAdmin {
  readonly driver: 'disk' | 's3'
  /** The bucket name, or the disk store's root folder. */
  readonly location: string
  /** The settings this store has. Reading, describing or applying another is VALIDATION_FAILED. */
  readonly settings: readonly BucketSettingName[]
  /** Whether the bucket (the root folder) exists. */
  exists(options?: IoOptions): Promise<boolean>
  /** The current state; undefined when the store refuses to tell (it lacks the feature). */
  read<K extends BucketSettingName>(name: K, options?: IoOptions): Promise<BucketSettings[K] | undefined>
  /** The request `apply` sends for `change`; sends nothing. */
  describe(change: BucketChange): BucketRequest
  /** Sends the change: resolves `refused` when the store says no to it, rejects on any other failure. */
  apply(change: BucketChange, options?: IoOptions): Promise<BucketChangeOutcome>
  /** Multipart uploads begun and neither completed nor aborted. Disk: none (it removes its own temp files). */
  multipartUploads(options?: IoOptions): AsyncIterable<MultipartUpload>
  abortMultipartUpload(upload: MultipartUpload, options?: IoOptions): Promise<void>
  /** Every object under `prefix`, in key order, read page by page as the caller pulls. */
  inventory(prefix: string, options?: InventoryOptions): AsyncIterable<InventoryEntry>
}

/** The objects of a listing, as inventory entries (both drivers take their inventory from `list`). */
export async function* inventoryOf(entries: AsyncIterable<ListEntry>): AsyncGenerator<InventoryEntry> {
  for await (const entry of entries) {
    if (entry.type === 'object') yield { key: entry.key, size: entry.size, lastModified: entry.lastModified }
  }
}
