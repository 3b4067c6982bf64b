import type { Config } from '../config/index.js'
import { encodeKeyPath } from '../lib/index.js'
import { CloudFrontInvalidator, signCloudFrontUrl, type CloudFrontSender } from './cloudfront.js'
import { EdgeStats, requestThroughEdge, warmFailure, type EdgeRequestResult } from './edge.js'
import { HttpPurger } from './http-purge.js'
import { basePathOf } from './paths.js'

export {
  CloudFrontInvalidator,
  CLOUDFRONT_MAX_PATHS,
  isRetryableCloudFrontError,
  signCloudFrontUrl,
  type CloudFrontSender,
} from './cloudfront.js'
export { HttpPurger } from './http-purge.js'
export {
  CACHE_RESULTS,
  EDGE_SOURCES,
  EdgeStats,
  classifyCacheResult,
  probeHitRatio,
  requestThroughEdge,
  type CacheResult,
  type EdgeSource,
  type HitRatioReport,
  type EdgeRequestResult,
} from './edge.js'
export { parseKeyPaths, collapseCovered, toUrlPath } from './paths.js'
export { registerCdnMetrics, CDN_METRIC_NAMES } from './metrics.js'

/**
 * The one place that builds every URL the API returns for a stored object, and the port through
 * which deleted or replaced public objects are invalidated at the edge.
 *
 * Public objects: `CDN_URL` + key when a CDN is configured; else the bucket's own public URL when
 * one is configured (`S3_PUBLIC_URL`); else the service's delivery route `/files/{key}`, which
 * streams from the (always private) store. Non-public objects get signed URLs: from here
 * (`signedUrl`) for `authenticated` files when a CloudFront key pair is configured, otherwise from
 * the object store. Private documents never get a CDN URL.
 */
export interface Cdn {
  readonly provider: Config['cdn']['provider']
  publicUrl(key: string): string
  /**
   * A signed CDN URL (CloudFront canned policy) valid for `expiresIn` seconds, or null when no key
   * pair is configured (the caller then signs a bucket URL). Only for `authenticated` files.
   */
  signedUrl(key: string, options: { expiresIn: number }): string | null
  /**
   * Drops key paths (`/key`, or `/prefix*` for everything under a prefix) from the edge. Rejects
   * CDN_ERROR when the edge refused or could not be reached after retries: callers run this from
   * the outbox, which retries later. `reference` (the outbox job id) makes a redelivered job's
   * requests recognisable (CloudFront caller references).
   */
  invalidate(paths: readonly string[], options?: { signal?: AbortSignal; reference?: string }): Promise<void>
  /**
   * Requests `urls` through the edge (bounded by CDN_WARM_CONCURRENCY) so the first real reader
   * gets a hit; records hit/miss in `stats`. Rejects CDN_ERROR when some requests failed (after
   * every request has settled), so the outbox retries; 404s (deleted meanwhile) are not failures.
   */
  warm(urls: readonly string[], options?: { signal?: AbortSignal }): Promise<EdgeRequestResult[]>
  /** Hit and miss counts of warming and probe requests in this process. */
  readonly stats: EdgeStats
  close(): Promise<void>
}

export interface CdnOptions {
  /** CloudFront: a client to use instead of building one (tests pass a mocked one). */
  cloudFrontClient?: CloudFrontSender
  /** fetch for warming (tests). */
  fetch?: typeof fetch
  /** Told about each invalidation call: provider, how many paths, outcome (metrics). */
  onInvalidate?: (info: { provider: Config['cdn']['provider']; paths: number; outcome: 'ok' | 'error' }) => void
  /** Retry timings of the providers (tests shorten them). */
  retry?: { maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number }
}

export function publicBaseFor(config: Config): string {
  return config.cdn.url ?? config.storage.s3.publicUrl?.replace(/\/+$/, '') ?? `${config.storage.publicBaseUrl}/files`
}

export function createCdn(config: Config, options: CdnOptions = {}): Cdn {
  const base = publicBaseFor(config)
  const publicUrl = (key: string) => `${base}/${encodeKeyPath(key)}`
  const { cdn } = config
  const pathPrefix = basePathOf(cdn.url)
  const stats = new EdgeStats()

  let invalidator: {
    invalidate(paths: readonly string[], o: { signal?: AbortSignal; reference?: string }): Promise<void>
    close(): void
  } | null = null
  if (cdn.provider === 'cloudfront' && cdn.cloudfront.distributionId) {
    // Explicit AWS keys are the bucket's; they are AWS keys only when the store is AWS S3 itself.
    const credentials =
      config.storage.driver === 's3' && !config.storage.s3.endpoint ? config.storage.s3.credentials : undefined
    invalidator = new CloudFrontInvalidator({
      distributionId: cdn.cloudfront.distributionId,
      pathPrefix,
      client: options.cloudFrontClient,
      credentials,
      retry: options.retry,
    })
  } else if (cdn.provider === 'http-purge') {
    invalidator = Object.assign(
      new HttpPurger({
        edges: cdn.purgeUrls,
        pathPrefix,
        ...(cdn.url ? { host: new URL(cdn.url).host } : {}),
        retry: options.retry,
      }),
      { close: () => {} },
    )
  }

  const signer =
    cdn.url && cdn.cloudfront.keyPairId && cdn.cloudfront.privateKey
      ? { keyPairId: cdn.cloudfront.keyPairId, privateKey: cdn.cloudfront.privateKey }
      : null

  return {
    provider: cdn.provider,
    publicUrl,
    stats,
    signedUrl(key, { expiresIn }) {
      if (!signer) return null
      return signCloudFrontUrl(publicUrl(key), new Date(Date.now() + expiresIn * 1000), signer)
    },
    async invalidate(paths, invalidateOptions = {}) {
      // With `none` there is nothing to invalidate: the service's delivery route reads the store.
      if (!invalidator || paths.length === 0) return
      try {
        await invalidator.invalidate(paths, invalidateOptions)
        options.onInvalidate?.({ provider: cdn.provider, paths: paths.length, outcome: 'ok' })
      } catch (error) {
        options.onInvalidate?.({ provider: cdn.provider, paths: paths.length, outcome: 'error' })
        throw error
      }
    },
    async warm(urls, warmOptions = {}) {
      const results = await requestThroughEdge(urls, {
        concurrency: cdn.warmConcurrency,
        signal: warmOptions.signal,
        fetch: options.fetch,
      })
      for (const r of results) stats.record('warm', r.result)
      const failure = warmFailure(results)
      if (failure) throw failure
      return results
    },
    async close() {
      invalidator?.close()
    },
  }
}
