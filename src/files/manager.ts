import * as catalogue from './catalogue.js'
import { resolveDeps, type FileManagerDeps } from './deps.js'
import * as direct from './direct-uploads.js'
import * as jobs from './jobs/index.js'
import * as read from './read.js'
import type { FileManager } from './types.js'
import * as upload from './upload.js'

export type { FileManagerDeps, FilesLogger } from './deps.js'
export type { FileJobs } from './jobs/index.js'

/**
 * The files layer as one object: the `FileManager` the HTTP service and embedders call, and the
 * `FileJobs` the queue runs. Each method is one use case of its own module (upload, read,
 * catalogue, direct uploads, jobs/*); this facade only fills in the dependencies.
 */
export function createFileManager(options: FileManagerDeps): FileManager & jobs.FileJobs {
  const deps = resolveDeps(options)
  return {
    uploadItemPhoto: (actor, itemId, input, ctx) => upload.uploadItemPhoto(deps, actor, itemId, input, ctx),
    uploadProfilePhoto: (actor, input, ctx) => upload.uploadProfilePhoto(deps, actor, input, ctx),
    uploadVerificationDocument: (actor, type, input, ctx) =>
      upload.uploadVerificationDocument(deps, actor, type, input, ctx),

    listItemPhotos: (itemId, actor) => catalogue.listItemPhotos(deps, itemId, actor),
    reorderItemPhotos: (actor, itemId, fileIds, ctx) => catalogue.reorderItemPhotos(deps, actor, itemId, fileIds, ctx),
    setItemOwner: (actor, itemId, ownerId, ctx) => catalogue.setItemOwner(deps, actor, itemId, ownerId, ctx),
    getProfilePhoto: (userId, actor) => catalogue.getProfilePhoto(deps, userId, actor),
    deleteProfilePhoto: (actor, userId, ctx) => catalogue.deleteProfilePhoto(deps, actor, userId, ctx),
    listVerificationDocuments: (actor, userId, ctx) => catalogue.listVerificationDocuments(deps, actor, userId, ctx),
    deleteFile: (actor, id, ctx) => catalogue.deleteFile(deps, actor, id, ctx),

    getFile: (actor, id, ctx) => read.getFile(deps, actor, id, ctx),
    getUrl: (actor, id, urlOptions, ctx) => read.getUrl(deps, actor, id, urlOptions, ctx),
    waitUntilSettled: (id, waitOptions) => read.waitUntilSettled(deps, id, waitOptions),

    createDirectUpload: (actor, request, ctx) => direct.createDirectUpload(deps, actor, request, ctx),
    completeDirectUpload: (actor, uploadId, completeOptions, ctx) =>
      direct.completeDirectUpload(deps, actor, uploadId, completeOptions, ctx),

    runVariantsJob: (payload, job) => jobs.runVariantsJob(deps, payload, job),
    runDeleteObjectsJob: (payload, job) => jobs.runDeleteObjectsJob(deps, payload, job),
    runPurgeCdnJob: (payload, job) => jobs.runPurgeCdnJob(deps, payload, job),
    runWarmCdnJob: (payload, job) => jobs.runWarmCdnJob(deps, payload, job),
    reprocess: (id) => jobs.reprocess(deps, id),
  }
}
