import { LocalexError } from '../errors/index.js'
import { mapLimit } from '../lib/index.js'

/**
 * What an edge says it did with a request, from its response headers:
 * - `X-Cache` (CloudFront `Hit from cloudfront` / `RefreshHit …` / `Miss …`; Varnish and Fastly
 *   `HIT` / `MISS` / `PASS`; with shielding Fastly lists every layer, the edge nearest the client
 *   last, so the last token counts);
 * - otherwise `Age`: a positive age means the response came out of a cache.
 */
export const CACHE_RESULTS = ['hit', 'miss', 'pass', 'unknown'] as const
export type CacheResult = (typeof CACHE_RESULTS)[number]

/** Where an edge request came from: cache warming, or an explicit probe (`stats --cdn`). */
export const EDGE_SOURCES = ['warm', 'probe'] as const
export type EdgeSource = (typeof EDGE_SOURCES)[number]

type HeaderBag = Headers | Record<string, string | string[] | undefined>

export function classifyCacheResult(headers: HeaderBag): CacheResult {
  const get = (name: string): string | undefined => {
    if (headers instanceof Headers) return headers.get(name) ?? undefined
    const v = headers[name] ?? headers[name.toLowerCase()]
    return Array.isArray(v) ? v.join(', ') : v
  }
  const xCache = get('x-cache')
  if (xCache) {
    const last =
      xCache
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean)
        .pop() ?? ''
    if (/\bhit\b|refreshhit/i.test(last)) return 'hit'
    if (/\bpass\b/i.test(last)) return 'pass'
    if (/\bmiss\b/i.test(last)) return 'miss'
  }
  const age = get('age')
  if (age !== undefined && /^\d+$/.test(age.trim())) return Number(age) > 0 ? 'hit' : 'miss'
  return 'unknown'
}

export type EdgeCounts = Record<CacheResult | 'error', number>

export interface HitRatioReport {
  /** Requests answered (errors excluded). */
  requests: number
  hits: number
  misses: number
  /** Not cacheable on purpose (private objects): not part of the ratio. */
  passes: number
  /** No cache header to judge by. */
  unknown: number
  errors: number
  /** hits / (hits + misses); null before any cacheable answer. */
  hitRatio: number | null
}

export function reportOf(counts: EdgeCounts): HitRatioReport {
  const judged = counts.hit + counts.miss
  return {
    requests: counts.hit + counts.miss + counts.pass + counts.unknown,
    hits: counts.hit,
    misses: counts.miss,
    passes: counts.pass,
    unknown: counts.unknown,
    errors: counts.error,
    hitRatio: judged === 0 ? null : counts.hit / judged,
  }
}

export const emptyCounts = (): EdgeCounts => ({ hit: 0, miss: 0, pass: 0, unknown: 0, error: 0 })

/**
 * Hit and miss counts of this process, per source. `/metrics` exposes them (see `metrics.ts`);
 * `listen` lets a metrics registry count along.
 */
export class EdgeStats {
  readonly #counts: Record<EdgeSource, EdgeCounts> = { warm: emptyCounts(), probe: emptyCounts() }
  readonly #listeners = new Set<(source: EdgeSource, result: CacheResult | 'error') => void>()

  record(source: EdgeSource, result: CacheResult | 'error'): void {
    this.#counts[source][result]++
    for (const listener of this.#listeners) listener(source, result)
  }

  /** Counts per source; without a source, both added up. */
  snapshot(source?: EdgeSource): HitRatioReport {
    if (source) return reportOf({ ...this.#counts[source] })
    const sum = emptyCounts()
    for (const s of EDGE_SOURCES) for (const k of Object.keys(sum) as (keyof EdgeCounts)[]) sum[k] += this.#counts[s][k]
    return reportOf(sum)
  }

  listen(listener: (source: EdgeSource, result: CacheResult | 'error') => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }
}

export interface EdgeRequestOptions {
  /** Requests in flight at once (default 4). */
  concurrency?: number
  signal?: AbortSignal
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number
  fetch?: typeof fetch
}

export interface EdgeRequestResult {
  url: string
  status: number | null
  result: CacheResult | 'error'
  error?: string
}

/**
 * GETs each URL through the edge with at most `concurrency` requests in flight, reading every body
 * to the end (an edge may keep only what was fully fetched), and classifies each answer. Never
 * rejects for a failed request (it is reported as `error`); rejects only when the signal aborts,
 * after every request it started has settled.
 */
export async function requestThroughEdge(
  urls: readonly string[],
  options: EdgeRequestOptions = {},
): Promise<EdgeRequestResult[]> {
  const doFetch = options.fetch ?? globalThis.fetch
  const concurrency = Math.max(1, options.concurrency ?? 4)
  const timeoutMs = options.timeoutMs ?? 30_000
  const one = async (url: string): Promise<EdgeRequestResult> => {
    const signal = options.signal
      ? AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)])
      : AbortSignal.timeout(timeoutMs)
    try {
      const response = await doFetch(url, { method: 'GET', signal, headers: { 'user-agent': 'localex-storage-cdn' } })
      // Drain: the edge stores what it fetched; an abandoned body may be dropped.
      await response.arrayBuffer()
      if (response.status >= 500)
        return { url, status: response.status, result: 'error', error: `HTTP ${response.status}` }
      // A 404 (deleted meanwhile) or a refusal says nothing about caching.
      if (response.status >= 400) return { url, status: response.status, result: 'unknown' }
      return { url, status: response.status, result: classifyCacheResult(response.headers) }
    } catch (error) {
      return { url, status: null, result: 'error', error: error instanceof Error ? error.message : String(error) }
    }
  }
  // Bounded fan-out; every request started settles before we return or throw.
  return mapLimit(urls, concurrency, one, { signal: options.signal })
}

/**
 * Measures the hit ratio of `urls` at the edge right now: one GET each (so a probe also fills the
 * cache for the next one). What `localex-storage stats --cdn` prints.
 */
export async function probeHitRatio(
  urls: readonly string[],
  options: EdgeRequestOptions & { stats?: EdgeStats } = {},
): Promise<HitRatioReport & { results: EdgeRequestResult[] }> {
  const results = await requestThroughEdge(urls, options)
  const counts = emptyCounts()
  for (const r of results) {
    counts[r.result]++
    options.stats?.record('probe', r.result)
  }
  return { ...reportOf(counts), results }
}

/** Turns the failed requests of a warming run into the error the outbox retries on. */
export function warmFailure(results: readonly EdgeRequestResult[]): LocalexError | null {
  const failed = results.filter((r) => r.result === 'error')
  if (failed.length === 0) return null
  return new LocalexError('CDN_ERROR', `Warming failed for ${failed.length} of ${results.length} URLs`, {
    details: { failed: failed.slice(0, 5).map((f) => ({ url: f.url, status: f.status, error: f.error })) },
  })
}
