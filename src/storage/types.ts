import type { Readable } from 'node:stream'
import type { BucketAdmin } from './bucket-admin.js'

export type * from './bucket-admin.js'

/** Every I/O method takes one; aborting rejects with ABORTED and leaves nothing half-written. */
export interface IoOptions {
  signal?: AbortSignal
}

export interface PutOptions extends IoOptions {
  contentType?: string
  cacheControl?: string
  contentDisposition?: string
  /** User metadata (x-amz-meta-*): ASCII keys and values. */
  metadata?: Record<string, string>
  /** Size of a stream body when known; lets small streams skip multipart. */
  contentLength?: number
  /** Refuse to overwrite an existing object (PRECONDITION_FAILED), where the store supports it. */
  ifNoneMatch?: boolean
  onProgress?: (progress: { loaded: number; total?: number }) => void
}

export interface PutResult {
  key: string
  size: number
  etag?: string
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number
  /** Last byte, inclusive; absent means to the end. */
  end?: number
}

export interface GetOptions extends IoOptions {
  range?: ByteRange
}

export interface ObjectHead {
  key: string
  size: number
  contentType: string
  cacheControl?: string
  contentDisposition?: string
  metadata: Record<string, string>
  etag: string
  lastModified: Date
}

export interface GetStreamResult extends ObjectHead {
  /** The bytes (of the range, when one was asked for); `size` is always the whole object's. */
  body: Readable
  /** Present when a range was asked for: what the body holds. */
  range?: { start: number; end: number; total: number }
}

export interface ListOptions extends IoOptions {
  /** Group keys by this delimiter below the prefix, S3 style; groups come back as `prefix` entries. */
  delimiter?: string
  /** Start after this key (exclusive), for resuming a walk. */
  startAfter?: string
  /** Page size asked of the store (S3 caps it at 1,000). */
  pageSize?: number
}

export type ListEntry =
  { type: 'object'; key: string; size: number; etag?: string; lastModified: Date } | { type: 'prefix'; prefix: string }

export interface DeleteManyResult {
  deleted: string[]
  failed: { key: string; code: string; message: string }[]
}

export interface SignedUrlOptions extends IoOptions {
  /** Seconds until the URL stops working. */
  expiresIn: number
  /** Sent back as the response's Content-Disposition (e.g. `attachment; filename="x.pdf"`). */
  responseContentDisposition?: string
  responseContentType?: string
}

export interface PresignedPutOptions extends IoOptions {
  expiresIn: number
  contentType?: string
  cacheControl?: string
}

export interface PresignedPostOptions extends IoOptions {
  expiresIn: number
  /** Allowed body size, inclusive; the store refuses anything outside it. */
  contentLengthRange: { min: number; max: number }
  contentType?: string
  cacheControl?: string
}

export interface PresignedPutResult {
  url: string
  method: 'PUT'
  /** Headers the uploader must send as they are (they are part of the signature). */
  headers: Record<string, string>
  expiresAt: Date
}

export interface PresignedPost {
  /** Where the browser POSTs a multipart/form-data body. */
  url: string
  /** Form fields to send before the `file` field, as they are. */
  fields: Record<string, string>
  expiresAt: Date
}

export interface StoreCapabilities {
  /** `If-None-Match: *` on put is honoured. */
  conditionalPut: boolean
  /** Browsers can upload to it directly (presigned POST/PUT reach the store, not the service). */
  directUpload: boolean
}

/**
 * The object store every layer above talks to. Keys are validated by the key module before they
 * reach a driver (UNSAFE_KEY). Errors are LocalexErrors with the key in `details` and the driver's
 * error as `cause`: OBJECT_NOT_FOUND, PRECONDITION_FAILED, STORE_ACCESS_DENIED, STORE_UNAVAILABLE
 * (after retries), ABORTED, STORE_ERROR.
 */
export interface ObjectStore {
  readonly name: 'disk' | 's3'
  readonly capabilities: StoreCapabilities
  /** The bucket itself (setup, multipart uploads, inventory): what the operator tasks use. */
  readonly admin: BucketAdmin

  /** Writes a whole object; a failed or aborted write leaves no object and no open upload. */
  put(key: string, body: Buffer | Uint8Array | Readable, options?: PutOptions): Promise<PutResult>
  /** Rejects with OBJECT_NOT_FOUND when absent, RANGE_NOT_SATISFIABLE when the range starts past the end. */
  getStream(key: string, options?: GetOptions): Promise<GetStreamResult>
  /** Rejects with OBJECT_NOT_FOUND when absent. */
  getBuffer(key: string, options?: GetOptions): Promise<Buffer>
  /** Rejects with OBJECT_NOT_FOUND when absent. */
  head(key: string, options?: IoOptions): Promise<ObjectHead>
  /** Resolves false when absent; never throws OBJECT_NOT_FOUND. */
  exists(key: string, options?: IoOptions): Promise<boolean>
  /** Idempotent: deleting a missing key succeeds. */
  delete(key: string, options?: IoOptions): Promise<void>
  /** Any number of keys; batched by the driver; per-key failures are reported, not thrown. */
  deleteMany(keys: readonly string[], options?: IoOptions): Promise<DeleteManyResult>
  /** Rejects with OBJECT_NOT_FOUND when the source is absent. Metadata and headers are kept. */
  copy(from: string, to: string, options?: IoOptions): Promise<void>
  /** Copy then delete the source. */
  move(from: string, to: string, options?: IoOptions): Promise<void>
  /** Pages transparently, in key order; stop iterating to stop listing. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry>
  /** A GET URL that works without credentials until it expires. */
  signedUrl(key: string, options: SignedUrlOptions): Promise<string>
  presignedPut(key: string, options: PresignedPutOptions): Promise<PresignedPutResult>
  presignedPost(key: string, options: PresignedPostOptions): Promise<PresignedPost>
  /** Checks that the store answers and the bucket exists (for `check` and `/readyz`). */
  ping(options?: IoOptions): Promise<void>
  close(): Promise<void>
}
