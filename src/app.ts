import { createCdn, registerCdnMetrics, type Cdn, type CdnOptions } from './cdn/index.js'
import type { Config } from './config/index.js'
import { createDatabase, migrateToLatest, pingDatabase, type Db } from './db/index.js'
import { createDbFileRepository, createFileManager, type FileJobs, type FileManager } from './files/index.js'
import type { HealthProbes } from './http/health.js'
import type { Metrics } from './http/metrics.js'
import { createImagePipeline, type ImagePipeline } from './images/index.js'
import {
  JOB_NAMES,
  OutboxRelay,
  outbox,
  consoleLogger,
  createJobQueue,
  runOutboxJob,
  type JobQueue,
  type JobQueueOptions,
  type JobsLogger,
  type OutboxHandlers,
  type Worker,
} from './jobs/index.js'
import { createObjectStore, type LocalexError, type ObjectStoreOverrides } from './storage/index.js'
import type { ObjectStore } from './storage/types.js'

export interface StorageOptions {
  /** Run queue workers in this process (default: `config.queue.serveWorkers > 0`). */
  workers?: boolean
  /** Run the outbox relay in this process (default true; any number of processes may). */
  relay?: boolean
  /** Run migrations before anything else (default `config.db.migrateOnStart`). */
  migrate?: boolean
  /** Pipeline stage durations, failed jobs and queue depth are reported here. */
  metrics?: Metrics
  logger?: JobsLogger
  store?: ObjectStoreOverrides
  /** Tests: shorter BullMQ lock/stall timings. */
  queue?: JobQueueOptions
  /** Tests: relay poll period and visibility timeout. */
  relayOptions?: { intervalMs?: number; visibilityMs?: number; retryDelayMs?: number }
  /** Tests: a mocked CloudFront client, shorter CDN retry timings. */
  cdn?: Pick<CdnOptions, 'cloudFrontClient' | 'fetch' | 'retry'>
}

/** Everything wired together: what `serve`, `worker` and the other commands (and embedders) use. */
export interface Storage {
  readonly config: Config
  readonly store: ObjectStore
  readonly images: ImagePipeline
  readonly db: Db
  readonly queue: JobQueue
  readonly relay: OutboxRelay | null
  readonly cdn: Cdn
  readonly files: FileManager & FileJobs
  readonly health: HealthProbes
  /** Starts queue workers for every job kind (idempotent); `worker` calls it, `serve` per config. */
  startWorkers(): Promise<void>
  /** Stops workers (in-flight jobs finish or are handed back), the relay, queue, database and store. */
  close(): Promise<void>
}

/**
 * The composition root: builds the store, pipeline, database, queue, relay, CDN and FileManager from
 * one validated config. Nothing below this file knows the others' concrete classes.
 */
export async function createStorage(config: Config, options: StorageOptions = {}): Promise<Storage> {
  const logger = options.logger ?? consoleLogger
  const metrics = options.metrics
  // Failures of the store itself (5xx codes), not answers such as "no such object".
  const onError = metrics
    ? (operation: string, error: LocalexError) => {
        if (error.status >= 500) metrics.storeErrors.inc({ operation, code: error.code })
      }
    : undefined
  const store = createObjectStore(config, { onError, ...options.store })
  const opened: Array<() => Promise<void>> = [() => store.close()]
  const closeAll = async () => {
    for (const close of opened.reverse())
      await close().catch((error: unknown) => logger.warn({ error: String(error) }, 'close failed'))
  }
  try {
    const db = await createDatabase(config, {
      onError: (error) => logger.warn({ error: String(error) }, 'database pool error'),
    })
    opened.push(() => db.destroy())
    if (options.migrate ?? config.db.migrateOnStart) await migrateToLatest(db)

    const queue = createJobQueue(config, { logger, ...options.queue })
    opened.push(() => queue.close())
    const images = createImagePipeline(config.images)
    const cdnMetrics = metrics ? registerCdnMetrics(metrics.registry) : undefined
    const cdn = createCdn(config, { ...options.cdn, ...(cdnMetrics ? { onInvalidate: cdnMetrics.onInvalidate } : {}) })
    cdnMetrics?.attach(cdn.stats)
    opened.push(() => cdn.close())

    const relay = options.relay === false ? null : new OutboxRelay({ db, queue, logger, ...options.relayOptions })
    const files = createFileManager({
      config,
      store,
      images,
      cdn,
      repo: createDbFileRepository(db),
      logger,
      notify: () => relay?.notify(),
      // Warming needs an edge to warm: a CDN URL.
      ...(config.cdn.warm && config.cdn.url
        ? {
            queueWarm: async (fileId: string) =>
              void (await outbox.add(db, { kind: 'warm_cdn', payload: { fileId }, fileId })),
          }
        : {}),
      ...(metrics
        ? { observe: (stage: string, seconds: number) => metrics.pipelineStageDuration.observe({ stage }, seconds) }
        : {}),
    })
    metrics?.setQueueDepthSource(async () => ({ ...(await queue.counts()) }))

    // Every job kind has its handler; each payload arrives typed by the payload map.
    const handlers: Required<OutboxHandlers> = {
      variants: (payload, job) => files.runVariantsJob(payload, job),
      delete_objects: (payload, job) => files.runDeleteObjectsJob(payload, job),
      purge_cdn: (payload, job) => files.runPurgeCdnJob(payload, job),
      warm_cdn: (payload, job) => files.runWarmCdnJob(payload, job),
    }
    const outboxHandler = runOutboxJob({
      db,
      handlers,
      logger,
      ...(options.relayOptions?.visibilityMs ? { visibilityMs: options.relayOptions.visibilityMs } : {}),
    })
    let worker: Worker | null = null

    const storage: Storage = {
      config,
      store,
      images,
      db,
      queue,
      relay,
      cdn,
      files,
      health: {
        db: () => pingDatabase(db),
        store: () => store.ping(),
        queue: () => queue.ping(),
      },
      async startWorkers() {
        if (worker) return
        worker = queue.work(JOB_NAMES, async (job) => {
          try {
            await outboxHandler(job)
          } catch (error) {
            metrics?.jobsFailed.inc({ job: job.name })
            throw error
          }
        })
      },
      async close() {
        await relay?.stop()
        await worker?.close()
        await closeAll()
      },
    }
    if (options.workers ?? config.queue.serveWorkers > 0) await storage.startWorkers()
    await relay?.start()
    return storage
  } catch (error) {
    await closeAll()
    throw error
  }
}
