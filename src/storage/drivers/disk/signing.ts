import { createHmac, timingSafeEqual } from 'node:crypto'
import { LocalexError } from '../../../errors/index.js'
import { encodeKeyPath } from '../../../lib/index.js'
import { unsafeKeyReason } from '../../keys.js'

/**
 * Signed URLs of the disk driver. The service itself serves and accepts them (see http.ts), so
 * the scheme is ours: HMAC-SHA256 with `config.storage.signingSecret` over a canonical string,
 * base64url in the URL.
 *
 * Routes, under the path of `publicBaseUrl`:
 *   GET|HEAD /files/<key>?expires=<unix s>[&response-content-disposition=…][&response-content-type=…]&sig=…
 *   PUT      /uploads/direct/<key>?expires=<unix s>[&content-type=…][&cache-control=…]&sig=…
 *   POST     /uploads/direct   multipart/form-data: key, [Content-Type], [Cache-Control], policy, signature, then file
 *
 * `<key>` is the key with each `/`-separated segment percent-encoded. The canonical string is the
 * JSON array of the method, the key, the expiry and each signed parameter (null when absent), so
 * no value can be shifted into another. A POST signs its base64url policy instead.
 */

const VERSION = 'localex-disk-v1'
export const DELIVERY_PATH = '/files/'
export const UPLOAD_PATH = '/uploads/direct'

export interface SignedGetParams {
  responseContentDisposition?: string | undefined
  responseContentType?: string | undefined
}

export interface SignedPutParams {
  contentType?: string | undefined
  cacheControl?: string | undefined
}

/** What a presigned POST allows; base64url JSON in the `policy` field. */
export interface PostPolicy {
  key: string
  /** Unix seconds. */
  expires: number
  min: number
  max: number
  contentType?: string
  cacheControl?: string
}

export interface VerifiedGet extends SignedGetParams {
  key: string
  expiresAt: Date
}

export class DiskUrlSigner {
  readonly #secret: string
  /** Without a trailing slash; may have a path (`https://host/storage`). */
  readonly baseUrl: string

  constructor(secret: string, baseUrl: string) {
    if (!secret || secret.length < 32)
      throw new LocalexError('CONFIG_INVALID', 'URL signing secret must have at least 32 characters')
    this.#secret = secret
    this.baseUrl = baseUrl.replace(/\/+$/, '')
  }

  /** Path prefix the HTTP layer mounts the routes under (`/storage` for `https://host/storage`). */
  get basePath(): string {
    return new URL(this.baseUrl).pathname.replace(/\/+$/, '')
  }

  signGet(key: string, expiresAt: Date, params: SignedGetParams = {}): string {
    const expires = unixSeconds(expiresAt)
    const query = new URLSearchParams({ expires: String(expires) })
    if (params.responseContentDisposition) query.set('response-content-disposition', params.responseContentDisposition)
    if (params.responseContentType) query.set('response-content-type', params.responseContentType)
    query.set(
      'sig',
      this.#sign(['GET', key, expires, params.responseContentDisposition ?? null, params.responseContentType ?? null]),
    )
    return `${this.baseUrl}${DELIVERY_PATH}${encodeKeyPath(key)}?${query.toString()}`
  }

