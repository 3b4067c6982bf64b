import type { Readable } from 'node:stream'
import type { AccessLevel, DocumentType, EntityType, FileStatus, Purpose } from '../domain/index.js'

// The files API speaks the domain vocabulary; re-exported so embedders find it beside the views.
export type { AccessLevel, DocumentType, EntityType, FileStatus, Purpose } from '../domain/index.js'

/** Who is asking. `null` is an anonymous caller. */
export type Actor = { id: string; role: 'user' | 'admin' } | null

/** Where a request came from, for the audit log. */
export interface RequestContext {
  ip?: string
  userAgent?: string
  signal?: AbortSignal
}

/** An upload as the flows take it: bytes or a stream (limited while it is read), plus the name the client gave. */
export interface UploadInput {
  body: Buffer | Readable
  /** Display only: sanitised, never used as a path as it is. */
  fileName?: string
  /** A retried upload with the same key (per owner) yields the same file, once. */
  idempotencyKey?: string
  /** Resolve only when variants are ready (or the file failed). */
  wait?: boolean
}

export interface FileVariantView {
  variant: string
  format: string
  contentType: string
  width?: number
  height?: number
  size: number
  /** Absent when the caller may see the file but the level needs a signed URL: ask `getUrl`. */
  url?: string
}

/** The file resource as the API returns it. */
export interface FileView {
  id: string
  ownerId: string
  entityType: EntityType
  entityId: string
  purpose: Purpose
  documentType: DocumentType | null
  accessLevel: AccessLevel
  status: FileStatus
  originalName: string
  contentType: string
  bytes: number
  width: number | null
  height: number | null
  sha256: string
  placeholder: string | null
  dominantColor: string | null
  position: number | null
  errorReason: string | null
  createdAt: string
  updatedAt: string
  readyAt: string | null
  /** URL of the original (public files; for others, a signed URL when the caller may read it). */
  url: string | null
  variants: FileVariantView[]
}

export interface SignedUrl {
  url: string
  /** Absent for public URLs, which do not expire. */
  expiresAt?: string
  variant: string
  format: string
}

export interface DirectUploadRequest {
  purpose: Purpose
  /** The item id for item photos; ignored for profile photos and documents (the actor's own). */
  itemId?: string
  documentType?: DocumentType
  fileName?: string
  contentType?: string
}

export interface DirectUpload {
  id: string
  /** POST a multipart form here: every field of `fields` as it is, then the file as `file`. */
  url: string
  fields: Record<string, string>
  maxBytes: number
  expiresAt: string
}

/** Decides who owns an item. The default records who first attached photos to it. */
export interface ItemOwnershipVerifier {
  /** The owner's id, or null when nobody has claimed the item yet. */
  ownerOf(itemId: string): Promise<string | null>
  /** Called when `actor` attaches the first photo of an unclaimed item; returns the owner now on record. */
  claim(itemId: string, actorId: string): Promise<string>
}

/**
 * The business rules of item photos, profile photos and verification documents. Every method
 * checks access itself; a private file the actor may not see is NOT_FOUND, never FORBIDDEN.
 */
export interface FileManager {
  uploadItemPhoto(actor: Actor, itemId: string, input: UploadInput, ctx?: RequestContext): Promise<FileView>
  listItemPhotos(itemId: string, actor?: Actor): Promise<FileView[]>
  /** `fileIds` must be exactly the item's current photos, in the new order. */
  reorderItemPhotos(actor: Actor, itemId: string, fileIds: string[], ctx?: RequestContext): Promise<FileView[]>
  /** One per user: the new photo becomes current once stored; the old one is then deleted and purged. */
  uploadProfilePhoto(actor: Actor, input: UploadInput, ctx?: RequestContext): Promise<FileView>
  getProfilePhoto(userId: string, actor?: Actor): Promise<FileView>
  deleteProfilePhoto(actor: Actor, userId: string, ctx?: RequestContext): Promise<void>
  uploadVerificationDocument(
    actor: Actor,
    type: DocumentType,
    input: UploadInput,
    ctx?: RequestContext,
  ): Promise<FileView>
  listVerificationDocuments(actor: Actor, userId: string, ctx?: RequestContext): Promise<FileView[]>
  getFile(actor: Actor, id: string, ctx?: RequestContext): Promise<FileView>
  getUrl(
    actor: Actor,
    id: string,
    options?: { variant?: string; format?: string },
    ctx?: RequestContext,
  ): Promise<SignedUrl>
  deleteFile(actor: Actor, id: string, ctx?: RequestContext): Promise<void>
  /**
   * Direct upload for large files and mobile clients: a presigned POST to `temp/uploads/{id}/`
   * with the size limit (and content type, when given) in its policy. Access is checked now, as
   * for a normal upload, and again at completion.
   */
  createDirectUpload(actor: Actor, request: DirectUploadRequest, ctx?: RequestContext): Promise<DirectUpload>
  /** Validates and processes the uploaded temp object like a normal upload, then removes it. */
  completeDirectUpload(
    actor: Actor,
    uploadId: string,
    options?: { wait?: boolean; idempotencyKey?: string },
    ctx?: RequestContext,
  ): Promise<FileView>
  /** Admins: record or change who owns an item. */
  setItemOwner(actor: Actor, itemId: string, ownerId: string, ctx?: RequestContext): Promise<void>
  /** Resolves when the file is ready or failed (the `wait` option uses it). */
  waitUntilSettled(id: string, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<FileView>
}
