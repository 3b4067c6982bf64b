import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import { LocalexError, isLocalexError } from '../errors/index.js'
import {
  contentDisposition,
  decodeKeyPath,
  keyKind,
  type ObjectHead,
  type ObjectStore,
  type VerifiedGet,
} from '../storage/index.js'

/**
 * Delivery of stored objects over HTTP, without a framework: the Fastify route (delivery.ts) and
 * the library's Node handler (disk-handlers.ts) both answer through `deliver`, so what one of
 * them does the other does too. It lives in `http/` because all of it is HTTP (conditional
 * requests, ranges, response headers); the store only hands over heads and streams.
 *
 * - a signature, when present or required, must verify (403 SIGNATURE_INVALID / SIGNATURE_EXPIRED)
 *   before the store is even asked; it is what makes `response-content-*` overrides count;
 * - If-None-Match / If-Modified-Since (304), Range (206, 416) and If-Range; HEAD;
 * - the object's ETag, Last-Modified and Cache-Control; `X-Content-Type-Options: nosniff` and a
 *   sandboxing CSP on every object; documents, temporary uploads and keys outside the layout
 *   always as attachments (RFC 6266).
 */

export type KeyKind = ReturnType<typeof keyKind>

export interface DeliveryPolicy {
  /** Checks a signed URL's query for `key`: SIGNATURE_INVALID or SIGNATURE_EXPIRED. */
  verify: (key: string, query: URLSearchParams, now: number) => VerifiedGet
  /** Kinds of key anyone may read without a signature. */
  unsignedKinds: readonly KeyKind[]
  /**
   * Answer NOT_FOUND for anything that is not a servable object (a path that is no key, a key
   * outside the layout, a missing object), so that nobody can probe which keys exist.
   */
  conceal: boolean
  /** Cache-Control of an object stored without one; none when absent. */
  defaultCacheControl?: ((kind: KeyKind) => string) | undefined
  /** Clock of signature expiry (tests). */
  now: () => number
}

export interface DeliveryRequest {
  method: string
  /** The key as it stands in the URL path below the delivery prefix, still percent-encoded. */
  keyPath: string
  query: URLSearchParams
  headers: IncomingHttpHeaders
  signal?: AbortSignal | undefined
}

export type Delivery =
  /** An answer with the object (200, 206), or without it (HEAD, 304). Header names are lower-case. */
  | { status: 200 | 206 | 304; headers: Record<string, string>; body?: Readable; error?: undefined }
  /** A refusal that carries headers of its own (416 and its Content-Range): write `error` as a problem with them. */
  | { status: number; headers: Record<string, string>; body?: undefined; error: LocalexError }

/** Whatever an object turns out to be, it runs nothing in our origin. */
const SANDBOX = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"

/** Kinds whose objects are public content: embeddable from other origins, and shown inline. */
const PUBLIC_CONTENT: readonly KeyKind[] = ['item', 'profile']

/**
 * Answers one GET or HEAD of a stored object. Rejects with a LocalexError for refusals that need
 * no headers of their own (403, 404, store failures); resolves everything else.
 */
