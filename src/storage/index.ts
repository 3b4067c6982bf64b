import type { Config } from '../config/index.js'
import type { LocalexError } from '../errors/index.js'
import { DiskObjectStore } from './drivers/disk/driver.js'
import { S3ObjectStore, type S3DriverOptions } from './drivers/s3/driver.js'
import { GuardedObjectStore } from './guarded.js'
import type { ObjectStore } from './types.js'

export type * from './types.js'
export { BUCKET_SETTINGS } from './bucket-admin.js'
export * from './keys.js'
export { contentDisposition } from './content-disposition.js'
export { LocalexError, isLocalexError, ERROR_CATALOGUE, ERROR_CODES, type ErrorCode } from '../errors/index.js'
export { withRetry, isTransientError, type RetryOptions } from './retry.js'
export { GuardedObjectStore, diskDriverOf } from './guarded.js'
export { S3ObjectStore, type S3DriverOptions } from './drivers/s3/driver.js'
export { DiskObjectStore, type DiskDriverOptions, type DiskPutOptions } from './drivers/disk/driver.js'
export {
  DiskUrlSigner,
  verifySignedUrl,
  decodeKeyPath,
  DELIVERY_PATH,
  UPLOAD_PATH,
  type PostPolicy,
  type SignedGetParams,
  type SignedPutParams,
  type VerifiedGet,
} from './drivers/disk/signing.js'

export interface ObjectStoreOverrides {
  /** S3: use this client instead of building one from the config (its settings are then the caller's). */
  s3Client?: S3DriverOptions['client']
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
  const driver: ObjectStore =
    storage.driver === 's3'
      ? new S3ObjectStore({
          s3: storage.s3,
          retry: storage.retry,
          timeoutMs: storage.timeoutMs,
          client: overrides.s3Client,
        })
      : new DiskObjectStore({
          root: storage.disk.root,
          signingSecret: storage.signingSecret,
          publicBaseUrl: overrides.publicBaseUrl ?? storage.publicBaseUrl,
          ...(overrides.durable !== undefined ? { durable: overrides.durable } : {}),
        })
  return new GuardedObjectStore(driver, overrides.onError)
}
