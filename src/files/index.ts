/**
 * The files layer's public face: the `FileManager` facade over the use cases (upload, catalogue,
 * read, direct uploads, jobs), its types, and the adapter over the db layer. Layers above import
 * from here only.
 */
export { createFileManager, type FileJobs, type FileManagerDeps, type FilesLogger } from './manager.js'
export { createDbFileRepository } from './repository-db.js'
export { probeCdnHitRatio, type CdnProbeOptions, type CdnProbeReport } from './cdn-probe.js'
export type * from './types.js'
