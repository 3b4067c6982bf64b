import { Readable } from 'node:stream'
import type { Config } from '../config/index.js'
import type { Cdn } from '../cdn/index.js'
import type { StoredObject } from '../db/schema.js'
import { isDocumentType, type DocumentType, type Purpose } from '../domain/index.js'
import { LocalexError, isLocalexError } from '../errors/index.js'
import { readLimited, sniffType, type ImagePipeline, type Output } from '../images/index.js'
import { sleep } from '../lib/index.js'
import { contentDisposition } from '../storage/content-disposition.js'
import { assertSafeId, keys, newId, safeFileName, sanitizeDisplayName } from '../storage/keys.js'
import type { ObjectStore } from '../storage/types.js'
import { assertCanModify, assertCanRead, assertSelfOrAdmin, isAdmin, notFound, requireActor } from './access.js'
import type { FileRecord, FileRepository } from './repository.js'
import type {
  Actor,
  DirectUpload,
  DirectUploadRequest,
  FileManager,
  FileView,
  ItemOwnershipVerifier,
  RequestContext,
  SignedUrl,
  UploadInput,
} from './types.js'
import { originalObject, toView } from './view.js'

/**
 * Object metadata on a file's original (`x-amz-meta-localex-original`): `sanitised` as stored by the
 * upload, `optimised` once the variants job replaced it. Read by that job, so a redelivery or a
 * reprocess never re-encodes an optimised original.
 */
const ORIGINAL_STAGE = 'localex-original'

export interface FileManagerDeps {
  config: Config
  store: ObjectStore
  images: ImagePipeline
  repo: FileRepository
  cdn: Cdn
  ownership?: ItemOwnershipVerifier
  /** Pokes the outbox relay after a commit so queued work starts at once. */
  notify?: () => void
  /** Pipeline stage timings, for metrics. */
  observe?: (stage: string, seconds: number) => void
  /** Queues a `warm_cdn` job for a public file that just became ready (set when CDN_WARM is on). */
  queueWarm?: (fileId: string) => Promise<void>
}

/** What a file about to be written needs, after validation and before any row exists. */
interface Prepared {
  purpose: Purpose
  contentType: string
  ext: string
  data: Buffer
  width: number | null
  height: number | null
  bytes: number
  sha256: string
  placeholder: string | null
  dominantColor: string | null
  /** The first stored object (original in its main format). */
  original: Omit<StoredObject, 'key'>
  /** Documents that are PDFs need no variants. */
  needsVariants: boolean
  /** Images: whether the stored original is still to be replaced by the optimised one. */
  stage: 'sanitised' | 'optimised' | null
}

const OUTPUT_FORMATS: Record<string, StoredObject['format']> = { jpeg: 'jpeg', png: 'png', webp: 'webp', avif: 'avif' }

export function createFileManager(deps: FileManagerDeps): FileManager & FileJobs {
  return new DefaultFileManager(deps)
}

/** Work the queue runs for the file layer: registered with the outbox by the composition root. */
export interface FileJobs {
  /** Writes the variants of a `processing` file; idempotent under redelivery. */
  runVariantsJob(payload: { fileId: string }, job: { attempt: number; final: boolean; signal?: AbortSignal }): Promise<void>
  /** Removes every object under a deleted file's folder (and what a racing job may have written). */
  runDeleteObjectsJob(payload: { fileId: string; prefix: string }, job: { signal?: AbortSignal }): Promise<void>
  /** Drops paths from the edge; retried from the outbox until the CDN accepts them. */
  runPurgeCdnJob(payload: { paths: string[] }, job: { id?: string; signal?: AbortSignal }): Promise<void>
  /** Requests a ready public file's URLs through the CDN so first readers hit (best effort). */
  runWarmCdnJob(payload: { fileId: string }, job: { signal?: AbortSignal }): Promise<void>
  /** Renders a `ready` file's variants again from its stored original (after a config change). */
  reprocess(id: string): Promise<boolean>
}

class DefaultFileManager implements FileManager, FileJobs {
  readonly #config: Config
  readonly #store: ObjectStore
  readonly #images: ImagePipeline
  readonly #repo: FileRepository
  readonly #cdn: Cdn
  readonly #ownership: ItemOwnershipVerifier
  readonly #notify: () => void
  readonly #observe: (stage: string, seconds: number) => void
  readonly #queueWarm: ((fileId: string) => Promise<void>) | undefined

