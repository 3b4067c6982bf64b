import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandOutput,
  type HeadObjectCommandOutput,
  type PutObjectCommandInput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { createPresignedPost } from '@aws-sdk/s3-presigned-post'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { LocalexError, isLocalexError } from '../../../errors/index.js'
import type { RetryConfig, S3Config } from '../../../config/index.js'
import { encodeKeyPath, mapLimit, throwIfAborted } from '../../../lib/index.js'
import type { BucketAdmin } from '../../bucket-admin.js'
import { assertSafeKey, assertSafePrefix } from '../../keys.js'
import { presignSeconds, validateLengthRange, validateRange } from '../../options.js'
import { isTransientError, withRetry } from '../../retry.js'
import { ByteCounter, compareKeys, linkedAbort } from '../../streams.js'
import type {
  DeleteManyResult,
  GetOptions,
  GetStreamResult,
  IoOptions,
  ListEntry,
  ListOptions,
  ObjectHead,
  ObjectStore,
  PresignedPost,
  PresignedPostOptions,
  PresignedPutOptions,
  PresignedPutResult,
  PutOptions,
  PutResult,
  SignedUrlOptions,
  StoreCapabilities,
} from '../../types.js'
import { S3BucketAdmin } from './admin.js'
import { mapS3Error, s3ErrorCode } from './errors.js'
import type { S3DriverOptions } from './types.js'

export type { S3DriverOptions } from './types.js'

/** DeleteObjects takes at most 1,000 keys. */
const DELETE_BATCH = 1000
/** DeleteObjects requests in flight for one deleteMany. */
const DELETE_CONCURRENCY = 4

/**
 * The `s3` driver: AWS S3 and compatible stores (R2, MinIO, Ceph RGW, LocalStack) through the
 * AWS SDK v3.
 *
 * Requests go through `withRetry` (our backoff, the SDK's own retries off) except the parts of
 * multipart uploads: lib-storage sends those itself, through a second client that shares the
 * connection pool and keeps the SDK's retries, since each part is a replayable buffer.
 */
export class S3ObjectStore implements ObjectStore {
  readonly name = 's3' as const
  readonly capabilities: StoreCapabilities
  readonly bucket: string
  readonly admin: BucketAdmin

  readonly #config: S3Config
  readonly #retry: RetryConfig
  readonly #client: S3Client
  readonly #uploadClient: S3Client
  readonly #owned: { clients: S3Client[]; agents: (HttpAgent | HttpsAgent)[] }

