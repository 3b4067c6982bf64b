import { ORIGINAL_VARIANT, type FileRecord, type StoredObject } from '../domain/index.js'
import { LocalexError } from '../errors/index.js'
import { sleep } from '../lib/index.js'
import { contentDisposition } from '../storage/content-disposition.js'
import { assertCanRead, notFound } from './access.js'
import type { FilesDeps } from './deps.js'
import type { Actor, FileView, RequestContext, SignedUrl } from './types.js'
import { originalObject, toView } from './view.js'

/**
 * Reading a file and the URL policy: `public` files are served by the CDN under permanent URLs;
 * `authenticated` files by signed URLs (through the CDN when it can sign); `private` documents by
 * short-lived signed URLs from the store, never through the CDN, each one audited.
 */

/** The file, with a signed URL of its original when the caller may read it and it is not public. */
export async function getFile(deps: FilesDeps, actor: Actor, id: string, ctx: RequestContext = {}): Promise<FileView> {
  const file = await visibleFile(deps, actor, id)
  if (file.accessLevel === 'public') return toView(file, deps.cdn)
  const original = originalObject(file.objects)
  const url = original ? await signedUrl(deps, actor, ctx, file, original) : null
  return toView(file, deps.cdn, url?.url ?? null)
}

/** A URL of one object of the file: the original, or a variant in a format. */
export async function getUrl(
  deps: FilesDeps,
  actor: Actor,
  id: string,
  options: { variant?: string; format?: string } = {},
  ctx: RequestContext = {},
): Promise<SignedUrl> {
  const file = await visibleFile(deps, actor, id)
  const objects = file.objects
  const variant = options.variant ?? ORIGINAL_VARIANT
  const object = objects.find(
    (o) => o.variant === variant && (options.format === undefined || o.format === options.format),
  )
  if (!object) {
    const format = options.format ? ` in ${options.format}` : ''
    const what = `${variant}${format}${file.status === 'processing' ? ' yet' : ''}`
    throw new LocalexError('NOT_FOUND', `File "${id}" has no ${what}`, {
      details: { id, variant, format: options.format, available: objects.map((o) => `${o.variant}.${o.format}`) },
    })
  }
  if (file.accessLevel === 'public') {
    return { url: deps.cdn.publicUrl(object.key), variant: object.variant, format: object.format }
  }
  return signedUrl(deps, actor, ctx, file, object)
}

/** Resolves when the file is ready or failed, or with its state at the deadline (default 60 s). */
export async function waitUntilSettled(
  deps: FilesDeps,
  id: string,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<FileView> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000)
  for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
    const file = await deps.repo.getFile(id)
    if (!file) throw notFound(id)
    if (file.status !== 'processing' && file.status !== 'uploading') return toView(file, deps.cdn)
    if (Date.now() > deadline) return toView(file, deps.cdn)
    await sleep(delay, { signal: options.signal })
  }
}

/** The file when it exists and the actor may read it; NOT_FOUND (or 401) otherwise. */
export async function visibleFile(deps: FilesDeps, actor: Actor, id: string): Promise<FileRecord> {
  const file = await deps.repo.getFile(id)
  if (!file || file.status === 'deleted') throw notFound(id)
  assertCanRead(actor, file)
  return file
}

/** A signed URL of one object of a non-public file; every one for a private file is audited. */
async function signedUrl(
  deps: FilesDeps,
  actor: Actor,
  ctx: RequestContext,
  file: FileRecord,
  object: StoredObject,
): Promise<SignedUrl> {
  const { files } = deps.config
  const ttlMs = file.accessLevel === 'private' ? files.privateUrlTtlMs : files.signedUrlTtlMs
  const expiresIn = Math.max(1, Math.floor(ttlMs / 1000))
  // `authenticated` files through the CDN when it can sign (CloudFront key pair); private
  // documents always from the store, never through the CDN.
  const cdnUrl = file.accessLevel === 'authenticated' ? deps.cdn.signedUrl(object.key, { expiresIn }) : null
  const url =
    cdnUrl ??
    (await deps.store.signedUrl(object.key, {
      expiresIn,
      ...(file.entityType === 'verification'
        ? { responseContentDisposition: contentDisposition(file.originalName, 'attachment') }
        : {}),
    }))
  if (file.accessLevel === 'private') {
    await deps.repo.audit({
      actor,
      ctx,
      action: 'url_private',
      fileId: file.id,
      entityType: file.entityType,
      entityId: file.entityId,
      details: { variant: object.variant, format: object.format, expiresIn },
    })
  }
  const expiresAt = new Date(Date.now() + expiresIn * 1000).toISOString()
  return { url, expiresAt, variant: object.variant, format: object.format }
}
