import { Counter, Gauge, type Registry } from 'prom-client'
import type { CdnOptions } from './index.js'
import { CACHE_RESULTS, EDGE_SOURCES, type EdgeStats } from './edge.js'

export const CDN_METRIC_NAMES = [
  'cdn_edge_requests_total',
  'cdn_hit_ratio',
  'cdn_invalidations_total',
  'cdn_invalidated_paths_total',
] as const

export interface CdnMetrics {
  /** Pass to `createCdn(config, { onInvalidate })`. */
  onInvalidate: NonNullable<CdnOptions['onInvalidate']>
  /** Counts the edge requests `stats` records from now on; the hit ratio is read at scrape time. */
  attach(stats: EdgeStats): void
}

/**
 * The CDN's series on the service's registry (the one `/metrics` renders):
 * - `cdn_edge_requests_total{source="warm|probe",result="hit|miss|pass|unknown|error"}`
 * - `cdn_hit_ratio{source}`: hits / (hits + misses) of this process so far (absent before any)
 * - `cdn_invalidations_total{provider,outcome="ok|error"}`, `cdn_invalidated_paths_total{provider}`:
 *   failed invalidations stay visible here while the outbox retries them.
 */
export function registerCdnMetrics(registry: Registry, options: { prefix?: string } = {}): CdnMetrics {
  const prefix = options.prefix ?? 'localex_'
  const registers = [registry]
  const edgeRequests = new Counter({
    name: `${prefix}cdn_edge_requests_total`,
    help: 'Requests made through the CDN edge by warming and probes, by what the edge said (X-Cache/Age).',
    labelNames: ['source', 'result'],
    registers,
  })
  let attached: EdgeStats | undefined
  new Gauge({
    name: `${prefix}cdn_hit_ratio`,
    help: 'Edge hit ratio of warming and probe requests: hits / (hits + misses), since the process started.',
    labelNames: ['source'],
    registers,
    collect() {
      this.reset()
      if (!attached) return
      for (const source of EDGE_SOURCES) {
        const ratio = attached.snapshot(source).hitRatio
        if (ratio !== null) this.set({ source }, ratio)
      }
    },
  })
  const invalidations = new Counter({
    name: `${prefix}cdn_invalidations_total`,
    help: 'CDN invalidation calls (each is retried from the outbox until it succeeds), by outcome.',
    labelNames: ['provider', 'outcome'],
    registers,
  })
  const invalidatedPaths = new Counter({
    name: `${prefix}cdn_invalidated_paths_total`,
    help: 'Paths handed to successful CDN invalidations.',
    labelNames: ['provider'],
    registers,
  })
  // Every series exists from the start, so a dashboard shows zeros rather than gaps.
  for (const source of EDGE_SOURCES)
    for (const result of [...CACHE_RESULTS, 'error']) edgeRequests.inc({ source, result }, 0)
  return {
    onInvalidate({ provider, paths, outcome }) {
      invalidations.inc({ provider, outcome })
      if (outcome === 'ok') invalidatedPaths.inc({ provider }, paths)
    },
    attach(stats) {
      attached = stats
      stats.listen((source, result) => edgeRequests.inc({ source, result }))
    },
  }
}
