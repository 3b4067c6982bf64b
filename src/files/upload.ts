import { Readable } from 'node:stream'
import {
  DOCUMENT_TYPES,
  ORIGINAL_VARIANT,
  isDocumentType,
  type AccessLevel,
  type DocumentType,
  type EntityType,
  type FileRecord,
} from '../domain/index.js'
import { LocalexError } from '../errors/index.js'
import { contentDisposition } from '../storage/content-disposition.js'
import { assertSafeId, keys, newId, safeFileName, sanitizeDisplayName } from '../storage/keys.js'
import { isAdmin, notFound, requireActor } from './access.js'
import { errorFields, type FilesDeps } from './deps.js'
import { afterRetire, failureReason } from './lifecycle.js'
import { ORIGINAL_STAGE, purgePaths } from './objects.js'
import { prepareUpload, type Prepared } from './prepare.js'
import { waitUntilSettled } from './read.js'
import type { Actor, FileView, RequestContext, UploadInput } from './types.js'
import { toView } from './view.js'

/**
 * The upload use case, for the three purposes: validate → store the original → record it as
 * `processing` with its variants job → answer. A retried upload with the same idempotency key
 * answers with the file it made the first time.
 */

export async function uploadItemPhoto(
  deps: FilesDeps,
  actor: Actor,
  itemId: string,
  input: UploadInput,
  ctx: RequestContext = {},
): Promise<FileView> {
  requireActor(actor, 'upload photos')
  assertSafeId(itemId, 'itemId')
  const owner = await assertMayAddPhotos(deps, actor, itemId)
  const replayed = await replay(deps, actor.id, input)
  if (replayed) return replayed
  const max = deps.config.files.maxPhotosPerItem
  // Cheap early refusal; the authoritative count is taken again inside the insert transaction.
  if ((await deps.repo.countActiveItemPhotos(itemId)) >= max) throw tooManyPhotos(max)

  const prepared = await prepareUpload(deps, input.body, 'item_photo', ctx.signal)
  if (owner === null) await deps.ownership.claim(itemId, actor.id)
  const id = newId()
  const prefix = keys.itemPhotoFolder(itemId, id)
  return write(deps, actor, ctx, input, prepared, {
    id,
    prefix,
    key: `${prefix}${ORIGINAL_VARIANT}.${prepared.ext}`,
    entityType: 'item',
    entityId: itemId,
    documentType: null,
    access: 'public',
    cacheControl: deps.config.files.cacheControl.public,
    itemLimit: max,
  })
}

export async function uploadProfilePhoto(
  deps: FilesDeps,
  actor: Actor,
  input: UploadInput,
  ctx: RequestContext = {},
): Promise<FileView> {
  requireActor(actor, 'set a profile photo')
  const replayed = await replay(deps, actor.id, input)
  if (replayed) return replayed
  const prepared = await prepareUpload(deps, input.body, 'profile_photo', ctx.signal)
  const id = newId()
  const prefix = keys.profilePhotoFolder(actor.id, id)
  return write(deps, actor, ctx, input, prepared, {
    id,
    prefix,
    key: `${prefix}${ORIGINAL_VARIANT}.${prepared.ext}`,
    entityType: 'profile',
    entityId: actor.id,
    documentType: null,
    access: 'public',
    cacheControl: deps.config.files.cacheControl.public,
    // Once the new photo is stored it becomes current; the one it replaces is retired in the
    // same transaction, so concurrent replacements leave exactly one current photo.
    replacesProfileOf: actor.id,
  })
}

export async function uploadVerificationDocument(
  deps: FilesDeps,
  actor: Actor,
  type: DocumentType,
  input: UploadInput,
  ctx: RequestContext = {},
): Promise<FileView> {
  requireActor(actor, 'upload documents')
  if (!isDocumentType(type)) throw invalidDocumentType('type')
  const replayed = await replay(deps, actor.id, input)
  if (replayed) return replayed
  const prepared = await prepareUpload(deps, input.body, 'document', ctx.signal)
  const id = newId()
  const prefix = keys.verificationFolder(actor.id, type, id)
  const stem = safeFileName(input.fileName, 'document').replace(/\.[a-z0-9]+$/, '')
  return write(deps, actor, ctx, input, prepared, {
    id,
    prefix,
    key: `${prefix}${stem}.${prepared.ext}`,
    entityType: 'verification',
    entityId: actor.id,
    documentType: type,
    access: 'private',
    cacheControl: deps.config.files.cacheControl.document,
  })
}

/** Owner of the item or an admin; resolves the owner on record (null: unclaimed item). */
export async function assertMayAddPhotos(
  deps: FilesDeps,
  actor: NonNullable<Actor>,
  itemId: string,
): Promise<string | null> {
  const owner = await deps.ownership.ownerOf(itemId)
  if (owner !== null && owner !== actor.id && !isAdmin(actor)) {
    throw new LocalexError('FORBIDDEN', "Only the item's owner or an admin may add photos")
  }
  return owner
}

export function invalidDocumentType(field: string): LocalexError {
  return new LocalexError('VALIDATION_FAILED', `${field} must be one of ${DOCUMENT_TYPES.join(', ')}`, {
    details: { field },
  })
}

/** Where and how a prepared upload is written. */
interface Target {
  id: string
  /** The file's folder. */
  prefix: string
  /** The original's key, under `prefix`. */
  key: string
  entityType: EntityType
  entityId: string
  documentType: DocumentType | null
  access: AccessLevel
  cacheControl: string
  /** Item photos: the limit, counted again in the inserting transaction. */
  itemLimit?: number
  /** Profile photos: the user whose current photo this becomes once stored. */
  replacesProfileOf?: string
}