  constructor(options: S3DriverOptions) {
    this.#config = options.s3
    this.#retry = options.retry
    this.bucket = options.s3.bucket
    this.capabilities = { conditionalPut: options.s3.conditionalWrites, directUpload: true }
    if (options.client) {
      this.#client = options.client
      this.#uploadClient = options.client
      this.#owned = { clients: [], agents: [] }
    } else {
      const maxSockets = options.maxSockets ?? 128
      const httpAgent = new HttpAgent({ keepAlive: true, maxSockets })
      const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets })
      const base: S3ClientConfig = {
        region: options.s3.region,
        endpoint: options.s3.endpoint,
        forcePathStyle: options.s3.forcePathStyle,
        ...(options.s3.credentials ? { credentials: { ...options.s3.credentials } } : {}),
        requestChecksumCalculation: options.s3.requestChecksumCalculation,
        responseChecksumValidation: options.s3.responseChecksumValidation,
        requestHandler: {
          connectionTimeout: options.timeoutMs,
          socketTimeout: options.timeoutMs,
          httpAgent,
          httpsAgent,
        },
      }
      this.#client = new S3Client({ ...base, maxAttempts: 1 })
      this.#uploadClient = new S3Client({ ...base, maxAttempts: options.retry.maxAttempts })
      this.#owned = { clients: [this.#client, this.#uploadClient], agents: [httpAgent, httpsAgent] }
    }
    this.admin = new S3BucketAdmin({
      client: this.#client,
      s3: options.s3,
      retry: options.retry,
      list: (prefix, listOptions) => this.list(prefix, listOptions),
    })
  }

  async put(key: string, body: Buffer | Uint8Array | Readable, options: PutOptions = {}): Promise<PutResult> {
    assertSafeKey(key)
    const { signal } = options
    throwIfAborted(signal)
    try {
      const multipart =
        body instanceof Readable
          ? options.contentLength === undefined || options.contentLength > this.#config.multipartThreshold
          : body.byteLength > this.#config.multipartThreshold
      // Without conditional writes, or for multipart uploads (AWS honours If-None-Match on
      // CompleteMultipartUpload, radosgw 16 ignores it), check first. That check is not atomic:
      // it only narrows the window, but it never lets a whole upload overwrite an existing key.
      if (
        options.ifNoneMatch &&
        (!this.#config.conditionalWrites || multipart) &&
        (await this.exists(key, { signal }))
      ) {
        throw new LocalexError('PRECONDITION_FAILED', `Object "${key}" already exists`, { details: { key } })
      }
      const params = this.#putParams(key, options)
      if (!(body instanceof Readable)) {
        const buffer = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength)
        if (buffer.byteLength <= this.#config.multipartThreshold) {
          const out = await this.#request('put', key, signal, (abortSignal) =>
            this.#client.send(new PutObjectCommand({ ...params, Body: buffer, ContentLength: buffer.byteLength }), {
              abortSignal,
            }),
          )
          options.onProgress?.({ loaded: buffer.byteLength, total: buffer.byteLength })
          return { key, size: buffer.byteLength, etag: out.ETag ?? (await this.#etagOf(key, signal)) }
        }
        return await this.#multipart(key, params, buffer, options)
      }
      if (options.contentLength !== undefined && options.contentLength <= this.#config.multipartThreshold) {
        return await this.#putSmallStream(key, params, body, options.contentLength, options)
      }
      return await this.#multipart(key, params, body, options)
    } catch (error) {
      throw mapS3Error(error, { op: 'put', key, signal })
    }
  }

  async getStream(key: string, options: GetOptions = {}): Promise<GetStreamResult> {
    assertSafeKey(key)
    const { signal, range } = options
    if (range) validateRange(range)
    const out: GetObjectCommandOutput = await this.#request('get', key, signal, (abortSignal) =>
      this.#client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(range ? { Range: `bytes=${range.start}-${range.end ?? ''}` } : {}),
        }),
        { abortSignal },
      ),
    )
    const body = out.Body as Readable
    const head = toHead(key, out)
    const result: GetStreamResult = { ...head, body }
    if (range) {
      const parsed = parseContentRange(out.ContentRange)
      if (parsed) {
        result.range = parsed
        result.size = parsed.total
      }
    }
    return result
  }

  async getBuffer(key: string, options: GetOptions = {}): Promise<Buffer> {
    const { body } = await this.getStream(key, options)
    const chunks: Buffer[] = []
    try {
      for await (const chunk of body) chunks.push(chunk as Buffer)
    } catch (error) {
      throw mapS3Error(error, { op: 'get', key, signal: options.signal })
    }
    return Buffer.concat(chunks)
  }

  async head(key: string, options: IoOptions = {}): Promise<ObjectHead> {
    assertSafeKey(key)
    const out = await this.#request('head', key, options.signal, (abortSignal) =>
      this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal }),
    )
    return toHead(key, out)
  }

  async exists(key: string, options: IoOptions = {}): Promise<boolean> {
    try {
      await this.head(key, options)
      return true
    } catch (error) {
      if (isLocalexError(error, 'OBJECT_NOT_FOUND')) return false
      throw error
    }
  }

  async delete(key: string, options: IoOptions = {}): Promise<void> {
    assertSafeKey(key)
    await this.#request('delete', key, options.signal, (abortSignal) =>
      this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal }),
    )
  }

  async deleteMany(keys: readonly string[], options: IoOptions = {}): Promise<DeleteManyResult> {
    for (const key of keys) assertSafeKey(key)
    const unique = [...new Set(keys)]
    const batches: string[][] = []
    for (let i = 0; i < unique.length; i += DELETE_BATCH) batches.push(unique.slice(i, i + DELETE_BATCH))
    const result: DeleteManyResult = { deleted: [], failed: [] }
    await mapLimit(batches, DELETE_CONCURRENCY, async (batch) => {
      let errors: { key: string; code: string; message: string }[]
      try {
        const out = await this.#request('deleteMany', undefined, options.signal, (abortSignal) =>
          this.#client.send(
            new DeleteObjectsCommand({
              Bucket: this.bucket,
              Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
            }),
            { abortSignal },
          ),
        )
        errors = (out.Errors ?? []).map((e) => ({
          key: e.Key ?? '',
          code: s3ErrorCode({ name: e.Code }).code,
          message: `S3 refused to delete "${e.Key ?? ''}" (${e.Code ?? 'error'})`,
        }))
      } catch (error) {
        // Aborting stops the whole call; any other failure is reported for the batch's keys.
        if (isLocalexError(error, 'ABORTED')) throw error
        const mapped = error as LocalexError
        errors = batch.map((key) => ({ key, code: mapped.code, message: mapped.message }))
      }
      const failedKeys = new Set(errors.map((e) => e.key))
      result.failed.push(...errors)
      for (const key of batch) if (!failedKeys.has(key)) result.deleted.push(key)
    })
    return result
  }

  async copy(from: string, to: string, options: IoOptions = {}): Promise<void> {
    assertSafeKey(from)
    assertSafeKey(to)
    try {
      await this.#request('copy', from, options.signal, (abortSignal) =>
        this.#client.send(
          new CopyObjectCommand({
            Bucket: this.bucket,
            Key: to,
            // CopySource is `bucket/key`, URL-encoded segment by segment (the `/` stay).
            CopySource: `${encodeURIComponent(this.bucket)}/${encodeKeyPath(from)}`,
            MetadataDirective: 'COPY',
          }),
          { abortSignal },
        ),
      )
    } catch (error) {
      if (isLocalexError(error) && error.details) error.details.to = to
      throw error
    }
  }

  async move(from: string, to: string, options: IoOptions = {}): Promise<void> {
    await this.copy(from, to, options)
    await this.delete(from, options)
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncGenerator<ListEntry> {
    assertSafePrefix(prefix)
    const { delimiter, startAfter, signal } = options
    const pageSize = Math.min(Math.max(options.pageSize ?? 1000, 1), 1000)
    let token: string | undefined
    let first = true
    while (first || token) {
      const continuation = token
      const page = await this.#request('list', prefix || undefined, signal, (abortSignal) =>
        this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            Delimiter: delimiter,
            ...(first && startAfter ? { StartAfter: startAfter } : {}),
            ContinuationToken: continuation,
            MaxKeys: pageSize,
          }),
          { abortSignal },
        ),
      )
      first = false
      const entries: ListEntry[] = []
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined) continue
        entries.push({
          type: 'object',
          key: o.Key,
          size: o.Size ?? 0,
          etag: o.ETag,
          lastModified: o.LastModified ?? new Date(0),
        })
      }
      for (const p of page.CommonPrefixes ?? [])
        if (p.Prefix !== undefined) entries.push({ type: 'prefix', prefix: p.Prefix })
      // S3 returns objects and common prefixes in two lists; the contract is one key order.
      entries.sort((a, b) =>
        compareKeys(a.type === 'object' ? a.key : a.prefix, b.type === 'object' ? b.key : b.prefix),
      )
      yield* entries
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    }
  }

  async signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    assertSafeKey(key)
    throwIfAborted(options.signal)
    const expiresIn = presignSeconds(options.expiresIn)
    try {
      return await getSignedUrl(
        this.#client,
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(options.responseContentDisposition
            ? { ResponseContentDisposition: options.responseContentDisposition }
            : {}),
          ResponseContentType: options.responseContentType,
        }),
        { expiresIn },
      )
    } catch (error) {
      throw mapS3Error(error, { op: 'signedUrl', key, signal: options.signal })
    }
  }

  async presignedPut(key: string, options: PresignedPutOptions): Promise<PresignedPutResult> {
    assertSafeKey(key)
    throwIfAborted(options.signal)
    const expiresIn = presignSeconds(options.expiresIn)
    const headers: Record<string, string> = {}
    if (options.contentType) headers['Content-Type'] = options.contentType
    if (options.cacheControl) headers['Cache-Control'] = options.cacheControl
    try {
      const url = await getSignedUrl(
        this.#client,
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ContentType: options.contentType,
          CacheControl: options.cacheControl,
        }),
        { expiresIn, signableHeaders: new Set(Object.keys(headers).map((h) => h.toLowerCase())) },
      )
      return { url, method: 'PUT', headers, expiresAt: new Date(Date.now() + expiresIn * 1000) }
    } catch (error) {
      throw mapS3Error(error, { op: 'presignedPut', key, signal: options.signal })
    }
  }

  async presignedPost(key: string, options: PresignedPostOptions): Promise<PresignedPost> {
    assertSafeKey(key)
    throwIfAborted(options.signal)
    const expiresIn = presignSeconds(options.expiresIn)
    const { min, max } = validateLengthRange(options.contentLengthRange)
    const fields: Record<string, string> = {}
    if (options.contentType) fields['Content-Type'] = options.contentType
    if (options.cacheControl) fields['Cache-Control'] = options.cacheControl
    try {
      // Every field is also an exact-match condition (added by createPresignedPost), the key too.
      const post = await createPresignedPost(this.#client, {
        Bucket: this.bucket,
        Key: key,
        Conditions: [['content-length-range', min, max]],
        Fields: fields,
        Expires: expiresIn,
      })
      return { url: post.url, fields: post.fields, expiresAt: new Date(Date.now() + expiresIn * 1000) }
    } catch (error) {
      throw mapS3Error(error, { op: 'presignedPost', key, signal: options.signal })
    }
  }

  async ping(options: IoOptions = {}): Promise<void> {
    await this.#request('ping', undefined, options.signal, (abortSignal) =>
      this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal }),
    )
  }

  async close(): Promise<void> {
    for (const client of this.#owned.clients) client.destroy()
    for (const agent of this.#owned.agents) agent.destroy()
  }

  /** One request under our retry policy, its failure mapped to the catalogue. */
  async #request<T>(
    op: string,
    key: string | undefined,
    signal: AbortSignal | undefined,
    call: (abortSignal: AbortSignal | undefined) => Promise<T>,
  ): Promise<T> {
    try {
      return await withRetry(() => call(signal), { ...this.#retry, signal, isRetryable: isTransientError })
    } catch (error) {
      throw mapS3Error(error, { op, key, signal })
    }
  }

  #putParams(key: string, options: PutOptions): PutObjectCommandInput {
    return {
      Bucket: this.bucket,
      Key: key,
      ContentType: options.contentType ?? 'application/octet-stream',
      CacheControl: options.cacheControl,
      ContentDisposition: options.contentDisposition,
      ...(options.metadata ? { Metadata: { ...options.metadata } } : {}),
      ...(options.ifNoneMatch && this.#config.conditionalWrites ? { IfNoneMatch: '*' } : {}),
    }
  }

  /**
   * A stream of known, small length: one PutObject. A stream cannot be replayed, so there is no
   * retry; if the stream fails, the request is aborted (the SDK pipes the body and would otherwise
   * wait for the missing bytes until the socket times out).
   */
  async #putSmallStream(
    key: string,
    params: PutObjectCommandInput,
    body: Readable,
    length: number,
    options: PutOptions,
  ): Promise<PutResult> {
    const counter = new ByteCounter({ expected: length })
    const { controller, dispose } = linkedAbort(options.signal)
    const pumping = pipeline(body, counter, { signal: controller.signal }).catch((error: unknown) => {
      controller.abort(error)
      throw error
    })
    const sending = this.#client.send(new PutObjectCommand({ ...params, Body: counter, ContentLength: length }), {
      abortSignal: controller.signal,
    })
    try {
      const [pumped, sent] = await Promise.allSettled([pumping, sending])
      if (pumped.status === 'rejected' && !options.signal?.aborted) throw pumped.reason
      if (sent.status === 'rejected') throw sent.reason
      if (pumped.status === 'rejected') throw pumped.reason
      options.onProgress?.({ loaded: length, total: length })
      return { key, size: length, etag: sent.value.ETag ?? (await this.#etagOf(key, options.signal)) }
    } finally {
      dispose()
    }
  }

  /**
   * Multipart upload through lib-storage. The body always reaches `Upload` as a stream we control:
   * aborting (or a failing source) destroys it, lib-storage's part uploaders then stop, and it
   * sends AbortMultipartUpload before `done()` rejects, so when `put` rejects nothing is left on
   * the server. (Its own `abort()` would reject at once and abort the upload later, or never if
   * the source stalls.)
   */
  async #multipart(
    key: string,
    params: PutObjectCommandInput,
    body: Buffer | Readable,
    options: PutOptions,
  ): Promise<PutResult> {
    const { signal } = options
    const total = Buffer.isBuffer(body) ? body.byteLength : options.contentLength
    // One chunk: lib-storage then slices parts out of it without copying.
    const source = Buffer.isBuffer(body) ? Readable.from([body]) : body
    const counter = new ByteCounter({ expected: total })
    const pumping = pipeline(source, counter, ...(signal ? [{ signal }] : []))
    const upload = new Upload({
      client: this.#uploadClient,
      params: { ...params, Body: counter, ...(total !== undefined ? { ContentLength: total } : {}) },
      partSize: this.#config.partSize,
      queueSize: this.#config.uploadConcurrency,
      leavePartsOnError: false,
    })
    let last: { loaded: number; total?: number } = { loaded: -1 }
    const report = (loaded: number, size: number | undefined) => {
      // Never backwards, never the same event twice (concurrent parts finish out of order).
      if (loaded < last.loaded || (loaded === last.loaded && size === last.total)) return
      last = { loaded, ...(size !== undefined ? { total: size } : {}) }
      options.onProgress?.({ ...last })
    }
    upload.on('httpUploadProgress', (p) => report(p.loaded ?? 0, total))
    const uploading = upload.done().catch((error: unknown) => {
      // The server side is cleaned up by now; stop the source too, or the pipeline waits forever.
      counter.destroy(error instanceof Error ? error : new Error(String(error)))
      throw error
    })
    const [pumped, uploaded] = await Promise.allSettled([pumping, uploading])
    if (uploaded.status === 'rejected' && upload.uploadId) {
      // lib-storage has aborted the upload unless that request failed too: make sure.
      await this.#abortUpload(key, upload.uploadId)
    }
    if (uploaded.status === 'rejected') {
      // Prefer the root cause: the caller's abort or the source's own failure.
      throw signal?.aborted || pumped.status === 'fulfilled' ? uploaded.reason : pumped.reason
    }
    if (pumped.status === 'rejected') throw pumped.reason
    const size = counter.bytes
    report(size, size)
    // radosgw answers CompleteMultipartUpload with an empty ETag; HeadObject has it.
    const etag = uploaded.value.ETag || (await this.#etagOf(key, signal))
    return { key, size, etag }
  }

  /** Best effort, under our retries; an upload that is already gone is fine. */
  async #abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.#request('abortMultipartUpload', key, undefined, (abortSignal) =>
        this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }), {
          abortSignal,
        }),
      )
    } catch (error) {
      if (isLocalexError(error, 'OBJECT_NOT_FOUND')) return
      // The put already fails with its own error; this one is only worth a lifecycle rule.
      process.emitWarning(
        `localex-storage: could not abort multipart upload ${uploadId} of "${key}": ${(error as Error).message}`,
      )
    }
  }

  async #etagOf(key: string, signal: AbortSignal | undefined): Promise<string> {
    return (await this.head(key, { signal })).etag
  }
}

function toHead(key: string, out: HeadObjectCommandOutput | GetObjectCommandOutput): ObjectHead {
  return {
    key,
    size: out.ContentLength ?? 0,
    contentType: out.ContentType ?? 'application/octet-stream',
    cacheControl: out.CacheControl,
    contentDisposition: out.ContentDisposition,
    metadata: { ...(out.Metadata ?? {}) },
    etag: out.ETag ?? '',
    lastModified: out.LastModified ?? new Date(0),
  }
}

/** `bytes 0-9/100` → { start: 0, end: 9, total: 100 }. */
export function parseContentRange(
  value: string | undefined,
): { start: number; end: number; total: number } | undefined {
  const m = value ? /^bytes (\d+)-(\d+)\/(\d+)$/.exec(value.trim()) : null
  if (!m) return undefined
  return { start: Number(m[1]), end: Number(m[2]), total: Number(m[3]) }
}
