import type { Readable } from 'node:stream'
import type { S3Client } from '@aws-sdk/client-s3'
import type { Config } from '../config/index.js'
import { LocalexError, isLocalexError } from '../errors/index.js'
import { DiskObjectStore } from './drivers/disk/driver.js'
import { S3ObjectStore } from './drivers/s3/driver.js'
import { assertSafeKey, assertSafePrefix } from './keys.js'
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
} from './types.js'

export type * from './types.js'
export * from './keys.js'
export { LocalexError, isLocalexError, ERROR_CATALOGUE, ERROR_CODES, type ErrorCode } from '../errors/index.js'
export { withRetry, isTransientError, type RetryOptions } from './retry.js'
export { S3ObjectStore, type S3DriverOptions } from './drivers/s3/driver.js'
export { DiskObjectStore, type DiskDriverOptions, type DiskPutOptions } from './drivers/disk/driver.js'
export { DiskUrlSigner, verifySignedUrl, DELIVERY_PATH, UPLOAD_PATH } from './drivers/disk/signing.js'
export { createDiskDeliveryHandler, createDiskUploadHandler, diskDriverOf, type NodeRequestHandler, type DiskHandlerOptions } from './drivers/disk/http.js'

export interface ObjectStoreOverrides {
  /** S3: use this client instead of building one from the config (its settings are then the caller's). */
  s3Client?: S3Client
  /** Disk: the public address of whatever serves the signed URLs (tests point it at their server). */
  publicBaseUrl?: string
  /** Disk: fsync on every write (default true). */
  durable?: boolean
  /** Told of every failure the store reports (after retries), e.g. to count them in metrics. */
  onError?: (operation: string, error: LocalexError) => void
}

/**
 * The configured object store: `disk` or `s3` per `config.storage.driver`, behind a facade that
 * checks every key before the driver sees it and guarantees that whatever fails, the caller gets
 * a LocalexError (anything unexpected becomes STORE_ERROR with the original as `cause`).
 */
export function createObjectStore(config: Config, overrides: ObjectStoreOverrides = {}): GuardedObjectStore {
  const { storage } = config
  const driver: ObjectStore = storage.driver === 's3'
    ? new S3ObjectStore({ s3: storage.s3, retry: storage.retry, timeoutMs: storage.timeoutMs, ...(overrides.s3Client ? { client: overrides.s3Client } : {}) })
    : new DiskObjectStore({
        root: storage.disk.root,
        signingSecret: storage.signingSecret,
        publicBaseUrl: overrides.publicBaseUrl ?? storage.publicBaseUrl,
        ...(overrides.durable !== undefined ? { durable: overrides.durable } : {}),
      })
  return new GuardedObjectStore(driver, overrides.onError)
}

/** Key checks in front of, and error normalisation behind, any driver (flydrive's `Disk`). */
export class GuardedObjectStore implements ObjectStore {
  readonly driver: ObjectStore
  readonly #onError: ((operation: string, error: LocalexError) => void) | undefined

  constructor(driver: ObjectStore, onError?: (operation: string, error: LocalexError) => void) {
    this.driver = driver
    this.#onError = onError
  }

  get name(): ObjectStore['name'] {
    return this.driver.name
  }

  get capabilities(): StoreCapabilities {
    return this.driver.capabilities
  }

  put(key: string, body: Buffer | Uint8Array | Readable, options?: PutOptions): Promise<PutResult> {
    return this.#guard('put', key, () => this.driver.put(assertSafeKey(key), body, options))
  }

  getStream(key: string, options?: GetOptions): Promise<GetStreamResult> {
    return this.#guard('getStream', key, () => this.driver.getStream(assertSafeKey(key), options))
  }

  getBuffer(key: string, options?: GetOptions): Promise<Buffer> {
    return this.#guard('getBuffer', key, () => this.driver.getBuffer(assertSafeKey(key), options))
  }

  head(key: string, options?: IoOptions): Promise<ObjectHead> {
    return this.#guard('head', key, () => this.driver.head(assertSafeKey(key), options))
  }

  exists(key: string, options?: IoOptions): Promise<boolean> {
    return this.#guard('exists', key, () => this.driver.exists(assertSafeKey(key), options))
  }

  delete(key: string, options?: IoOptions): Promise<void> {
    return this.#guard('delete', key, () => this.driver.delete(assertSafeKey(key), options))
  }

  deleteMany(keys: readonly string[], options?: IoOptions): Promise<DeleteManyResult> {
    return this.#guard('deleteMany', undefined, () => {
      for (const key of keys) assertSafeKey(key)
      return this.driver.deleteMany(keys, options)
    })
  }

  copy(from: string, to: string, options?: IoOptions): Promise<void> {
    return this.#guard('copy', from, () => this.driver.copy(assertSafeKey(from), assertSafeKey(to), options))
  }

  move(from: string, to: string, options?: IoOptions): Promise<void> {
    return this.#guard('move', from, () => this.driver.move(assertSafeKey(from), assertSafeKey(to), options))
  }

  async *list(prefix: string, options?: ListOptions): AsyncGenerator<ListEntry> {
    try {
      assertSafePrefix(prefix)
      yield* this.driver.list(prefix, options)
    } catch (error) {
      throw this.#report('list', normalise(error, 'list', undefined))
    }
  }

  signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    return this.#guard('signedUrl', key, () => this.driver.signedUrl(assertSafeKey(key), options))
  }

  presignedPut(key: string, options: PresignedPutOptions): Promise<PresignedPutResult> {
    return this.#guard('presignedPut', key, () => this.driver.presignedPut(assertSafeKey(key), options))
  }

  presignedPost(key: string, options: PresignedPostOptions): Promise<PresignedPost> {
    return this.#guard('presignedPost', key, () => this.driver.presignedPost(assertSafeKey(key), options))
  }

  ping(options?: IoOptions): Promise<void> {
    return this.#guard('ping', undefined, () => this.driver.ping(options))
  }

  close(): Promise<void> {
    return this.#guard('close', undefined, () => this.driver.close())
  }

  async #guard<T>(op: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (error) {
      throw this.#report(op, normalise(error, op, key))
    }
  }

  #report(op: string, error: LocalexError): LocalexError {
    try {
      this.#onError?.(op, error)
    } catch {
      // An observer's failure is not the store's.
    }
    return error
  }
}

function normalise(error: unknown, op: string, key: string | undefined): LocalexError {
  if (isLocalexError(error)) return error
  if ((error as Error | undefined)?.name === 'AbortError') return new LocalexError('ABORTED', `Store ${op} aborted`, { cause: error })
  return new LocalexError('STORE_ERROR', `Store ${op} failed unexpectedly`, { cause: error, details: { operation: op, ...(key === undefined ? {} : { key }) } })
}
