import type { Readable } from 'node:stream'
import { LocalexError, isLocalexError } from '../errors/index.js'
import type {
  BucketAdmin,
  BucketChange,
  BucketChangeOutcome,
  BucketRequest,
  BucketSettingName,
  BucketSettings,
  InventoryEntry,
  InventoryOptions,
  MultipartUpload,
} from './bucket-admin.js'
import { DiskObjectStore } from './drivers/disk/driver.js'
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

type OnError = (operation: string, error: LocalexError) => void

/** Key checks in front of, and error normalisation behind, any driver (flydrive's `Disk`). */
export class GuardedObjectStore implements ObjectStore {
  /** The driver behind the facade (tests, and the disk handlers that need its signer). */
  readonly driver: ObjectStore
  readonly admin: BucketAdmin
  readonly #onError: OnError | undefined

  constructor(driver: ObjectStore, onError?: OnError) {
    this.driver = driver
    this.#onError = onError
    this.admin = new GuardedBucketAdmin(driver.admin, (op, error) => report(onError, op, error))
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
    return report(this.#onError, op, error)
  }
}

/** The same guarantee for the bucket side: whatever fails, a LocalexError, and the observer told. */
class GuardedBucketAdmin implements BucketAdmin {
  readonly #admin: BucketAdmin
  readonly #report: (op: string, error: LocalexError) => LocalexError

  constructor(admin: BucketAdmin, reportError: (op: string, error: LocalexError) => LocalexError) {
    this.#admin = admin
    this.#report = reportError
  }

  get driver(): BucketAdmin['driver'] {
    return this.#admin.driver
  }

  get location(): string {
    return this.#admin.location
  }

  get settings(): readonly BucketSettingName[] {
    return this.#admin.settings
  }

  exists(options?: IoOptions): Promise<boolean> {
    return this.#guard('bucketExists', () => this.#admin.exists(options))
  }

  read<K extends BucketSettingName>(name: K, options?: IoOptions): Promise<BucketSettings[K] | undefined> {
    return this.#guard('readBucketSetting', () => this.#admin.read(name, options))
  }

  describe(change: BucketChange): BucketRequest {
    try {
      return this.#admin.describe(change)
    } catch (error) {
      throw this.#report('describeBucketChange', normalise(error, 'describeBucketChange', undefined))
    }
  }

  apply(change: BucketChange, options?: IoOptions): Promise<BucketChangeOutcome> {
    return this.#guard('applyBucketChange', () => this.#admin.apply(change, options))
  }

  multipartUploads(options?: IoOptions): AsyncIterable<MultipartUpload> {
    return this.#guardIterable('listMultipartUploads', () => this.#admin.multipartUploads(options))
  }

  abortMultipartUpload(upload: MultipartUpload, options?: IoOptions): Promise<void> {
    return this.#guard('abortMultipartUpload', () => this.#admin.abortMultipartUpload(upload, options))
  }

  inventory(prefix: string, options?: InventoryOptions): AsyncIterable<InventoryEntry> {
    return this.#guardIterable('inventory', () => {
      assertSafePrefix(prefix)
      return this.#admin.inventory(prefix, options)
    })
  }

  async #guard<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (error) {
      throw this.#report(op, normalise(error, op, undefined))
    }
  }

  async *#guardIterable<T>(op: string, open: () => AsyncIterable<T>): AsyncGenerator<T> {
    try {
      yield* open()
    } catch (error) {
      throw this.#report(op, normalise(error, op, undefined))
    }
  }
}

function report(onError: OnError | undefined, op: string, error: LocalexError): LocalexError {
  try {
    onError?.(op, error)
  } catch {
    // An observer's failure is not the store's.
  }
  return error
}

/** The disk driver behind `store` (itself, or the one the facade wraps): the disk handlers need its signer. */
export function diskDriverOf(store: ObjectStore): DiskObjectStore {
  if (store instanceof DiskObjectStore) return store
  if (store instanceof GuardedObjectStore && store.driver instanceof DiskObjectStore) return store.driver
  throw new TypeError('The disk handlers need a store on the disk driver')
}

function normalise(error: unknown, op: string, key: string | undefined): LocalexError {
  if (isLocalexError(error)) return error
  if ((error as Error | undefined)?.name === 'AbortError') {
    return new LocalexError('ABORTED', `Store ${op} aborted`, { cause: error })
  }
  const details = key === undefined ? { operation: op } : { operation: op, key }
  return new LocalexError('STORE_ERROR', `Store ${op} failed unexpectedly`, { cause: error, details })
}
