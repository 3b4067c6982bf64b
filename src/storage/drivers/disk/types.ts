import type { PutOptions } from '../../types.js'

export interface DiskDriverOptions {
  /** Folder that holds everything (`config.storage.disk.root`). */
  root: string
  /** HMAC key of signed URLs (`config.storage.signingSecret`). */
  signingSecret: string
  /** Public address of the service that mounts the delivery and upload handlers (`config.storage.publicBaseUrl`). */
  publicBaseUrl: string
  /**
   * fsync each file before its rename and the folder after it (default true). Off only where a
   * power cut may lose recent writes, e.g. throwaway test stores.
   */
  durable?: boolean
}

export interface DiskPutOptions extends PutOptions {
  /** Size bounds enforced while the body streams in (the upload handlers' policies). */
  limits?: { min?: number; max?: number }
}
