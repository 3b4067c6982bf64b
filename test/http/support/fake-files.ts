import { createHash, randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import { LocalexError, isLocalexError } from '../../../src/errors/index.js'
import type {
  Actor,
  DirectUpload,
  DirectUploadRequest,
  DocumentType,
  FileManager,
  FileView,
  RequestContext,
  SignedUrl,
  UploadInput,
} from '../../../src/files/types.js'
import { sanitizeDisplayName, safeFileName } from '../../../src/storage/keys.js'
import type { ObjectStore } from '../../../src/storage/types.js'

/**
 * An in-memory FileManager for the HTTP tests: the contract of src/files/types.ts with the access
 * rules of DESIGN.md, enough for every route, and nothing of the real pipeline. It reads upload
 * bodies the way the real one must (limited while reading, the body's own LocalexError passed
 * on), "sniffs" JPEG/PNG/PDF magic bytes, and, given an ObjectStore, writes the bytes there so
 * the delivery route can serve them. Every call is recorded with its actor and RequestContext.
 */

type Actorish = Actor | undefined

export interface FakeCall {
  method: keyof FileManager
  actor: Actorish
  args: unknown[]
  ctx: RequestContext | undefined
}

interface Stored {
  view: FileView
  key: string
  idempotencyKey: string | undefined
  deleted: boolean
}

export interface FakeFileManagerOptions {
  maxBytes: number
  publicBaseUrl: string
  store?: ObjectStore
  maxPhotosPerItem?: number
}

export class FakeFileManager implements FileManager {
  readonly calls: FakeCall[] = []
  readonly files = new Map<string, Stored>()
  readonly itemOwners = new Map<string, string>()
  readonly profilePhotos = new Map<string, string>()
  readonly directUploads = new Map<string, { ownerId: string; request: DirectUploadRequest; key: string; done: boolean }>()
  /** Bytes received by each upload, as read (to check that nothing was buffered beyond the limit). */
  readonly received: number[] = []
  /** Makes the next call (any method) throw this instead. */
  failNext: unknown
  /** Runs at the start of every upload, before the body is read (tests block here). */
  beforeUpload: ((input: UploadInput, ctx: RequestContext | undefined) => Promise<void>) | undefined

  readonly #options: FakeFileManagerOptions

  constructor(options: FakeFileManagerOptions) {
    this.#options = options
  }

  // -- uploads ---------------------------------------------------------------------------------

  async uploadItemPhoto(actor: Actor, itemId: string, input: UploadInput, ctx?: RequestContext): Promise<FileView> {
    this.#record('uploadItemPhoto', actor, [itemId, input], ctx)
    const user = requireUser(actor)
    const owner = this.itemOwners.get(itemId)
    if (owner && owner !== user.id && user.role !== 'admin') throw new LocalexError('FORBIDDEN', 'Only the owner of the item may add photos')
    const replay = this.#replay(user.id, input.idempotencyKey)
    if (replay) return replay
    const photos = this.#photosOf(itemId)
    if (photos.length >= (this.#options.maxPhotosPerItem ?? 10)) throw new LocalexError('TOO_MANY_PHOTOS', 'The item has as many photos as it may')
    const { bytes, type } = await this.#read(input, ctx, ['image/jpeg', 'image/png'])
    if (!owner) this.itemOwners.set(itemId, user.id)
    const id = randomUUID()
    return this.#store({
      id, ownerId: owner ?? user.id, entityType: 'item', entityId: itemId, purpose: 'item_photo', documentType: null, accessLevel: 'public',
      name: input.fileName, type, bytes, position: photos.length, wait: input.wait, idempotencyKey: input.idempotencyKey,
      key: `items/${itemId}/photos/${id}/original.${type === 'image/png' ? 'png' : 'jpg'}`,
    })
  }

  async uploadProfilePhoto(actor: Actor, input: UploadInput, ctx?: RequestContext): Promise<FileView> {
    this.#record('uploadProfilePhoto', actor, [input], ctx)
    const user = requireUser(actor)
    const replay = this.#replay(user.id, input.idempotencyKey)
    if (replay) return replay
    const { bytes, type } = await this.#read(input, ctx, ['image/jpeg', 'image/png'])
    const id = randomUUID()
    const view = await this.#store({
      id, ownerId: user.id, entityType: 'profile', entityId: user.id, purpose: 'profile_photo', documentType: null, accessLevel: 'public',
      name: input.fileName, type, bytes, position: null, wait: input.wait, idempotencyKey: input.idempotencyKey,
      key: `profiles/${user.id}/photo/${id}/original.${type === 'image/png' ? 'png' : 'jpg'}`,
    })
    const old = this.profilePhotos.get(user.id)
    if (old) this.#markDeleted(old)
    this.profilePhotos.set(user.id, id)
    return view
  }

  async uploadVerificationDocument(actor: Actor, type: DocumentType, input: UploadInput, ctx?: RequestContext): Promise<FileView> {
    this.#record('uploadVerificationDocument', actor, [type, input], ctx)
    const user = requireUser(actor)
    const replay = this.#replay(user.id, input.idempotencyKey)
    if (replay) return replay
    const read = await this.#read(input, ctx, ['image/jpeg', 'image/png', 'application/pdf'])
    const id = randomUUID()
    return this.#store({
      id, ownerId: user.id, entityType: 'verification', entityId: user.id, purpose: 'document', documentType: type, accessLevel: 'private',
      name: input.fileName, type: read.type, bytes: read.bytes, position: null, wait: input.wait, idempotencyKey: input.idempotencyKey,
      key: `verification/${user.id}/${type}/${id}/${safeFileName(input.fileName, 'document')}`,
    })
  }

  // -- reads -----------------------------------------------------------------------------------

  async listItemPhotos(itemId: string, actor?: Actor): Promise<FileView[]> {
    this.#record('listItemPhotos', actor, [itemId], undefined)
    return this.#photosOf(itemId).map((s) => s.view)
  }

  async reorderItemPhotos(actor: Actor, itemId: string, fileIds: string[], ctx?: RequestContext): Promise<FileView[]> {
    this.#record('reorderItemPhotos', actor, [itemId, fileIds], ctx)
    const user = requireUser(actor)
    const owner = this.itemOwners.get(itemId)
    if (!owner) throw new LocalexError('NOT_FOUND', `Item "${itemId}" has no photos`)
    if (owner !== user.id && user.role !== 'admin') throw new LocalexError('FORBIDDEN', 'Only the owner of the item may reorder its photos')
    const current = this.#photosOf(itemId)
    const same = current.length === fileIds.length && current.every((s) => fileIds.includes(s.view.id))
    if (!same) throw new LocalexError('VALIDATION_FAILED', "fileIds must be exactly the item's photos")
    fileIds.forEach((id, position) => {
      const stored = this.files.get(id)
      if (stored) stored.view = { ...stored.view, position }
    })
    return this.#photosOf(itemId).map((s) => s.view)
  }

  async getProfilePhoto(userId: string, actor?: Actor): Promise<FileView> {
    this.#record('getProfilePhoto', actor, [userId], undefined)
    const id = this.profilePhotos.get(userId)
    const stored = id ? this.files.get(id) : undefined
    if (!stored || stored.deleted) throw new LocalexError('NOT_FOUND', `User "${userId}" has no profile photo`)
    return stored.view
  }

  async deleteProfilePhoto(actor: Actor, userId: string, ctx?: RequestContext): Promise<void> {
    this.#record('deleteProfilePhoto', actor, [userId], ctx)
    selfOrAdmin(actor, userId)
    const id = this.profilePhotos.get(userId)
    if (!id) throw new LocalexError('NOT_FOUND', `User "${userId}" has no profile photo`)
    this.#markDeleted(id)
    this.profilePhotos.delete(userId)
  }

  async listVerificationDocuments(actor: Actor, userId: string, ctx?: RequestContext): Promise<FileView[]> {
    this.#record('listVerificationDocuments', actor, [userId], ctx)
    selfOrAdmin(actor, userId)
    return [...this.files.values()].filter((s) => !s.deleted && s.view.purpose === 'document' && s.view.ownerId === userId).map((s) => s.view)
  }

  async getFile(actor: Actor, id: string, ctx?: RequestContext): Promise<FileView> {
    this.#record('getFile', actor, [id], ctx)
    return this.#readable(actor, id).view
  }

  async getUrl(actor: Actor, id: string, options: { variant?: string; format?: string } = {}, ctx?: RequestContext): Promise<SignedUrl> {
    this.#record('getUrl', actor, [id, options], ctx)
    const stored = this.#readable(actor, id)
    const variant = options.variant ?? 'original'
    if (variant !== 'original') throw new LocalexError('NOT_FOUND', `File "${id}" has no variant "${variant}"`)
    const format = stored.view.contentType.split('/')[1] ?? 'bin'
    if (stored.view.accessLevel === 'public') return { url: publicUrl(this.#options.publicBaseUrl, stored.key), variant, format }
    const store = this.#options.store
    if (!store) throw new LocalexError('INTERNAL', 'The fake needs a store to sign URLs')
    const expiresIn = 300
    const url = await store.signedUrl(stored.key, { expiresIn })
    return { url, expiresAt: new Date(Date.now() + expiresIn * 1000).toISOString(), variant, format }
  }

  async deleteFile(actor: Actor, id: string, ctx?: RequestContext): Promise<void> {
    this.#record('deleteFile', actor, [id], ctx)
    const stored = this.#readable(actor, id)
    const user = requireUser(actor)
    const entityOwner = stored.view.entityType === 'item' ? this.itemOwners.get(stored.view.entityId) : stored.view.ownerId
    if (user.role !== 'admin' && user.id !== entityOwner) throw new LocalexError('FORBIDDEN', 'Only the owner or an admin may delete this file')
    this.#markDeleted(id)
  }

  // -- direct uploads --------------------------------------------------------------------------

  async createDirectUpload(actor: Actor, request: DirectUploadRequest, ctx?: RequestContext): Promise<DirectUpload> {
    this.#record('createDirectUpload', actor, [request], ctx)
    const user = requireUser(actor)
    if (request.purpose === 'item_photo') {
      const owner = request.itemId ? this.itemOwners.get(request.itemId) : undefined
      if (owner && owner !== user.id && user.role !== 'admin') throw new LocalexError('FORBIDDEN', 'Only the owner of the item may add photos')
    }
    const id = randomUUID()
    const key = `temp/uploads/${id}/${safeFileName(request.fileName, 'upload')}`
    const expiresAt = new Date(Date.now() + 3600_000)
    const maxBytes = this.#options.maxBytes
    this.directUploads.set(id, { ownerId: user.id, request, key, done: false })
    const store = this.#options.store
    if (!store) return { id, url: `${this.#options.publicBaseUrl}/uploads/direct`, fields: { key }, maxBytes, expiresAt: expiresAt.toISOString() }
    const post = await store.presignedPost(key, { expiresIn: 3600, contentLengthRange: { min: 1, max: maxBytes }, ...(request.contentType ? { contentType: request.contentType } : {}) })
    return { id, url: post.url, fields: post.fields, maxBytes, expiresAt: post.expiresAt.toISOString() }
  }

  async completeDirectUpload(actor: Actor, uploadId: string, options: { wait?: boolean; idempotencyKey?: string } = {}, ctx?: RequestContext): Promise<FileView> {
    this.#record('completeDirectUpload', actor, [uploadId, options], ctx)
    const user = requireUser(actor)
    const upload = this.directUploads.get(uploadId)
    if (!upload || upload.ownerId !== user.id || upload.done) throw new LocalexError('NOT_FOUND', `Upload "${uploadId}" does not exist`)
    const store = this.#options.store
    if (!store) throw new LocalexError('INTERNAL', 'The fake needs a store to complete direct uploads')
    let body: Buffer
    try {
      body = await store.getBuffer(upload.key)
    } catch (error) {
      if (isLocalexError(error, 'OBJECT_NOT_FOUND')) throw new LocalexError('VALIDATION_FAILED', 'Nothing was uploaded yet', { cause: error })
      throw error
    }
    await store.delete(upload.key)
    upload.done = true
    const { request } = upload
    const input: UploadInput = { body, fileName: request.fileName, wait: options.wait, idempotencyKey: options.idempotencyKey }
    if (request.purpose === 'item_photo') return this.uploadItemPhoto(actor, request.itemId ?? '', input, ctx)
    if (request.purpose === 'profile_photo') return this.uploadProfilePhoto(actor, input, ctx)
    return this.uploadVerificationDocument(actor, request.documentType ?? 'passport', input, ctx)
  }

  async setItemOwner(actor: Actor, itemId: string, ownerId: string, ctx?: RequestContext): Promise<void> {
    this.#record('setItemOwner', actor, [itemId, ownerId], ctx)
    const user = requireUser(actor)
    if (user.role !== 'admin') throw new LocalexError('FORBIDDEN', 'Only admins may change who owns an item')
    this.itemOwners.set(itemId, ownerId)
  }

  async waitUntilSettled(id: string): Promise<FileView> {
    const stored = this.files.get(id)
    if (!stored) throw new LocalexError('NOT_FOUND', `File "${id}" does not exist`)
    return stored.view
  }

  // -- helpers ---------------------------------------------------------------------------------

  #record(method: keyof FileManager, actor: Actorish, args: unknown[], ctx: RequestContext | undefined): void {
    this.calls.push({ method, actor, args, ctx })
    if (this.failNext !== undefined) {
      const error = this.failNext
      this.failNext = undefined
      throw error
    }
  }

  /** Reads a body as the real layer must: limited while reading, its own errors passed on as they are. */
  async #read(input: UploadInput, ctx: RequestContext | undefined, allowed: string[]): Promise<{ bytes: Buffer; type: string }> {
    await this.beforeUpload?.(input, ctx)
    const limit = this.#options.maxBytes
    let bytes: Buffer
    if (Buffer.isBuffer(input.body)) {
      bytes = input.body
    } else {
      const chunks: Buffer[] = []
      let total = 0
      try {
        for await (const chunk of input.body as Readable) {
          total += (chunk as Buffer).length
          if (total > limit) throw new LocalexError('FILE_TOO_LARGE', `The file is larger than ${limit} bytes`)
          chunks.push(chunk as Buffer)
        }
      } finally {
        this.received.push(total)
      }
      bytes = Buffer.concat(chunks)
    }
    if (bytes.length > limit) throw new LocalexError('FILE_TOO_LARGE', `The file is larger than ${limit} bytes`)
    if (bytes.length === 0) throw new LocalexError('EMPTY_FILE', 'The file is empty')
    const type = sniff(bytes)
    if (!type || !allowed.includes(type)) throw new LocalexError('UNSUPPORTED_TYPE', 'The file is not a supported type')
    return { bytes, type }
  }

  #replay(ownerId: string, key: string | undefined): FileView | undefined {
    if (!key) return undefined
    for (const stored of this.files.values()) {
      if (stored.idempotencyKey === key && stored.view.ownerId === ownerId) return stored.view
    }
    return undefined
  }

  async #store(f: {
    id: string; ownerId: string; entityType: FileView['entityType']; entityId: string; purpose: FileView['purpose']; documentType: DocumentType | null
    accessLevel: FileView['accessLevel']; name: string | undefined; type: string; bytes: Buffer; position: number | null; wait: boolean | undefined
    idempotencyKey: string | undefined; key: string
  }): Promise<FileView> {
    const store = this.#options.store
    if (store) {
      await store.put(f.key, f.bytes, {
        contentType: f.type,
        cacheControl: f.accessLevel === 'public' ? 'public, max-age=2592000, immutable' : 'private, max-age=604800',
      })
    }
    const now = new Date().toISOString()
    const view: FileView = {
      id: f.id, ownerId: f.ownerId, entityType: f.entityType, entityId: f.entityId, purpose: f.purpose, documentType: f.documentType,
      accessLevel: f.accessLevel, status: f.wait ? 'ready' : 'processing', originalName: sanitizeDisplayName(f.name), contentType: f.type,
      bytes: f.bytes.length, width: null, height: null, sha256: createHash('sha256').update(f.bytes).digest('hex'), placeholder: null,
      dominantColor: null, position: f.position, errorReason: null, createdAt: now, updatedAt: now, readyAt: f.wait ? now : null,
      url: f.accessLevel === 'public' ? publicUrl(this.#options.publicBaseUrl, f.key) : null,
      variants: [],
    }
    this.files.set(f.id, { view, key: f.key, idempotencyKey: f.idempotencyKey, deleted: false })
    return view
  }

  #markDeleted(id: string): void {
    const stored = this.files.get(id)
    if (stored) stored.deleted = true
  }

  #photosOf(itemId: string): Stored[] {
    return [...this.files.values()]
      .filter((s) => !s.deleted && s.view.purpose === 'item_photo' && s.view.entityId === itemId)
      .sort((a, b) => (a.view.position ?? 0) - (b.view.position ?? 0))
  }

  /** NOT_FOUND for missing files and for private files the actor may not read (no probing). */
  #readable(actor: Actorish, id: string): Stored {
    const stored = this.files.get(id)
    if (!stored || stored.deleted) throw new LocalexError('NOT_FOUND', `File "${id}" does not exist`)
    const { accessLevel, ownerId } = stored.view
    if (accessLevel === 'private' && !(actor && (actor.id === ownerId || actor.role === 'admin'))) throw new LocalexError('NOT_FOUND', `File "${id}" does not exist`)
    if (accessLevel === 'authenticated' && !actor) throw new LocalexError('UNAUTHENTICATED', 'Sign in to see this file')
    return stored
  }
}

function requireUser(actor: Actorish): NonNullable<Actor> {
  if (!actor) throw new LocalexError('UNAUTHENTICATED', 'Sign in to do this')
  return actor
}

function selfOrAdmin(actor: Actorish, userId: string): void {
  const user = requireUser(actor)
  if (user.id !== userId && user.role !== 'admin') throw new LocalexError('FORBIDDEN', 'Only the user or an admin may do this')
}

function sniff(bytes: Buffer): string | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg'
  if (bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png'
  if (bytes.subarray(0, 5).toString('latin1') === '%PDF-') return 'application/pdf'
  return undefined
}

function publicUrl(base: string, key: string): string {
  return `${base}/files/${key.split('/').map(encodeURIComponent).join('/')}`
}
