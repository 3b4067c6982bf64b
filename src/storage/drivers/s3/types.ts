import type { S3Client } from '@aws-sdk/client-s3'
import type { RetryConfig, S3Config } from '../../../config/index.js'

/**
 * What the S3 driver needs: the bucket settings, our retry policy and the per-request timeout.
 * Either the driver builds its clients from `s3` (the usual case), or the caller hands it one
 * (`client`): then timeouts, agents, checksum settings and the SDK's own retries are the
 * caller's, and `close()` leaves the client open.
 */
export interface S3DriverOptions {
  s3: S3Config
  retry: RetryConfig
  /** Connection and socket-idle timeout of one request, in ms. */
  timeoutMs: number
  client?: S3Client
  /** Sockets per protocol in the keep-alive pool (default 128: 50+ concurrent puts, each with parts). */
  maxSockets?: number
}
