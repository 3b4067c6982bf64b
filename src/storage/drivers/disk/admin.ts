import { mkdir, stat } from 'node:fs/promises'
import { LocalexError } from '../../../errors/index.js'
import { throwIfAborted } from '../../../lib/index.js'
import {
  inventoryOf,
  type BucketAdmin,
  type BucketChange,
  type BucketChangeOutcome,
  type BucketRequest,
  type BucketSettingName,
  type BucketSettings,
  type InventoryEntry,
  type InventoryOptions,
  type MultipartUpload,
} from '../../bucket-admin.js'
import type { IoOptions, ListEntry, ListOptions } from '../../types.js'

export interface DiskBucketAdminOptions {
  root: string
  /** The driver's listing, which the inventory reads. */
  list: (prefix: string, options: ListOptions) => AsyncIterable<ListEntry>
  /** The driver's mapping of filesystem errors to the catalogue. */
  mapError: (error: unknown, op: string, signal: AbortSignal | undefined) => LocalexError
}

/**
 * The disk side of `BucketAdmin`: the "bucket" is the root folder, which `apply({ name: 'bucket' })`
 * creates. A folder has none of the bucket settings (access blocks, encryption, versioning, CORS,
 * lifecycle), and no multipart uploads: writes go through temp files the driver removes itself.
 */
export class DiskBucketAdmin implements BucketAdmin {
  readonly driver = 'disk' as const
  readonly location: string
  readonly settings: readonly BucketSettingName[] = []

  readonly #options: DiskBucketAdminOptions

  constructor(options: DiskBucketAdminOptions) {
    this.#options = options
    this.location = options.root
  }

  async exists(options: IoOptions = {}): Promise<boolean> {
    throwIfAborted(options.signal)
    try {
      return (await stat(this.location)).isDirectory()
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
      throw this.#options.mapError(error, 'exists', options.signal)
    }
  }

  async read<K extends BucketSettingName>(name: K): Promise<BucketSettings[K] | undefined> {
    throw unsupported(name)
  }

  describe(change: BucketChange): BucketRequest {
    if (change.name !== 'bucket') throw unsupported(change.name)
    return { operation: 'mkdir', input: { path: this.location, recursive: true } }
  }

  async apply(change: BucketChange, options: IoOptions = {}): Promise<BucketChangeOutcome> {
    this.describe(change)
    throwIfAborted(options.signal)
    try {
      await mkdir(this.location, { recursive: true })
      return { status: 'applied' }
    } catch (error) {
      throw this.#options.mapError(error, 'mkdir', options.signal)
    }
  }

  // eslint-disable-next-line require-yield
  async *multipartUploads(options: IoOptions = {}): AsyncGenerator<MultipartUpload> {
    throwIfAborted(options.signal)
  }

  async abortMultipartUpload(upload: MultipartUpload): Promise<void> {
    const message = `The disk store has no multipart upload of "${upload.key}"`
    throw new LocalexError('OBJECT_NOT_FOUND', message, { details: { key: upload.key } })
  }

  inventory(prefix: string, options: InventoryOptions = {}): AsyncIterable<InventoryEntry> {
    return inventoryOf(this.#options.list(prefix, options))
  }
}

function unsupported(name: string): LocalexError {
  const message = `The disk store has no bucket setting "${name}"`
  return new LocalexError('VALIDATION_FAILED', message, { details: { setting: name } })
}
