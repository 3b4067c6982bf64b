import type { FileRecord } from '../db/index.js'
import type { StoredObject } from '../db/schema.js'
import type { Cdn } from '../cdn/index.js'
import { ORIGINAL_VARIANT } from '../domain/index.js'
import type { DocumentType, FileView } from './types.js'

/** The original in its main format: the first object listed for variant `original`. */
export function originalObject(objects: readonly StoredObject[]): StoredObject | undefined {
  return objects.find((o) => o.variant === ORIGINAL_VARIANT)
}

/**
 * The resource as the API shows it. Public files carry a URL for every object; for the others
 * `url` is whatever signed URL the caller was granted (or null) and variants carry none: each
 * signed URL is a grant, asked for with `getUrl` (and audited for private files).
 */
export function toView(row: FileRecord, cdn: Cdn, signedOriginalUrl: string | null = null): FileView {
  const objects = row.objects
  const isPublic = row.access_level === 'public'
  const original = originalObject(objects)
  return {
    id: row.id,
    ownerId: row.owner_id,
    entityType: row.entity_type,
    entityId: row.entity_id,
    purpose: row.purpose,
    documentType: row.document_type as DocumentType | null,
    accessLevel: row.access_level,
    status: row.status,
    originalName: row.original_name,
    contentType: row.content_type,
    bytes: row.bytes,
    width: row.width,
    height: row.height,
    sha256: row.sha256,
    placeholder: row.placeholder,
    dominantColor: row.dominant_color,
    position: row.position,
    errorReason: row.error_reason,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    readyAt: row.ready_at,
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