  constructor(deps: FileManagerDeps) {
    this.#config = deps.config
    this.#store = deps.store
    this.#images = deps.images
    this.#repo = deps.repo
    this.#cdn = deps.cdn
    this.#ownership = deps.ownership ?? deps.repo.defaultOwnership()
    this.#notify = deps.notify ?? (() => {})
    this.#observe = deps.observe ?? (() => {})
    this.#queueWarm = deps.queueWarm
  }

  // ---------------------------------------------------------------- item photos

  async uploadItemPhoto(actor: Actor, itemId: string, input: UploadInput, ctx: RequestContext = {}): Promise<FileView> {
    requireActor(actor, 'upload photos')
    assertSafeId(itemId, 'itemId')
    const owner = await this.#ownership.ownerOf(itemId)
    if (owner !== null && owner !== actor.id && !isAdmin(actor)) throw new LocalexError('FORBIDDEN', "Only the item's owner or an admin may add photos")
    const replay = await this.#replay(actor.id, input)
    if (replay) return replay
    // Cheap early refusal; the authoritative count is taken again inside the insert transaction.
    if ((await this.#repo.countActiveItemPhotos(itemId)) >= this.#config.files.maxPhotosPerItem) throw tooManyPhotos(this.#config.files.maxPhotosPerItem)

    const prepared = await this.#prepare(input.body, 'item_photo', ctx.signal)
    if (owner === null) await this.#ownership.claim(itemId, actor.id)
    const id = newId()
    const prefix = keys.itemPhotoFolder(itemId, id)
    return this.#write(actor, ctx, input, prepared, {
      id,
      prefix,
      key: `${prefix}original.${prepared.ext}`,
      entityType: 'item',
      entityId: itemId,
      documentType: null,
      access: 'public',
      cacheControl: this.#config.files.cacheControl.public,
      itemLimit: this.#config.files.maxPhotosPerItem,
    })
  }

