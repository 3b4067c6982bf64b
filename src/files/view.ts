import type { Cdn } from '../cdn/index.js'
import { ORIGINAL_VARIANT, type FileRecord, type StoredObject } from '../domain/index.js'
import type { FileView } from './types.js'

/** The original in its main format: the first object listed for variant `original`. */
export function originalObject(objects: readonly StoredObject[]): StoredObject | undefined {
  return objects.find((o) => o.variant === ORIGINAL_VARIANT)
}

/**
 * The resource as the API shows it. Public files carry a URL for every object; for the others
 * `url` is whatever signed URL the caller was granted (or null) and variants carry none: each
 * signed URL is a grant, asked for with `getUrl` (and audited for private files).
 */
export function toView(file: FileRecord, cdn: Cdn, signedOriginalUrl: string | null = null): FileView {
  const objects = file.objects
  const isPublic = file.accessLevel === 'public'
  const original = originalObject(objects)
  return {
    id: file.id,
    ownerId: file.ownerId,
    entityType: file.entityType,
    entityId: file.entityId,
    purpose: file.purpose,
    documentType: file.documentType,
    accessLevel: file.accessLevel,
    status: file.status,
    originalName: file.originalName,
    contentType: file.contentType,
    bytes: file.bytes,
    width: file.width,
    height: file.height,
    sha256: file.sha256,
    placeholder: file.placeholder,
    dominantColor: file.dominantColor,
    position: file.position,
    errorReason: file.errorReason,
    createdAt: file.createdAt,
    updatedAt: file.updatedAt,
    readyAt: file.readyAt,
    url: isPublic && original ? cdn.publicUrl(original.key) : signedOriginalUrl,
    variants: objects.map((o) => ({
      variant: o.variant,
      format: o.format,
      contentType: o.contentType,
      ...(o.width !== undefined ? { width: o.width } : {}),
      ...(o.height !== undefined ? { height: o.height } : {}),
      size: o.size,
      ...(isPublic ? { url: cdn.publicUrl(o.key) } : {}),
    })),
  }
}
