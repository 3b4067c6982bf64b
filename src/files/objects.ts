import type { FileRecord, StoredObject } from '../domain/index.js'
import { LocalexError } from '../errors/index.js'
import type { Output } from '../images/index.js'
import type { ObjectStore } from '../storage/types.js'

/**
 * Object metadata on a file's original (`x-amz-meta-localex-original`): `sanitised` as stored by the
 * upload, `optimised` once the variants job replaced it. Read by that job, so a redelivery or a
 * reprocess never re-encodes an optimised original.
 */
export const ORIGINAL_STAGE = 'localex-original'

/** How a rendered output is listed on its file. */
export function storedObject(output: Output, key: string): StoredObject {
  return {
    variant: output.variant,
    format: output.format,
    key,
    contentType: output.contentType,
    size: output.size,
    width: output.width,
    height: output.height,
  }
}

/** The file's folder (one CloudFront path) and each object (for edges that purge by exact URL). */
export function purgePaths(file: FileRecord): string[] {
  return file.accessLevel === 'public' ? [`/${file.keyPrefix}*`, ...file.objects.map((o) => `/${o.key}`)] : []
}

/** Deletes every object under one file's folder (a handful of keys). STORE_ERROR when some remain. */
export async function deletePrefix(store: ObjectStore, prefix: string, signal?: AbortSignal): Promise<void> {
  const batch: string[] = []
  for await (const entry of store.list(prefix, signal ? { signal } : {})) {
    if (entry.type === 'object') batch.push(entry.key)
  }
  if (batch.length === 0) return
  const result = await store.deleteMany(batch, signal ? { signal } : {})
  if (result.failed.length) {
    throw new LocalexError('STORE_ERROR', `Could not delete ${result.failed.length} objects under ${prefix}`, {
      details: { failed: result.failed.slice(0, 10) },
    })
  }
}