export async function deliver(store: ObjectStore, policy: DeliveryPolicy, request: DeliveryRequest): Promise<Delivery> {
  const { query, headers: asked, signal } = request
  const key = decodeKey(request.keyPath, policy)
  const kind = keyKind(key)
  if (kind === 'other' && policy.conceal) throw noSuchObject()
  let signed: VerifiedGet | undefined
  if (!policy.unsignedKinds.includes(kind) || query.has('sig')) signed = policy.verify(key, query, policy.now())

  const head = await concealMissing(policy, () => store.head(key, { signal }))
  const etag = head.etag.startsWith('"') || head.etag.startsWith('W/') ? head.etag : `"${head.etag}"`
  // HTTP dates have whole seconds: compare conditions at that precision.
  const lastModified = new Date(Math.floor(head.lastModified.getTime() / 1000) * 1000)
  const headers: Record<string, string> = {
    'accept-ranges': 'bytes',
    etag,
    'last-modified': lastModified.toUTCString(),
  }
  const cacheControl = head.cacheControl ?? policy.defaultCacheControl?.(kind)
  if (cacheControl) headers['cache-control'] = cacheControl
  headers['x-content-type-options'] = 'nosniff'
  headers['content-security-policy'] = SANDBOX
  headers['cross-origin-resource-policy'] = PUBLIC_CONTENT.includes(kind) ? 'cross-origin' : 'same-origin'

  if (notModified(asked, etag, lastModified)) return { status: 304, headers }

  let range: { start: number; end: number } | undefined
  const rangeHeader = first(asked.range)
  if (rangeHeader && ifRangeHolds(first(asked['if-range']), etag, lastModified)) {
    const parsed = parseRange(rangeHeader, head.size)
    if (parsed === 'unsatisfiable') {
      const error = new LocalexError('RANGE_NOT_SATISFIABLE', `The range is outside the object (${head.size} bytes)`)
      return { status: error.status, headers: { 'content-range': `bytes */${head.size}` }, error }
    }
    range = parsed
  }

  headers['content-type'] = signed?.responseContentType ?? head.contentType
  const disposition = dispositionFor(kind, key, head, signed)
  if (disposition) headers['content-disposition'] = disposition
  if (range) {
    headers['content-range'] = `bytes ${range.start}-${range.end}/${head.size}`
    headers['content-length'] = String(range.end - range.start + 1)
  } else {
    headers['content-length'] = String(head.size)
  }
  const status = range ? 206 : 200
  if (request.method === 'HEAD') return { status, headers }
  // Opened before anything is written, so that an object gone since the head is still a clean 404.
  const object = await concealMissing(policy, () => store.getStream(key, { signal, range }))
  return { status, headers, body: object.body }
}

/**
 * `bytes=a-b`, `bytes=a-`, `bytes=-n` against an object of `size` bytes. Anything else (several
 * ranges, garbage) is ignored and the whole object is served, as RFC 9110 allows.
 */
export function parseRange(header: string, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m || (m[1] === '' && m[2] === '')) return undefined
  if (m[1] === '') {
    const suffix = Number(m[2])
    if (suffix === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (m[2] !== '' && Number(m[2]) < start) return undefined
  if (start >= size) return 'unsatisfiable'
  return { start, end }
}

function decodeKey(keyPath: string, policy: DeliveryPolicy): string {
  try {
    return decodeKeyPath(keyPath)
  } catch (error) {
    if (policy.conceal) throw noSuchObject(error)
    throw error
  }
}

async function concealMissing<T>(policy: DeliveryPolicy, read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (error) {
    throw policy.conceal && isLocalexError(error, 'OBJECT_NOT_FOUND') ? noSuchObject(error) : error
  }
}

function noSuchObject(cause?: unknown): LocalexError {
  return new LocalexError('NOT_FOUND', 'No such object', cause === undefined ? {} : { cause })
}

/** Documents, temporary uploads and keys outside the layout are never rendered by the browser; images may be. */
function dispositionFor(kind: KeyKind, key: string, head: ObjectHead, signed?: VerifiedGet): string | undefined {
  const asked = signed?.responseContentDisposition ?? head.contentDisposition
  if (PUBLIC_CONTENT.includes(kind)) return asked
  if (asked && /^attachment\b/i.test(asked)) return asked
  return contentDisposition(key.slice(key.lastIndexOf('/') + 1), 'attachment', 'document')
}

function notModified(headers: IncomingHttpHeaders, etag: string, lastModified: Date): boolean {
  const inm = headers['if-none-match']
  if (inm !== undefined) {
    const bare = etag.replace(/^W\//, '')
    return inm.split(',').some((t) => {
      const tag = t.trim()
      return tag === '*' || tag.replace(/^W\//, '') === bare
    })
  }
  const ims = headers['if-modified-since']
  if (ims !== undefined) {
    const since = Date.parse(ims)
    return Number.isFinite(since) && lastModified.getTime() <= since
  }
  return false
}

/** RFC 9110 §13.1.5: a Range counts only while the representation is the one the client has. */
function ifRangeHolds(ifRange: string | undefined, etag: string, lastModified: Date): boolean {
  if (ifRange === undefined) return true
  const value = ifRange.trim()
  if (value.startsWith('"') || value.startsWith('W/')) return !value.startsWith('W/') && value === etag
  const date = Date.parse(value)
  return Number.isFinite(date) && lastModified.getTime() === date
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
