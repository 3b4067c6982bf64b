import type { FileHandle } from 'node:fs/promises'
import { LocalexError } from '../../../errors/index.js'

/**
 * One file per object: the object's bytes as they are, then its metadata as JSON, then an
 * 8-byte footer (JSON length, uint32 big-endian, and the magic `LXO1`).
 *
 *     [ bytes … ][ {"v":1,"size":…,"etag":"\"…\"",…} ][ len ][ LXO1 ]
 *
 * Bytes and metadata live in one file so that a single rename commits both: a reader that opens
 * the file sees one version's bytes with that version's metadata, whatever writers do meanwhile
 * (a sidecar file would need a second rename and could be seen out of step). The bytes come first
 * so that `head -c <size>` of the file is the object; range reads just never go past `size`.
 */

const MAGIC = Buffer.from('LXO1', 'ascii')
const FOOTER = 8
/** Content type, cache control, disposition and user metadata together stay well below this. */
const MAX_META_BYTES = 64 * 1024

export interface StoredMeta {
  v: 1
  size: number
  /** MD5 of the bytes, hex, in double quotes (what S3 returns for single-part objects). */
  etag: string
  contentType: string
  cacheControl?: string
  contentDisposition?: string
  metadata: Record<string, string>
  /** ISO 8601. */
  lastModified: string
}

export function encodeTrailer(meta: StoredMeta): Buffer {
  const json = Buffer.from(JSON.stringify(meta), 'utf8')
  if (json.length > MAX_META_BYTES) {
    throw new LocalexError('VALIDATION_FAILED', `Object metadata is larger than ${MAX_META_BYTES} bytes`, {
      details: { field: 'metadata' },
    })
  }
  const footer = Buffer.alloc(FOOTER)
  footer.writeUInt32BE(json.length, 0)
  MAGIC.copy(footer, 4)
  return Buffer.concat([json, footer])
}

/** Reads the metadata of an open object file; the bytes are `[0, meta.size)`. */
export async function readTrailer(handle: FileHandle, fileSize?: number): Promise<StoredMeta> {
  const total = fileSize ?? (await handle.stat()).size
  if (total < FOOTER) throw corrupt('too short')
  const footer = Buffer.alloc(FOOTER)
  await readExactly(handle, footer, total - FOOTER)
  if (!footer.subarray(4).equals(MAGIC)) throw corrupt('no footer')
  const length = footer.readUInt32BE(0)
  if (length > MAX_META_BYTES || length > total - FOOTER) throw corrupt('bad metadata length')
  const json = Buffer.alloc(length)
  await readExactly(handle, json, total - FOOTER - length)
  let meta: StoredMeta
  try {
    meta = JSON.parse(json.toString('utf8')) as StoredMeta
  } catch (error) {
    throw corrupt('metadata is not JSON', error)
  }
  if (meta.v !== 1 || meta.size !== total - FOOTER - length) throw corrupt('metadata does not match the file')
  return meta
}

async function readExactly(handle: FileHandle, into: Buffer, position: number): Promise<void> {
  let done = 0
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done)
    if (bytesRead === 0) throw corrupt('truncated')
    done += bytesRead
  }
}

function corrupt(reason: string, cause?: unknown): LocalexError {
  return new LocalexError('STORE_ERROR', `Disk store object file is corrupt (${reason})`, {
    cause,
    details: { reason },
  })
}