  /** Throws SIGNATURE_INVALID or SIGNATURE_EXPIRED; returns the signed response overrides. */
  verifyGet(key: string, query: URLSearchParams, now = Date.now()): VerifiedGet {
    const expires = parseExpires(query.get('expires'))
    const responseContentDisposition = query.get('response-content-disposition') ?? undefined
    const responseContentType = query.get('response-content-type') ?? undefined
    this.#check(query.get('sig'), [
      'GET',
      key,
      expires,
      responseContentDisposition ?? null,
      responseContentType ?? null,
    ])
    checkExpiry(expires, now)
    return { key, expiresAt: new Date(expires * 1000), responseContentDisposition, responseContentType }
  }

  signPut(key: string, expiresAt: Date, params: SignedPutParams = {}): string {
    const expires = unixSeconds(expiresAt)
    const query = new URLSearchParams({ expires: String(expires) })
    if (params.contentType) query.set('content-type', params.contentType)
    if (params.cacheControl) query.set('cache-control', params.cacheControl)
    query.set('sig', this.#sign(['PUT', key, expires, params.contentType ?? null, params.cacheControl ?? null]))
    return `${this.baseUrl}${UPLOAD_PATH}/${encodeKeyPath(key)}?${query.toString()}`
  }

  verifyPut(key: string, query: URLSearchParams, now = Date.now()): SignedPutParams {
    const expires = parseExpires(query.get('expires'))
    const contentType = query.get('content-type') ?? undefined
    const cacheControl = query.get('cache-control') ?? undefined
    this.#check(query.get('sig'), ['PUT', key, expires, contentType ?? null, cacheControl ?? null])
    checkExpiry(expires, now)
    return { contentType, cacheControl }
  }

  signPost(policy: PostPolicy): { url: string; fields: Record<string, string> } {
    const encoded = Buffer.from(JSON.stringify(policy), 'utf8').toString('base64url')
    const fields: Record<string, string> = { key: policy.key }
    if (policy.contentType) fields['Content-Type'] = policy.contentType
    if (policy.cacheControl) fields['Cache-Control'] = policy.cacheControl
    fields.policy = encoded
    fields.signature = this.#sign(['POST', encoded])
    return { url: `${this.baseUrl}${UPLOAD_PATH}`, fields }
  }

  /**
   * Checks the form fields sent before the file against their policy: signature, expiry, key,
   * and that Content-Type and Cache-Control are exactly what was signed (or absent).
   */
  verifyPost(fields: Readonly<Record<string, string>>, now = Date.now()): PostPolicy {
    const encoded = fields.policy
    if (!encoded) throw invalid('the policy field is missing')
    this.#check(fields.signature ?? null, ['POST', encoded])
    let policy: PostPolicy
    try {
      policy = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as PostPolicy
    } catch (error) {
      throw invalid('the policy is not valid JSON', error)
    }
    checkExpiry(policy.expires, now)
    if (fields.key !== policy.key) throw invalid('the key field does not match the policy')
    if ((fields['Content-Type'] ?? undefined) !== (policy.contentType ?? undefined))
      throw invalid('the Content-Type field does not match the policy')
    if ((fields['Cache-Control'] ?? undefined) !== (policy.cacheControl ?? undefined))
      throw invalid('the Cache-Control field does not match the policy')
    for (const name of Object.keys(fields)) {
      if (!POST_FIELDS.has(name) && !name.toLowerCase().startsWith('x-ignore-'))
        throw invalid(`the field "${name}" is not allowed by the policy`)
    }
    return policy
  }

  #sign(parts: readonly unknown[]): string {
    return createHmac('sha256', this.#secret)
      .update(VERSION)
      .update('\n')
      .update(JSON.stringify(parts))
      .digest('base64url')
  }

  #check(given: string | null, parts: readonly unknown[]): void {
    if (!given) throw invalid('the signature is missing')
    const expected = Buffer.from(this.#sign(parts), 'utf8')
    const actual = Buffer.from(given, 'utf8')
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual))
      throw invalid('the signature does not match')
  }
}

const POST_FIELDS = new Set(['key', 'Content-Type', 'Cache-Control', 'policy', 'signature'])

/**
 * Verifies a signed GET URL of the disk driver without a store: the key comes from the path
 * (after the `/files/` segment), the rest from the query. Throws SIGNATURE_INVALID or
 * SIGNATURE_EXPIRED (403).
 */
export function verifySignedUrl(
  url: string | URL | { key: string; query: URLSearchParams },
  secret: string,
  now = Date.now(),
): VerifiedGet {
  const signer = new DiskUrlSigner(secret, 'http://localhost')
  if (typeof url === 'object' && 'key' in url) return signer.verifyGet(url.key, url.query, now)
  const parsed = typeof url === 'string' ? new URL(url) : url
  const at = parsed.pathname.indexOf(DELIVERY_PATH)
  if (at < 0) throw invalid('not a delivery URL')
  return signer.verifyGet(decodeKeyPath(parsed.pathname.slice(at + DELIVERY_PATH.length)), parsed.searchParams, now)
}

/** The inverse of `encodeKeyPath`; SIGNATURE_INVALID for malformed escapes or unsafe keys. */
export function decodeKeyPath(path: string): string {
  let key: string
  try {
    key = path.split('/').map(decodeURIComponent).join('/')
  } catch (error) {
    throw invalid('the key in the URL is malformed', error)
  }
  if (unsafeKeyReason(key)) throw invalid('the key in the URL is not allowed')
  return key
}

/** Rounded up: a URL never lives shorter than asked (at most a second longer). */
function unixSeconds(date: Date): number {
  return Math.ceil(date.getTime() / 1000)
}

function parseExpires(value: string | null): number {
  if (!value || !/^\d{1,12}$/.test(value)) throw invalid('expires is missing or malformed')
  return Number(value)
}

function checkExpiry(expires: number, now: number): void {
  if (!Number.isSafeInteger(expires)) throw invalid('expires is malformed')
  if (now >= expires * 1000)
    throw new LocalexError('SIGNATURE_EXPIRED', 'The signed URL has expired', {
      details: { expiredAt: new Date(expires * 1000).toISOString() },
    })
}

function invalid(reason: string, cause?: unknown): LocalexError {
  return new LocalexError('SIGNATURE_INVALID', `Signature is invalid: ${reason}`, { cause, details: { reason } })
}
