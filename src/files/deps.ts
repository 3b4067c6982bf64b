import type { Cdn } from '../cdn/index.js'
import type { Config } from '../config/index.js'
import type { ImagePipeline } from '../images/index.js'
import { consoleLogger } from '../jobs/index.js'
import type { ObjectStore } from '../storage/types.js'
import type { FileRepository } from './repository.js'
import type { ItemOwnershipVerifier } from './types.js'

/**
 * Where the files layer reports failures it decided to continue past (best-effort cleanup whose
 * real guarantee is elsewhere). The queue's logger shape, so pino or the composition root's logger
 * fits as it is.
 */
export interface FilesLogger {
  warn(fields: Record<string, unknown>, message: string): void
  error(fields: Record<string, unknown>, message: string): void
}

/** What `createFileManager` takes. */
export interface FileManagerDeps {
  config: Config
  store: ObjectStore
  images: ImagePipeline
  repo: FileRepository
  cdn: Cdn
  /** Who owns an item; default: the registry in the database (first uploader, or an admin's choice). */
  ownership?: ItemOwnershipVerifier
  /** Pokes the outbox relay after a commit so queued work starts at once. */
  notify?: () => void
  /** Pipeline stage timings, for metrics. */
  observe?: (stage: string, seconds: number) => void
  /** Queues a `warm_cdn` job for a public file that just became ready (set when CDN_WARM is on). */
  queueWarm?: (fileId: string) => Promise<void>
  /** Default: the console. */
  logger?: FilesLogger
}

/** The dependencies with their defaults filled in: what every use case of this folder takes first. */
export interface FilesDeps {
  readonly config: Config
  readonly store: ObjectStore
  readonly images: ImagePipeline
  readonly repo: FileRepository
  readonly cdn: Cdn
  readonly ownership: ItemOwnershipVerifier
  readonly notify: () => void
  readonly observe: (stage: string, seconds: number) => void
  readonly queueWarm: ((fileId: string) => Promise<void>) | undefined
  readonly logger: FilesLogger
}

export function resolveDeps(deps: FileManagerDeps): FilesDeps {
  return {
    config: deps.config,
    store: deps.store,
    images: deps.images,
    repo: deps.repo,
    cdn: deps.cdn,
    ownership: deps.ownership ?? deps.repo.defaultOwnership(),
    notify: deps.notify ?? (() => {}),
    observe: deps.observe ?? (() => {}),
    queueWarm: deps.queueWarm,
    logger: deps.logger ?? consoleLogger,
  }
}

/** The fields a log line about a failure carries: the error's code and message. */
export function errorFields(error: unknown): { code: string; error: string } {
  const e = error as { code?: unknown; message?: unknown } | null
  return {
    code: typeof e?.code === 'string' ? e.code : 'INTERNAL',
    error: typeof e?.message === 'string' ? e.message : String(error),
  }
}