/**
 * The write protocol: record `uploading` → original stored (conditional put) → record
 * `processing` and its variants job in one transaction (outbox) → the worker writes variants →
 * `ready`. A crash between any two steps leaves either nothing, or an `uploading` record that
 * cleanup removes with its objects after the grace period. Any failure here is compensated in one
 * place: what was written is removed and the record marked failed.
 */
async function write(
  deps: FilesDeps,
  actor: NonNullable<Actor>,
  ctx: RequestContext,
  input: UploadInput,
  prepared: Prepared,
  target: Target,
): Promise<FileView> {
  const fallbackName = `${target.entityType === 'verification' ? 'document' : 'photo'}.${prepared.ext}`
  const name = sanitizeDisplayName(input.fileName, fallbackName)
  const inserted = await deps.repo.insertUploading(
    {
      id: target.id,
      ownerId: actor.id,
      entityType: target.entityType,
      entityId: target.entityId,
      purpose: prepared.purpose,
      documentType: target.documentType,
      accessLevel: target.access,
      originalName: name,
      contentType: prepared.contentType,
      bytes: prepared.bytes,
      width: prepared.width,
      height: prepared.height,
      sha256: prepared.sha256,
      keyPrefix: target.prefix,
      objects: [{ ...prepared.original, key: target.key }],
      placeholder: prepared.placeholder,
      dominantColor: prepared.dominantColor,
      idempotencyKey: input.idempotencyKey ?? null,
    },
    target.itemLimit,
  )
  // Two retries of one upload raced: the loser answers with the winner's file.
  if (!inserted.created) return (await replay(deps, actor.id, input)) ?? toView(inserted.file, deps.cdn)

  let retired: FileRecord | null
  try {
    await deps.store.put(target.key, prepared.data, {
      contentType: prepared.contentType,
      // A sanitised original is replaced by the optimised one within seconds: caches may keep it
      // only briefly. Everything else under a file's keys is immutable.
      cacheControl:
        prepared.stage === 'sanitised' && target.access === 'public'
          ? deps.config.files.cacheControl.processing
          : target.cacheControl,
      ...(prepared.stage ? { metadata: { [ORIGINAL_STAGE]: prepared.stage } } : {}),
      ...(target.entityType === 'verification' ? { contentDisposition: contentDisposition(name, 'attachment') } : {}),
      ifNoneMatch: true,
      signal: ctx.signal,
    })
    retired = await deps.repo.markStored(target.id, {
      needsVariants: prepared.needsVariants,
      purgePathsOf: purgePaths,
      makeCurrentProfileOf: target.replacesProfileOf,
    })
  } catch (error) {
    await compensate(deps, target, error)
    throw error
  }
  if (retired) await afterRetire(deps, retired)
  deps.notify()
  await deps.repo.audit({
    actor,
    ctx,
    action: retired ? 'replace' : 'upload',
    fileId: target.id,
    entityType: target.entityType,
    entityId: target.entityId,
    details: { bytes: prepared.bytes, contentType: prepared.contentType, ...(retired ? { replaced: retired.id } : {}) },
  })

  if (input.wait) return waitUntilSettled(deps, target.id, ctx.signal ? { signal: ctx.signal } : {})
  const file = await deps.repo.getFile(target.id)
  // Only a delete racing this upload since `markStored` can have taken it.
  if (!file) throw notFound(target.id)
  return toView(file, deps.cdn)
}

/**
 * Undoes a half-done write: removes the original and marks the record `failed`. The caller then
 * rethrows the error that made the write fail, so neither step may replace it; each failure is
 * logged, and what it leaves behind is found by `cleanup` (see the comments).
 */
async function compensate(deps: FilesDeps, target: Target, cause: unknown): Promise<void> {
  const context = { fileId: target.id, key: target.key, cause: errorFields(cause).code }
  try {
    await deps.store.delete(target.key)
  } catch (error) {
    // The record is marked failed below; cleanup empties a failed file's folder after FAILED_RETENTION.
    const fields = { ...context, operation: 'delete_original', ...errorFields(error) }
    deps.logger.warn(fields, 'upload rollback could not delete the original')
  }
  try {
    await deps.repo.markFailed(target.id, failureReason(cause), ['uploading'])
  } catch (error) {
    // The record stays `uploading`; cleanup removes it with its objects after UPLOAD_GRACE.
    const fields = { ...context, operation: 'mark_failed', ...errorFields(error) }
    deps.logger.error(fields, 'upload rollback could not mark the file failed')
  }
}

/** A retried upload with the same idempotency key gives back the file it made the first time. */
async function replay(deps: FilesDeps, ownerId: string, input: UploadInput): Promise<FileView | null> {
  if (!input.idempotencyKey) return null
  const file = await deps.repo.getByIdempotencyKey(ownerId, input.idempotencyKey)
  if (!file || file.status === 'failed' || file.status === 'deleted') return null
  // The retry's bytes are not needed: drain them so the request completes.
  if (input.body instanceof Readable) input.body.resume()
  if (input.wait) return waitUntilSettled(deps, file.id)
  return toView(file, deps.cdn)
}

function tooManyPhotos(max: number): LocalexError {
  return new LocalexError('TOO_MANY_PHOTOS', `An item may have at most ${max} photos`, { details: { max } })
}
