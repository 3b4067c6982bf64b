import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import { S3Client } from '@aws-sdk/client-s3'
import type { Config } from '../src/config/index.js'

/**
 * A bare AWS SDK client with the settings the s3 driver gives its own (keep-alive pool, timeouts,
 * checksum settings): what the benchmarks compare the driver with, and plant test data through.
 */
export function bareClient(config: Config): S3Client {
  const { s3 } = config.storage
  return new S3Client({
    region: s3.region,
    ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
    forcePathStyle: s3.forcePathStyle,
    ...(s3.credentials ? { credentials: { ...s3.credentials } } : {}),
    requestChecksumCalculation: s3.requestChecksumCalculation,
    responseChecksumValidation: s3.responseChecksumValidation,
    maxAttempts: config.storage.retry.maxAttempts,
    requestHandler: {
      connectionTimeout: config.storage.timeoutMs,
      socketTimeout: config.storage.timeoutMs,
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 128 }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 128 }),
    },
  })
}