  async listItemPhotos(itemId: string, _actor: Actor = null): Promise<FileView[]> {
    assertSafeId(itemId, 'itemId')
    const rows = await this.#repo.listItemPhotos(itemId)
    return rows.map((row) => toView(row, this.#cdn))
  }

  async reorderItemPhotos(actor: Actor, itemId: string, fileIds: string[], ctx: RequestContext = {}): Promise<FileView[]> {
    requireActor(actor, 'reorder photos')
    assertSafeId(itemId, 'itemId')
    const owner = await this.#ownership.ownerOf(itemId)
    if (owner !== actor.id && !isAdmin(actor)) throw new LocalexError('FORBIDDEN', "Only the item's owner or an admin may reorder photos")
    const rows = await this.#repo.reorderItemPhotos(itemId, fileIds)
    if (!rows) {
      throw new LocalexError('CONFLICT', "fileIds must list each of the item's current photos exactly once", { details: { itemId } })
    }
    await this.#repo.audit({ actor, ctx, action: 'reorder', entityType: 'item', entityId: itemId, details: { fileIds } })
    return rows.map((row) => toView(row, this.#cdn))
  }

  async setItemOwner(actor: Actor, itemId: string, ownerId: string, ctx: RequestContext = {}): Promise<void> {
    requireActor(actor)
    if (!isAdmin(actor)) throw new LocalexError('FORBIDDEN', 'Only admins may register or transfer items')
    assertSafeId(itemId, 'itemId')
    assertSafeId(ownerId, 'ownerId')
    const previous = await this.#repo.setItemOwner(itemId, ownerId)
    await this.#repo.audit({ actor, ctx, action: previous ? 'transfer_owner' : 'register_owner', entityType: 'item', entityId: itemId, details: { from: previous, to: ownerId } })
  }

  // ---------------------------------------------------------------- profile photos

  async uploadProfilePhoto(actor: Actor, input: UploadInput, ctx: RequestContext = {}): Promise<FileView> {
    requireActor(actor, 'set a profile photo')
    const replay = await this.#replay(actor.id, input)
    if (replay) return replay
    const prepared = await this.#prepare(input.body, 'profile_photo', ctx.signal)
    const id = newId()
    const prefix = keys.profilePhotoFolder(actor.id, id)
    const view = await this.#write(actor, ctx, input, prepared, {
      id,
      prefix,
      key: `${prefix}original.${prepared.ext}`,
      entityType: 'profile',
      entityId: actor.id,
      documentType: null,
      access: 'public',
      cacheControl: this.#config.files.cacheControl.public,
      // Once the new photo is stored it becomes current; the one it replaces is retired in the
      // same transaction, so concurrent replacements leave exactly one current photo.
      afterStored: { replacesProfileOf: actor.id },
    })
    return view
  }

  async getProfilePhoto(userId: string, actor: Actor = null): Promise<FileView> {
    assertSafeId(userId, 'userId')
    const row = await this.#repo.currentProfilePhoto(userId)
    if (!row) throw new LocalexError('NOT_FOUND', `User "${userId}" has no profile photo`)
    assertCanRead(actor, row)
    return toView(row, this.#cdn)
  }

  async deleteProfilePhoto(actor: Actor, userId: string, ctx: RequestContext = {}): Promise<void> {
    assertSelfOrAdmin(actor, userId)
    const row = await this.#repo.currentProfilePhoto(userId)
    if (!row) throw new LocalexError('NOT_FOUND', `User "${userId}" has no profile photo`)
    await this.#retire(actor, ctx, row, 'delete')
  }

  // ---------------------------------------------------------------- verification documents

  async uploadVerificationDocument(actor: Actor, type: DocumentType, input: UploadInput, ctx: RequestContext = {}): Promise<FileView> {
    requireActor(actor, 'upload documents')
    if (!isDocumentType(type)) throw new LocalexError('VALIDATION_FAILED', 'type must be one of id_card, passport, drivers_license, proof_of_address', { details: { field: 'type' } })
    const replay = await this.#replay(actor.id, input)
    if (replay) return replay
    const prepared = await this.#prepare(input.body, 'document', ctx.signal)
    const id = newId()
    const prefix = keys.verificationFolder(actor.id, type, id)
    const stem = safeFileName(input.fileName, 'document').replace(/\.[a-z0-9]+$/, '')
    return this.#write(actor, ctx, input, prepared, {
      id,
      prefix,
      key: `${prefix}${stem}.${prepared.ext}`,
      entityType: 'verification',
      entityId: actor.id,
      documentType: type,
      access: 'private',
      cacheControl: this.#config.files.cacheControl.document,
    })
  }

  async listVerificationDocuments(actor: Actor, userId: string, ctx: RequestContext = {}): Promise<FileView[]> {
    assertSelfOrAdmin(actor, userId)
    const rows = await this.#repo.listDocuments(userId)
    if (actor.id !== userId) await this.#repo.audit({ actor, ctx, action: 'list_private', entityType: 'verification', entityId: userId })
    return rows.map((row) => toView(row, this.#cdn))
  }

  // ---------------------------------------------------------------- any file

  async getFile(actor: Actor, id: string, ctx: RequestContext = {}): Promise<FileView> {
    const row = await this.#visibleRow(actor, id)
    if (row.access_level === 'public') return toView(row, this.#cdn)
    const original = originalObject(row.objects)
    const url = original ? await this.#signed(actor, ctx, row, original) : null
    return toView(row, this.#cdn, url?.url ?? null)
  }

  async getUrl(actor: Actor, id: string, options: { variant?: string; format?: string } = {}, ctx: RequestContext = {}): Promise<SignedUrl> {
    const row = await this.#visibleRow(actor, id)
    const objects = row.objects
    const variant = options.variant ?? 'original'
    const object = objects.find((o) => o.variant === variant && (options.format === undefined || o.format === options.format))
    if (!object) {
      throw new LocalexError('NOT_FOUND', `File "${id}" has no ${variant}${options.format ? ` in ${options.format}` : ''}${row.status === 'processing' ? ' yet' : ''}`, { details: { id, variant, format: options.format, available: objects.map((o) => `${o.variant}.${o.format}`) } })
    }
    if (row.access_level === 'public') return { url: this.#cdn.publicUrl(object.key), variant: object.variant, format: object.format }
    return this.#signed(actor, ctx, row, object)
  }

  async deleteFile(actor: Actor, id: string, ctx: RequestContext = {}): Promise<void> {
    const row = await this.#repo.getFile(id)
    if (!row || row.status === 'deleted') throw notFound(id)
    const entityOwner = row.entity_type === 'item' ? await this.#ownership.ownerOf(row.entity_id) : row.entity_id
    assertCanModify(actor, row, entityOwner)
    await this.#retire(actor, ctx, row, 'delete')
  }

  async waitUntilSettled(id: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<FileView> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000)
    for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
      const row = await this.#repo.getFile(id)
      if (!row) throw notFound(id)
      if (row.status !== 'processing' && row.status !== 'uploading') return toView(row, this.#cdn)
      if (Date.now() > deadline) return toView(row, this.#cdn)
      await sleep(delay, { signal: options.signal })
    }
  }

  // ---------------------------------------------------------------- direct uploads

  async createDirectUpload(actor: Actor, request: DirectUploadRequest, ctx: RequestContext = {}): Promise<DirectUpload> {
    requireActor(actor, 'upload')
    let entityId = actor.id
    if (request.purpose === 'item_photo') {
      if (!request.itemId) throw new LocalexError('VALIDATION_FAILED', 'itemId is required for item photos', { details: { field: 'itemId' } })
      entityId = assertSafeId(request.itemId, 'itemId')
      const owner = await this.#ownership.ownerOf(entityId)
      if (owner !== null && owner !== actor.id && !isAdmin(actor)) throw new LocalexError('FORBIDDEN', "Only the item's owner or an admin may add photos")
    }
    if (request.purpose === 'document' && (!request.documentType || !isDocumentType(request.documentType))) {
      throw new LocalexError('VALIDATION_FAILED', 'documentType must be one of id_card, passport, drivers_license, proof_of_address', { details: { field: 'documentType' } })
    }
    const id = newId()
    const fileName = sanitizeDisplayName(request.fileName, 'upload')
    const key = keys.tempUpload(id, fileName)
    const maxBytes = this.#config.images.maxBytes
    // The POST policy is short-lived; the row lives until TEMP_UPLOAD_TTL so `complete` can follow.
    const expiresIn = Math.max(60, Math.min(3600, Math.floor(this.#config.files.tempUploadTtlMs / 1000)))
    const post = await this.#store.presignedPost(key, {
      expiresIn,
      contentLengthRange: { min: 1, max: maxBytes },
      ...(request.contentType ? { contentType: request.contentType } : {}),
      cacheControl: this.#config.files.cacheControl.temp,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    })
    const expiresAt = new Date(Date.now() + this.#config.files.tempUploadTtlMs).toISOString()
    await this.#repo.insertUpload({
      id,
      owner_id: actor.id,
      purpose: request.purpose,
      entity_id: entityId,
      document_type: request.documentType ?? null,
      key,
      file_name: fileName,
      content_type: request.contentType ?? null,
      max_bytes: maxBytes,
      expires_at: expiresAt,
    })
    return { id, url: post.url, fields: post.fields, maxBytes, expiresAt: post.expiresAt.toISOString() }
  }

  async completeDirectUpload(actor: Actor, uploadId: string, options: { wait?: boolean; idempotencyKey?: string } = {}, ctx: RequestContext = {}): Promise<FileView> {
    requireActor(actor, 'upload')
    assertSafeId(uploadId, 'uploadId')
    const upload = await this.#repo.getUpload(uploadId)
    // Someone else's upload id is answered like a missing one.
    if (!upload || upload.owner_id !== actor.id) throw new LocalexError('NOT_FOUND', `Upload "${uploadId}" does not exist`)
    if (upload.status === 'completed' && upload.file_id) return this.getFile(actor, upload.file_id, ctx)
    if (upload.status !== 'pending' || upload.expires_at < new Date().toISOString()) throw new LocalexError('NOT_FOUND', `Upload "${uploadId}" has expired`)
    let object
    try {
      object = await this.#store.getStream(upload.key, ctx.signal ? { signal: ctx.signal } : {})
    } catch (error) {
      if (isLocalexError(error, 'OBJECT_NOT_FOUND')) throw new LocalexError('VALIDATION_FAILED', 'Nothing was uploaded for this upload id yet', { details: { uploadId } })
      throw error
    }
    const input: UploadInput = {
      body: object.body,
      fileName: upload.file_name,
      ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : { idempotencyKey: `upload:${uploadId}` }),
      ...(options.wait ? { wait: options.wait } : {}),
    }
    try {
      const view =
        upload.purpose === 'item_photo'
          ? await this.uploadItemPhoto(actor, upload.entity_id, input, ctx)
          : upload.purpose === 'profile_photo'
            ? await this.uploadProfilePhoto(actor, input, ctx)
            : await this.uploadVerificationDocument(actor, upload.document_type as DocumentType, input, ctx)
      await this.#repo.completeUpload(uploadId, view.id)
      await this.#store.delete(upload.key)
      return view
    } catch (error) {
      object.body.destroy()
      // Refused content goes at once: nothing of a hostile upload stays behind.
      if (isLocalexError(error) && error.status >= 400 && error.status < 500) {
        await this.#store.delete(upload.key).catch(() => undefined)
        await this.#repo.expireUpload(uploadId)
      }
      throw error
    }
  }

  // ---------------------------------------------------------------- jobs

  async runVariantsJob(payload: { fileId: string }, job: { attempt: number; final: boolean; signal?: AbortSignal }): Promise<void> {
    const row = await this.#repo.getFile(payload.fileId)
    if (!row || row.status === 'ready') return
    if (row.status !== 'processing') {
      // Deleted or failed meanwhile: make sure nothing this job might have written survives.
      await this.#removeDerived(row)
      return
    }
    const objects = row.objects
    const original = originalObject(objects)
    if (!original) throw new LocalexError('INTERNAL', `File ${row.id} has no original`)
    const written: StoredObject[] = []
    try {
      const started = performance.now()
      const io = job.signal ? { signal: job.signal } : {}
      // One GET for the bytes and the metadata that says what they are (the object may be replaced
      // by a concurrent duplicate between two requests).
      const { body, metadata } = await this.#store.getStream(original.key, io)
      const source = await readLimited(body, Number.MAX_SAFE_INTEGER, job.signal)
      // Only the sanitised original of an upload is re-encoded; an optimised one (a reprocess, or a
      // redelivery after the replacement below) is used as it is, so no generation is lost twice.
      const reencodeOriginal = metadata[ORIGINAL_STAGE] === 'sanitised'
      const outputs = await this.#images.renderVariants(source, { purpose: row.purpose, reencodeOriginal, ...io })
      this.#observe('variants', (performance.now() - started) / 1000)
      // Deleted, failed, or finished by a duplicate delivery while we rendered: write nothing.
      const current = await this.#repo.getFile(row.id)
      if (current?.status !== 'processing') {
        if (!current || current.status === 'deleted' || current.status === 'failed') await this.#deletePrefix(row.key_prefix, job.signal)
        return
      }
      const cacheControl = row.access_level === 'public' ? this.#config.files.cacheControl.public : this.#config.files.cacheControl.document
      const keyOf = (output: Output) => `${row.key_prefix}${output.variant}.${output.ext}`
      // The original's main format is its own key (documents keep their file name); copies in other
      // formats sit beside it under `original.<ext>`.
      const optimised = reencodeOriginal ? outputs.find((o) => o.variant === 'original' && (OUTPUT_FORMATS[o.format] ?? 'jpeg') === original.format) : undefined
      // Deterministic keys: a redelivered job overwrites the same objects with the same bytes.
      for (const output of outputs) {
        if (output === optimised) continue
        await this.#store.put(keyOf(output), output.data, { contentType: output.contentType, cacheControl, ...io })
        written.push(storedObject(output, keyOf(output)))
      }
      // The optimised original replaces the sanitised one last, when everything derived from the
      // sanitised one is written: a job that dies before this line is redone from the same source.
      if (optimised) {
        await this.#store.put(original.key, optimised.data, {
          contentType: optimised.contentType,
          cacheControl,
          metadata: { [ORIGINAL_STAGE]: 'optimised' },
          ...(row.entity_type === 'verification' ? { contentDisposition: contentDisposition(row.original_name, 'attachment') } : {}),
          ...io,
        })
      }
      const all = [optimised ? storedObject(optimised, original.key) : original, ...written.filter((o) => o.key !== original.key)]
      const won = await this.#repo.markReady(row.id, all)
      if (!won) {
        // Deleted or failed while we worked (the delete's own sweep may have run before our puts),
        // or a duplicate delivery finished first (then the objects are the row's own: keep them).
        const now = await this.#repo.getFile(row.id)
        if (!now || now.status === 'deleted' || now.status === 'failed') await this.#deletePrefix(row.key_prefix, job.signal)
        return
      }
      // A reprocess with other settings (say WebP now off) leaves objects the row no longer lists.
      const kept = new Set(all.map((o) => o.key))
      const stale = objects.filter((o) => !kept.has(o.key)).map((o) => o.key)
      if (stale.length) await this.#store.deleteMany(stale).catch(() => undefined)
      // Warming is an optimisation: a file whose warming could not be queued is simply fetched by
      // its first reader.
      if (this.#queueWarm && row.access_level === 'public') await this.#queueWarm(row.id).catch(() => undefined)
      this.#notify()
    } catch (error) {
      if (job.final || (isLocalexError(error) && !error.retryable && error.status < 500)) {
        await this.#fail(row, error)
        return
      }
      throw error
    }
  }

  async runDeleteObjectsJob(payload: { fileId: string; prefix: string }, job: { signal?: AbortSignal }): Promise<void> {
    await this.#deletePrefix(payload.prefix, job.signal)
  }

  async runPurgeCdnJob(payload: { paths: string[] }, job: { id?: string; signal?: AbortSignal }): Promise<void> {
    await this.#cdn.invalidate(payload.paths, { ...(job.signal ? { signal: job.signal } : {}), ...(job.id ? { reference: job.id } : {}) })
  }

  async runWarmCdnJob(payload: { fileId: string }, job: { signal?: AbortSignal }): Promise<void> {
    const row = await this.#repo.getFile(payload.fileId)
    if (!row || row.status !== 'ready' || row.access_level !== 'public') return
    await this.#cdn.warm(row.objects.map((o) => this.#cdn.publicUrl(o.key)), job.signal ? { signal: job.signal } : {})
  }

  async reprocess(id: string): Promise<boolean> {
    const queued = await this.#repo.markReprocess(id)
    if (queued) this.#notify()
    return queued
  }

  // ---------------------------------------------------------------- internals

  /** Validation and the optimised original: all that happens before anything is written. */
  async #prepare(body: Buffer | Readable, purpose: Purpose, signal?: AbortSignal): Promise<Prepared> {
    const started = performance.now()
    const data = Buffer.isBuffer(body) ? body : await readLimited(body, this.#config.images.maxBytes, signal)
    if (data.length > this.#config.images.maxBytes) throw new LocalexError('FILE_TOO_LARGE', `File is larger than ${this.#config.images.maxBytes} bytes`, { details: { maxBytes: this.#config.images.maxBytes } })
    if (purpose === 'document' && sniffType(data).kind === 'pdf') {
      const pdf = await this.#images.validatePdf(data)
      this.#observe('validate', (performance.now() - started) / 1000)
      // What is stored is the validated document written out again (validatePdf), not the upload.
      return {
        purpose,
        contentType: 'application/pdf',
        ext: 'pdf',
        data: pdf.data,
        width: null,
        height: null,
        bytes: data.length,
        sha256: pdf.sha256,
        placeholder: null,
        dominantColor: null,
        original: { variant: 'original', format: 'pdf', contentType: 'application/pdf', size: pdf.data.length },
        needsVariants: false,
        stage: null,
      }
    }
    const result = await this.#images.prepareOriginal(data, { purpose, ...(signal ? { signal } : {}) })
    this.#observe('original', (performance.now() - started) / 1000)
    const o = result.original
    return {
      purpose,
      contentType: o.contentType,
      ext: o.ext,
      data: o.data,
      width: o.width,
      height: o.height,
      bytes: data.length,
      sha256: result.facts.sha256,
      placeholder: result.placeholder.thumbhash,
      dominantColor: result.dominantColor,
      original: { variant: 'original', format: OUTPUT_FORMATS[o.format] ?? 'jpeg', contentType: o.contentType, size: o.size, width: o.width, height: o.height },
      needsVariants: true,
      stage: result.stage,
    }
  }

  /**
   * The write protocol: row `uploading` → original stored (conditional put) → row `processing` and
   * its variants job in one transaction (outbox) → the worker writes variants → `ready`. A crash
   * between any two steps leaves either nothing, or an `uploading` row that cleanup removes with
   * its objects after the grace period. Any failure here removes what was written.
   */
  async #write(
    actor: NonNullable<Actor>,
    ctx: RequestContext,
    input: UploadInput,
    prepared: Prepared,
    target: {
      id: string
      prefix: string
      key: string
      entityType: FileRecord['entity_type']
      entityId: string
      documentType: DocumentType | null
      access: FileRecord['access_level']
      cacheControl: string
      itemLimit?: number
      afterStored?: { replacesProfileOf: string }
    },
  ): Promise<FileView> {
    const stored: StoredObject = { ...prepared.original, key: target.key }
    const name = sanitizeDisplayName(input.fileName, `${target.entityType === 'verification' ? 'document' : 'photo'}.${prepared.ext}`)
    const inserted = await this.#repo.insertUploading(
      {
        id: target.id,
        owner_id: actor.id,
        entity_type: target.entityType,
        entity_id: target.entityId,
        purpose: prepared.purpose,
        document_type: target.documentType,
        access_level: target.access,
        original_name: name,
        content_type: prepared.contentType,
        bytes: prepared.bytes,
        width: prepared.width,
        height: prepared.height,
        sha256: prepared.sha256,
        key_prefix: target.prefix,
        objects: [stored],
        placeholder: prepared.placeholder,
        dominant_color: prepared.dominantColor,
        idempotency_key: input.idempotencyKey ?? null,
      },
      target.itemLimit,
    )
    // Two retries of one upload raced: the loser answers with the winner's file.
    if (!inserted.created) return (await this.#replay(actor.id, input)) ?? toView(inserted.file, this.#cdn)

    try {
      await this.#store.put(target.key, prepared.data, {
        contentType: prepared.contentType,
        // A sanitised original is replaced by the optimised one within seconds: caches may keep it
        // only briefly. Everything else under a file's keys is immutable.
        cacheControl: prepared.stage === 'sanitised' && target.access === 'public' ? this.#config.files.cacheControl.processing : target.cacheControl,
        ...(prepared.stage ? { metadata: { [ORIGINAL_STAGE]: prepared.stage } } : {}),
        ...(target.entityType === 'verification' ? { contentDisposition: contentDisposition(name, 'attachment') } : {}),
        ifNoneMatch: true,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      })
    } catch (error) {
      await this.#compensate(target.id, target.key, error)
      throw error
    }

    let retired: FileRecord | null = null
    try {
      retired = await this.#repo.markStored(target.id, {
        needsVariants: prepared.needsVariants,
        purgePathsOf: (row) => this.#purgePaths(row),
        ...(target.afterStored ? { makeCurrentProfileOf: target.afterStored.replacesProfileOf } : {}),
      })
    } catch (error) {
      await this.#compensate(target.id, target.key, error)
      throw error
    }
    if (retired) await this.#afterRetire(retired)
    this.#notify()
    await this.#repo.audit({ actor, ctx, action: retired ? 'replace' : 'upload', fileId: target.id, entityType: target.entityType, entityId: target.entityId, details: { bytes: prepared.bytes, contentType: prepared.contentType, ...(retired ? { replaced: retired.id } : {}) } })

    if (input.wait) return this.waitUntilSettled(target.id, ctx.signal ? { signal: ctx.signal } : {})
    const row = await this.#repo.getFile(target.id)
    return toView(row as FileRecord, this.#cdn)
  }

  /** Undo a half-done write: remove the object, mark the row failed (best effort each). */
  async #compensate(id: string, key: string, cause: unknown): Promise<void> {
    await this.#store.delete(key).catch(() => undefined)
    await this.#repo.markFailed(id, reasonOf(cause), ['uploading']).catch(() => undefined)
  }

  async #fail(row: FileRecord, cause: unknown): Promise<void> {
    const changed = await this.#repo.markFailed(row.id, reasonOf(cause), ['processing'])
    if (changed) await this.#deletePrefix(row.key_prefix)
  }

  /** Soft-delete a file and queue the removal of its objects (and CDN purge of public ones). */
  async #retire(actor: NonNullable<Actor>, ctx: RequestContext, row: FileRecord, action: 'delete'): Promise<void> {
    const retired = await this.#repo.markDeleted(row.id, this.#purgePaths(row))
    if (!retired) throw notFound(row.id)
    await this.#afterRetire(row)
    await this.#repo.audit({ actor, ctx, action, fileId: row.id, entityType: row.entity_type, entityId: row.entity_id })
  }

