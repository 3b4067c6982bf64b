/**
 * localex-storage as a library. The one-call way in is `createStorage(loadConfig(process.env))`,
 * which wires store, pipeline, database, queue and CDN together and hands back the FileManager;
 * each layer is also usable alone (`createObjectStore`, `createImagePipeline`, `createDatabase`).
 * With the secrets unconfigured (the embedded default), call `ensureGeneratedSecrets(process.env)`
 * first: loading the config never writes the file they are generated into.
 */
export { createStorage, type Storage, type StorageOptions } from './app.js'
export { ensureGeneratedSecrets, loadConfig, redactConfig, type Config, type Env } from './config/index.js'
export * from './domain/index.js'
export { ERROR_CATALOGUE, ERROR_CODES, LocalexError, isLocalexError, type ErrorCode } from './errors/index.js'
export { createObjectStore, keys, type ObjectStore, type BucketAdmin } from './storage/index.js'
export {
  createImagePipeline,
  validatePdf,
  type ImagePipeline,
  type ImageFacts,
  type Output,
  type ProcessedImage,
  type PreparedOriginal,
} from './images/index.js'
export { createDatabase, migrateToLatest, migrationStatus, type Db } from './db/index.js'
export { createJobQueue, type JobQueue } from './jobs/index.js'
export { createCdn, type Cdn } from './cdn/index.js'
export {
  createFileManager,
  createDbFileRepository,
  type FileJobs,
  type FileManagerDeps,
  type FilesLogger,
} from './files/index.js'
export {
  setupBucket,
  cleanup,
  findOrphans,
  storageStats,
  startSchedules,
  type OpsContext,
  type SetupBucketSummary,
  type CleanupSummary,
  type OrphanSummary,
  type StatsSummary,
} from './ops/index.js'
export type * from './files/types.js'
export {
  buildHttpApp,
  startHttpServer,
  signToken,
  createMetrics,
  createDiskDeliveryHandler,
  createDiskUploadHandler,
  type HttpAppDeps,
  type NodeRequestHandler,
  type DiskHandlerOptions,
} from './http/index.js'
