import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/**
 * The Prometheus metrics of one service instance, on a registry of its own (never prom-client's
 * global one, so two apps in one process, or tests, do not collide). The HTTP layer records
 * requests and uploads; the other layers receive this object and record what they own:
 *
 * - images: `pipelineStageDuration.observe({ stage: 'decode' }, seconds)` (or `startTimer`)
 * - jobs: `setQueueDepthSource(async () => ({ waiting: 3, active: 1, delayed: 0, failed: 2 }))`,
 *   `jobsFailed.inc({ job: 'variants' })`
 * - storage: `storeErrors.inc({ operation: 'put', code: 'STORE_UNAVAILABLE' })`
 */
export interface Metrics {
  readonly registry: Registry
  readonly httpRequests: Counter<'method' | 'route' | 'status_code'>
  readonly httpRequestDuration: Histogram<'method' | 'route' | 'status_code'>
  readonly uploadBytes: Histogram<'purpose'>
  readonly uploadDuration: Histogram<'purpose' | 'outcome'>
  readonly pipelineStageDuration: Histogram<'stage'>
  readonly queueDepth: Gauge<'state'>
  readonly jobsFailed: Counter<'job'>
  readonly storeErrors: Counter<'operation' | 'code'>
  /** Where `queueDepth` is read from at scrape time (the jobs layer calls this once). */
  setQueueDepthSource(source: (() => Promise<Record<string, number>>) | undefined): void
  /** The text exposition format. */
  render(): Promise<string>
  readonly contentType: string
}

export interface MetricsOptions {
  /** Prefix of every name. Default `localex_`. */
  prefix?: string
  /** Node process metrics too (event loop lag, heap, GC): on in `serve`, off by default in tests. */
  defaultMetrics?: boolean
}

export const METRIC_NAMES = [
  'http_requests_total',
  'http_request_duration_seconds',
  'upload_bytes',
  'upload_duration_seconds',
  'pipeline_stage_duration_seconds',
  'queue_depth',
  'jobs_failed_total',
  'store_errors_total',
] as const

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const prefix = options.prefix ?? 'localex_'
  const registry = new Registry()
  const registers = [registry]
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix })

  let queueDepthSource: (() => Promise<Record<string, number>>) | undefined
  const MB = 1024 * 1024

  const metrics: Metrics = {
    registry,
    contentType: registry.contentType,
    httpRequests: new Counter({
      name: `${prefix}http_requests_total`,
      help: 'HTTP requests answered, by route pattern, method and status.',
      labelNames: ['method', 'route', 'status_code'],
      registers,
    }),
    httpRequestDuration: new Histogram({
      name: `${prefix}http_request_duration_seconds`,
      help: 'Time from the request arriving to the response being sent.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    uploadBytes: new Histogram({
      name: `${prefix}upload_bytes`,
      help: 'Size of accepted uploads as received (before optimisation).',
      labelNames: ['purpose'],
      buckets: [16 * 1024, 64 * 1024, 256 * 1024, MB, 2 * MB, 5 * MB, 10 * MB, 25 * MB, 50 * MB],
      registers,
    }),
    uploadDuration: new Histogram({
      name: `${prefix}upload_duration_seconds`,
      help: 'Time to receive, validate and store an upload, by purpose and outcome (code or "ok").',
      labelNames: ['purpose', 'outcome'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
      registers,
    }),
    pipelineStageDuration: new Histogram({
      name: `${prefix}pipeline_stage_duration_seconds`,
      help: 'Image pipeline stage durations (sniff, decode, encode, variants, store, ...).',
      labelNames: ['stage'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    queueDepth: new Gauge({
      name: `${prefix}queue_depth`,
      help: 'Jobs in the queue by state, read when scraped.',
      labelNames: ['state'],
      registers,
      async collect() {
        if (!queueDepthSource) return
        this.reset()
        try {
          for (const [state, n] of Object.entries(await queueDepthSource())) this.set({ state }, n)
        } catch {
          // A queue that cannot answer has no depth to report; /readyz says why.
          this.reset()
        }
      },
    }),
    jobsFailed: new Counter({
      name: `${prefix}jobs_failed_total`,
      help: 'Jobs that failed (each failed attempt), by job name.',
      labelNames: ['job'],
      registers,
    }),
    storeErrors: new Counter({
      name: `${prefix}store_errors_total`,
      help: 'Object store errors after retries, by operation and error code.',
      labelNames: ['operation', 'code'],
      registers,
    }),
    setQueueDepthSource(source) {
      queueDepthSource = source
    },
    render: () => registry.metrics(),
  }
  return metrics
}
