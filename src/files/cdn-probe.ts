import type { Config } from '../config/index.js'
import { createCdn, probeHitRatio, type Cdn, type HitRatioReport } from '../cdn/index.js'
import { files, type Db } from '../db/index.js'

export interface CdnProbeOptions {
  /** How many of the most recently ready public files to request (default 50); every object of each. */
  files?: number
  /** Requests in flight (default CDN_WARM_CONCURRENCY). */
  concurrency?: number
  signal?: AbortSignal
  /** A CDN to use (and whose `stats` count the probes); default: one built from the config. */
  cdn?: Cdn
  fetch?: typeof fetch
}

export type CdnProbeReport = HitRatioReport & {
  /** Null when there is no edge to ask (no CDN_URL). */
  cdnUrl: string | null
  files: number
  urls: number
}

/**
 * The edge's hit ratio right now, for `localex-storage stats --cdn`: one GET through the CDN for
 * every object of the most recently ready public files, classified from `X-Cache`/`Age`. It says
 * what share of those URLs the edge (the CloudFront POP nearest to where this runs) holds; a probe
 * also fills the cache, so a second run reads higher. Without CDN_URL there is no edge: the
 * report is empty with `hitRatio: null`.
 */
export async function probeCdnHitRatio(
  ctx: { config: Config; db: Db },
  options: CdnProbeOptions = {},
): Promise<CdnProbeReport> {
  const empty: CdnProbeReport = {
    cdnUrl: ctx.config.cdn.url ?? null,
    files: 0,
    urls: 0,
    requests: 0,
    hits: 0,
    misses: 0,
    passes: 0,
    unknown: 0,
    errors: 0,
    hitRatio: null,
  }
  if (!ctx.config.cdn.url) return empty
  const records = await files.listRecentlyReadyPublic(ctx.db, Math.max(1, options.files ?? 50))
  const cdn = options.cdn ?? createCdn(ctx.config)
  try {
    const urls = records.flatMap((r) => r.objects.map((o) => cdn.publicUrl(o.key)))
    const report = await probeHitRatio(urls, {
      concurrency: options.concurrency ?? ctx.config.cdn.warmConcurrency,
      stats: cdn.stats,
      signal: options.signal,
      fetch: options.fetch,
    })
    const { results: _results, ...counts } = report
    return { ...counts, cdnUrl: ctx.config.cdn.url, files: records.length, urls: urls.length }
  } finally {
    if (!options.cdn) await cdn.close()
  }
}
