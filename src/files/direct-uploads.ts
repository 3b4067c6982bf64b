import { isDocumentType, type DocumentType } from '../domain/index.js'
import { LocalexError, isLocalexError } from '../errors/index.js'
import { assertSafeId, keys, newId, sanitizeDisplayName } from '../storage/keys.js'
import { requireActor } from './access.js'
import { errorFields, type FilesDeps } from './deps.js'
import { getFile } from './read.js'
import type { Actor, DirectUpload, DirectUploadRequest, FileView, RequestContext, UploadInput } from './types.js'
import {
  assertMayAddPhotos,
  invalidDocumentType,
  uploadItemPhoto,
  uploadProfilePhoto,
  uploadVerificationDocument,
} from './upload.js'

/**
 * Direct uploads, for large files and mobile clients: the client POSTs the bytes straight to the
 * store under `temp/uploads/{id}/` (a presigned POST with the size limit in its policy), then
 * `complete` runs the normal upload from that temp object and removes it.
 */

/** Access is checked now, as for a normal upload, and again at completion. */
export async function createDirectUpload(
  deps: FilesDeps,
  actor: Actor,
  request: DirectUploadRequest,
  ctx: RequestContext = {},
): Promise<DirectUpload> {
  requireActor(actor, 'upload')
  let entityId = actor.id
  if (request.purpose === 'item_photo') {
    if (!request.itemId) {
      const details = { field: 'itemId' }
      throw new LocalexError('VALIDATION_FAILED', 'itemId is required for item photos', { details })
    }
    entityId = assertSafeId(request.itemId, 'itemId')
    await assertMayAddPhotos(deps, actor, entityId)
  }
  if (request.purpose === 'document' && (!request.documentType || !isDocumentType(request.documentType))) {
    throw invalidDocumentType('documentType')
  }
  const { files } = deps.config
  const id = newId()
  const fileName = sanitizeDisplayName(request.fileName, 'upload')
  const key = keys.tempUpload(id, fileName)
  const maxBytes = deps.config.images.maxBytes
  // The POST policy is short-lived; the record lives until TEMP_UPLOAD_TTL so `complete` can follow.
  const expiresIn = Math.max(60, Math.min(3600, Math.floor(files.tempUploadTtlMs / 1000)))
  const post = await deps.store.presignedPost(key, {
    expiresIn,
    contentLengthRange: { min: 1, max: maxBytes },
    contentType: request.contentType,
    cacheControl: files.cacheControl.temp,
    signal: ctx.signal,
  })
  const expiresAt = new Date(Date.now() + files.tempUploadTtlMs).toISOString()
  await deps.repo.insertUpload({
    id,
    ownerId: actor.id,
    purpose: request.purpose,
    entityId,
    documentType: request.documentType ?? null,
    key,
    fileName,
    contentType: request.contentType ?? null,
    maxBytes,
    expiresAt,
  })
  return { id, url: post.url, fields: post.fields, maxBytes, expiresAt: post.expiresAt.toISOString() }
}

/** Validates and processes the uploaded temp object like a normal upload, then removes it. */
export async function completeDirectUpload(
  deps: FilesDeps,
  actor: Actor,
  uploadId: string,
  options: { wait?: boolean; idempotencyKey?: string } = {},
  ctx: RequestContext = {},
): Promise<FileView> {
  requireActor(actor, 'upload')
  assertSafeId(uploadId, 'uploadId')
  const upload = await deps.repo.getUpload(uploadId)
  // Someone else's upload id is answered like a missing one.
  if (!upload || upload.ownerId !== actor.id) throw new LocalexError('NOT_FOUND', `Upload "${uploadId}" does not exist`)
  if (upload.status === 'completed' && upload.fileId) return getFile(deps, actor, upload.fileId, ctx)
  if (upload.status !== 'pending' || upload.expiresAt < new Date().toISOString()) {
    throw new LocalexError('NOT_FOUND', `Upload "${uploadId}" has expired`)
  }
  let object
  try {
    object = await deps.store.getStream(upload.key, ctx.signal ? { signal: ctx.signal } : {})
  } catch (error) {
    if (isLocalexError(error, 'OBJECT_NOT_FOUND')) {
      throw new LocalexError('VALIDATION_FAILED', 'Nothing was uploaded for this upload id yet', {
        details: { uploadId },
      })
    }
    throw error
  }
  const input: UploadInput = {
    body: object.body,
    fileName: upload.fileName,
    // An empty key is no key: the upload id then makes completion idempotent.
    idempotencyKey: options.idempotencyKey || `upload:${uploadId}`,
    wait: options.wait,
  }
  try {
    const view =
      upload.purpose === 'item_photo'
        ? await uploadItemPhoto(deps, actor, upload.entityId, input, ctx)
        : upload.purpose === 'profile_photo'
          ? await uploadProfilePhoto(deps, actor, input, ctx)
          : await uploadVerificationDocument(deps, actor, upload.documentType as DocumentType, input, ctx)
    await deps.repo.completeUpload(uploadId, view.id)
    await deps.store.delete(upload.key)
    return view
  } catch (error) {
    object.body.destroy()
    // Refused content goes at once: nothing of a hostile upload stays behind.
    if (isLocalexError(error) && error.status >= 400 && error.status < 500) {
      try {
        await deps.store.delete(upload.key)
      } catch (deleteError) {
        // The upload is marked expired next; cleanup removes an expired upload's temp object.
        deps.logger.warn(
          { uploadId, key: upload.key, operation: 'delete_temp_upload', ...errorFields(deleteError) },
          'could not delete a refused direct upload',
        )
      }
      await deps.repo.expireUpload(uploadId)
    }
    throw error
  }
}