  /** The outbox row is the guarantee; this direct attempt only makes deletion visible at once. */
  async #afterRetire(row: FileRecord): Promise<void> {
    this.#notify()
    await this.#deletePrefix(row.key_prefix).catch(() => undefined)
  }

  /** The photo's folder (one CloudFront path) and each object (for edges that purge by exact URL). */
  #purgePaths(row: FileRecord): string[] {
    return row.access_level === 'public' ? [`/${row.key_prefix}*`, ...row.objects.map((o) => `/${o.key}`)] : []
  }

  async #removeDerived(row: FileRecord): Promise<void> {
    if (row.status === 'deleted' || row.status === 'failed') await this.#deletePrefix(row.key_prefix)
  }

  async #deletePrefix(prefix: string, signal?: AbortSignal): Promise<void> {
    const batch: string[] = []
    for await (const entry of this.#store.list(prefix, signal ? { signal } : {})) {
      if (entry.type === 'object') batch.push(entry.key)
    }
    if (batch.length === 0) return
    const result = await this.#store.deleteMany(batch, signal ? { signal } : {})
    if (result.failed.length) throw new LocalexError('STORE_ERROR', `Could not delete ${result.failed.length} objects under ${prefix}`, { details: { failed: result.failed.slice(0, 10) } })
  }

  async #visibleRow(actor: Actor, id: string): Promise<FileRecord> {
    const row = await this.#repo.getFile(id)
    if (!row || row.status === 'deleted') throw notFound(id)
    assertCanRead(actor, row)
    return row
  }

  async #signed(actor: Actor, ctx: RequestContext, row: FileRecord, object: StoredObject): Promise<SignedUrl> {
    const ttlMs = row.access_level === 'private' ? this.#config.files.privateUrlTtlMs : this.#config.files.signedUrlTtlMs
    const expiresIn = Math.max(1, Math.floor(ttlMs / 1000))
    // `authenticated` files through the CDN when it can sign (CloudFront key pair); private
    // documents always from the store, never through the CDN.
    const cdnUrl = row.access_level === 'authenticated' ? this.#cdn.signedUrl(object.key, { expiresIn }) : null
    const url = cdnUrl ?? await this.#store.signedUrl(object.key, {
      expiresIn,
      ...(row.entity_type === 'verification' ? { responseContentDisposition: contentDisposition(row.original_name, 'attachment') } : {}),
    })
    if (row.access_level === 'private') {
      await this.#repo.audit({ actor, ctx, action: 'url_private', fileId: row.id, entityType: row.entity_type, entityId: row.entity_id, details: { variant: object.variant, format: object.format, expiresIn } })
    }
    return { url, expiresAt: new Date(Date.now() + expiresIn * 1000).toISOString(), variant: object.variant, format: object.format }
  }

  /** A retried upload with the same idempotency key gives back the file it made the first time. */
  async #replay(ownerId: string, input: UploadInput): Promise<FileView | null> {
    if (!input.idempotencyKey) return null
    const row = await this.#repo.getByIdempotencyKey(ownerId, input.idempotencyKey)
    if (!row || row.status === 'failed' || row.status === 'deleted') return null
    if (input.body instanceof Readable) input.body.resume()
    if (input.wait) return this.waitUntilSettled(row.id)
    return toView(row, this.#cdn)
  }
}

function storedObject(output: Output, key: string): StoredObject {
  return { variant: output.variant, format: OUTPUT_FORMATS[output.format] ?? 'jpeg', key, contentType: output.contentType, size: output.size, width: output.width, height: output.height }
}

function tooManyPhotos(max: number): LocalexError {
  return new LocalexError('TOO_MANY_PHOTOS', `An item may have at most ${max} photos`, { details: { max } })
}

function reasonOf(error: unknown): string {
  if (isLocalexError(error)) return `${error.code}: ${error.message}`.slice(0, 500)
  return `INTERNAL: ${(error as Error)?.message ?? String(error)}`.slice(0, 500)
}
