import { randomUUID } from 'node:crypto'
import { CloudFrontClient, CreateInvalidationCommand } from '@aws-sdk/client-cloudfront'
import { getSignedUrl } from '@aws-sdk/cloudfront-signer'
import { LocalexError, isLocalexError } from '../errors/index.js'
import { isTransientError, withRetry, type RetryOptions } from '../storage/retry.js'
import { chunk, collapseCovered, parseKeyPaths, toUrlPath } from './paths.js'

/** CloudFront accepts at most 3,000 paths per invalidation (wildcards included). */
export const CLOUDFRONT_MAX_PATHS = 3000

/** The part of the CloudFront client this provider uses (tests pass a mocked client). */
export type CloudFrontSender = Pick<CloudFrontClient, 'send' | 'destroy'>

export interface CloudFrontInvalidatorOptions {
  distributionId: string
  /** A client, or the settings to build one (region is always us-east-1: CloudFront is global). */
  client?: CloudFrontSender
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }
  /** Path of CDN_URL, prefixed to every path (`''` for a bare domain). */
  pathPrefix?: string
  /** Paths per CreateInvalidation (default and maximum 3,000). */
  batchSize?: number
  retry?: Partial<Pick<RetryOptions, 'maxAttempts' | 'baseDelayMs' | 'maxDelayMs' | 'random'>>
  /** Called once per accepted batch (metrics, logs). */
  onBatch?: (info: { id: string | undefined; paths: number; callerReference: string }) => void
}

/** Errors worth another attempt: throttling, too many invalidations in flight, 5xx, network. */
export function isRetryableCloudFrontError(error: unknown): boolean {
  const name = (error as { name?: string } | null)?.name
  if (name === 'TooManyInvalidationsInProgress' || name === 'Throttling' || name === 'ThrottlingException') return true
  return isTransientError(error)
}

/**
 * `CreateInvalidation` for deleted or replaced objects: paths deduplicated, those under a wildcard
 * of the same call dropped, sorted, and sent in batches of at most 3,000. Each batch has a caller
 * reference of `reference` (the outbox job id) and its index, so a redelivered job sends the same
 * references and CloudFront answers with the invalidation it already made instead of paying for
 * a second one; without a reference each call gets a fresh UUID. Throttling and "too many
 * invalidations in progress" are retried here with backoff; what still fails rejects CDN_ERROR
 * and the outbox retries the job later.
 */
export class CloudFrontInvalidator {
  readonly #client: CloudFrontSender
  readonly #ownsClient: boolean
  readonly #distributionId: string
  readonly #pathPrefix: string
  readonly #batchSize: number
  readonly #retry: Pick<RetryOptions, 'maxAttempts' | 'baseDelayMs' | 'maxDelayMs'> & { random?: () => number }
  readonly #onBatch: CloudFrontInvalidatorOptions['onBatch']

  constructor(options: CloudFrontInvalidatorOptions) {
    this.#distributionId = options.distributionId
    this.#pathPrefix = options.pathPrefix ?? ''
    this.#batchSize = Math.min(CLOUDFRONT_MAX_PATHS, Math.max(1, options.batchSize ?? CLOUDFRONT_MAX_PATHS))
    this.#retry = { maxAttempts: 6, baseDelayMs: 1000, maxDelayMs: 30_000, ...options.retry }
    this.#onBatch = options.onBatch
    this.#ownsClient = !options.client
    // The SDK's own retries are off: this class owns the policy (and the throttling cases the SDK
    // does not count as throttling, such as TooManyInvalidationsInProgress).
    this.#client =
      options.client ??
      new CloudFrontClient({
        region: 'us-east-1',
        maxAttempts: 1,
        credentials: options.credentials,
      })
  }

  /** The URL paths, in batches, that `invalidate(paths)` sends. */
  batches(paths: readonly string[]): string[][] {
    const urlPaths = collapseCovered(parseKeyPaths(paths)).map((p) => toUrlPath(p, this.#pathPrefix))
    return chunk([...new Set(urlPaths)], this.#batchSize)
  }

  async invalidate(
    paths: readonly string[],
    options: { signal?: AbortSignal; reference?: string } = {},
  ): Promise<void> {
    const batches = this.batches(paths)
    const reference = options.reference ?? randomUUID()
    for (const [index, items] of batches.entries()) {
      const callerReference = `${reference}-${index}`
      try {
        const out = await withRetry(
          () =>
            this.#client.send(
              new CreateInvalidationCommand({
                DistributionId: this.#distributionId,
                InvalidationBatch: {
                  CallerReference: callerReference,
                  Paths: { Quantity: items.length, Items: items },
                },
              }),
              options.signal ? { abortSignal: options.signal } : {},
            ),
          {
            ...this.#retry,
            isRetryable: isRetryableCloudFrontError,
            signal: options.signal,
          },
        )
        this.#onBatch?.({ id: out.Invalidation?.Id, paths: items.length, callerReference })
      } catch (error) {
        if (isLocalexError(error)) throw error
        throw new LocalexError(
          'CDN_ERROR',
          `CloudFront refused the invalidation of ${items.length} paths (batch ${index + 1} of ${batches.length})`,
          {
            cause: error,
            details: {
              distributionId: this.#distributionId,
              batch: index + 1,
              batches: batches.length,
              error: (error as Error)?.name,
            },
          },
        )
      }
    }
  }

  close(): void {
    if (this.#ownsClient) this.#client.destroy()
  }
}

export interface CloudFrontSignerOptions {
  keyPairId: string
  privateKey: string
}

/**
 * Signed CloudFront URL with a canned policy (the URL and an expiry, nothing else), for files that
 * need a signed-in user. The distribution's behaviour for those paths must trust the key group
 * holding the matching public key.
 */
export function signCloudFrontUrl(url: string, expiresAt: Date, options: CloudFrontSignerOptions): string {
  return getSignedUrl({
    url,
    keyPairId: options.keyPairId,
    privateKey: options.privateKey,
    dateLessThan: expiresAt.toISOString(),
  })
}
