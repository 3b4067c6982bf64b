import { randomBytes } from 'node:crypto'
import type { DocumentType, EntityType, OutputExt } from '../domain/index.js'
import { LocalexError } from '../errors/index.js'

/**
 * The key layout of DESIGN.md and the only place that turns user-supplied names into anything
 * stored. Drivers call `assertSafeKey` on every key; everything above builds keys through `keys.*`.
 */

const MAX_KEY_BYTES = 1024
// C0/C1 control characters, DEL, and the bidi overrides/isolates that make a name read differently.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g

/** Rejects keys that could escape a root or confuse a store: `..`, absolute, NUL, controls, `\`. */
export function assertSafeKey(key: string): string {
  const reason = unsafeKeyReason(key)
  if (reason) throw new LocalexError('UNSAFE_KEY', `Object key refused: ${reason}`, { details: { reason } })
  return key
}

export function unsafeKeyReason(key: string): string | undefined {
  if (typeof key !== 'string' || key.length === 0) return 'empty'
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return 'longer than 1024 bytes'
  if (CONTROL.test(key)) return 'contains a control character'
  if (key.includes('\\')) return 'contains a backslash'
  if (key.startsWith('/')) return 'absolute'
  if (/^[a-zA-Z]:/.test(key)) return 'absolute'
  if (key.normalize('NFC') !== key) return 'not NFC-normalised'
  for (const segment of key.split('/')) {
    if (segment === '..' || segment === '.') return 'contains a "." or ".." segment'
  }
  if (key.includes('//')) return 'contains an empty segment'
  return undefined
}

/** Same rules for prefixes, except that a prefix may be empty or end with `/`. */
export function assertSafePrefix(prefix: string): string {
  if (prefix === '') return prefix
  assertSafeKey(prefix.endsWith('/') ? prefix.slice(0, -1) || 'x' : prefix)
  return prefix
}

/**
 * Time-ordered random id (UUIDv7 layout): sorts by creation time, so listings and indexes keep
 * recent uploads together, and 74 random bits make it unguessable.
 */
export function newId(now = Date.now()): string {
  const bytes = randomBytes(16)
  bytes.writeUIntBE(now, 0, 6)
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x70
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80
  const hex = bytes.toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/

/** Ids that come from outside (item ids, user ids) become path segments: keep them boring. */
export function assertSafeId(id: string, what = 'id'): string {
  if (!ID.test(id)) {
    throw new LocalexError('VALIDATION_FAILED', `${what} must be 1-128 letters, digits, "_" or "-"`, {
      details: { field: what },
    })
  }
  return id
}

/**
 * A display name as users may see it: NFC, no control or bidi characters, no path, at most 255
 * UTF-8 bytes (cut on a character boundary, extension kept). Never used as a path as it is.
 */
export function sanitizeDisplayName(name: string | undefined, fallback = 'file'): string {
  let out = (name ?? '').normalize('NFC').replace(BIDI, '')
  // eslint-disable-next-line no-control-regex
  out = out.replace(/[\u0000-\u001f\u007f-\u009f]/g, '')
  out = out.split(/[/\\]/).pop() ?? ''
  out = out
    .replace(/^[\s.]+/, '')
    .replace(/\s+$/, '')
    .replace(/\s+/g, ' ')
  if (!out) out = fallback
  return truncateUtf8(out, 255)
}

/** A name safe as the last segment of a key: ASCII letters, digits, `._-`, lower-case extension. */
export function safeFileName(name: string | undefined, fallback = 'file'): string {
  const display = sanitizeDisplayName(name, fallback)
  const dot = display.lastIndexOf('.')
  const stem = dot > 0 ? display.slice(0, dot) : display
  const ext = dot > 0 ? display.slice(dot + 1) : ''
  const clean = (s: string) =>
    s
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/-+/g, '-')
      .replace(/^[-.]+|[-.]+$/g, '')
  const safeStem = clean(stem).slice(0, 100) || fallback
  const safeExt = clean(ext).toLowerCase().slice(0, 10)
  return safeExt ? `${safeStem}.${safeExt}` : safeStem
}

function truncateUtf8(value: string, maxBytes: number): string {
  if (Buffer.byteLength(value) <= maxBytes) return value
  const dot = value.lastIndexOf('.')
  const ext = dot > 0 && value.length - dot <= 16 ? value.slice(dot) : ''
  let stem = ext ? value.slice(0, dot) : value
  const budget = maxBytes - Buffer.byteLength(ext)
  const chars = Array.from(stem)
  while (Buffer.byteLength(stem) > budget) {
    chars.pop()
    stem = chars.join('')
  }
  return stem + ext
}

/** Output name within a photo folder: `original.jpg`, `thumbnail.webp`, … (the pipeline's extensions). */
export type OutputName = `${string}.${OutputExt}`

export const keys = {
  itemPhotoFolder: (itemId: string, photoId: string) =>
    `items/${assertSafeId(itemId, 'itemId')}/photos/${assertSafeId(photoId, 'photoId')}/`,
  itemPhoto: (itemId: string, photoId: string, output: OutputName) =>
    `${keys.itemPhotoFolder(itemId, photoId)}${output}`,
  profilePhotoFolder: (userId: string, photoId: string) =>
    `profiles/${assertSafeId(userId, 'userId')}/photo/${assertSafeId(photoId, 'photoId')}/`,
  profilePhoto: (userId: string, photoId: string, output: OutputName) =>
    `${keys.profilePhotoFolder(userId, photoId)}${output}`,
  verificationFolder: (userId: string, type: DocumentType, fileId: string) =>
    `verification/${assertSafeId(userId, 'userId')}/${type}/${assertSafeId(fileId, 'fileId')}/`,
  verification: (userId: string, type: DocumentType, fileId: string, fileName: string) =>
    `${keys.verificationFolder(userId, type, fileId)}${safeFileName(fileName, 'document')}`,
  tempUploadFolder: (uploadId: string) => `temp/uploads/${assertSafeId(uploadId, 'uploadId')}/`,
  tempUpload: (uploadId: string, fileName: string) =>
    `${keys.tempUploadFolder(uploadId)}${safeFileName(fileName, 'upload')}`,
} as const

/** Which policy a key falls under, from its prefix (what lifecycle rules and the CDN see too). */
export function keyKind(key: string): EntityType | 'temp' | 'other' {
  if (key.startsWith('items/')) return 'item'
  if (key.startsWith('profiles/')) return 'profile'
  if (key.startsWith('verification/')) return 'verification'
  if (key.startsWith('temp/')) return 'temp'
  return 'other'
}
