import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config/index.js'
import { LocalexError, isLocalexError } from '../errors/index.js'
import { parseRange } from '../storage/drivers/disk/http.js'
import { decodeKeyPath, verifySignedUrl, type VerifiedGet } from '../storage/drivers/disk/signing.js'
import { contentDisposition } from '../storage/content-disposition.js'
import { keyKind } from '../storage/keys.js'
import type { ObjectHead, ObjectStore } from '../storage/types.js'
import { requestContext } from './routes/common.js'
import { problemResponses } from './schemas.js'

/**
 * `GET|HEAD /files/<key>`: the service delivering stored objects itself — the embedded default
 * (disk store), and S3 when no CDN is configured. URLs are those the disk driver signs
 * (src/storage/drivers/disk/signing.ts), under the path of `config.storage.publicBaseUrl`:
 *
 * - `items/` and `profiles/` keys are public: no signature needed (a signature, when present,
 *   must verify; it is what makes `response-content-*` overrides count);
 * - everything else (`verification/`, `temp/`) needs a valid, unexpired signature: 403
 *   SIGNATURE_INVALID / SIGNATURE_EXPIRED before the store is even asked, so nobody can probe
 *   which keys exist;
 * - Range (206, 416), If-None-Match / If-Modified-Since (304), If-Range; the object's ETag,
 *   Last-Modified and Cache-Control; `X-Content-Type-Options: nosniff` and a sandboxing CSP on
 *   every object; documents and temporary uploads always as attachments (RFC 6266).
 */

export interface DeliveryOptions {
  config: Config
  store: ObjectStore
  /** Clock for signature expiry (tests). */
  now?: () => number
}

export const deliveryRoutes: FastifyPluginAsync<DeliveryOptions> = async (app, { config, store, now = Date.now }) => {
  const basePath = new URL(config.storage.publicBaseUrl).pathname.replace(/\/+$/, '')
  const prefix = `${basePath}/files/`

  app.route({
    method: ['GET', 'HEAD'],
    url: `${prefix}*`,
    exposeHeadRoute: false,
    schema: {
      tags: ['delivery'],
      summary: 'Download a stored object (embedded delivery)',
      description: 'Public keys (`items/`, `profiles/`) need no signature; others need the `expires` and `sig` of a signed URL from GET /v1/files/{id}/url. Supports Range and conditional requests.',
      response: {
        200: { description: 'The object (206 for a Range, 304 when not modified).', content: { '*/*': { schema: { type: 'string', format: 'binary' } } } },
        ...problemResponses,
      },
    },
    handler: async (request, reply) => deliver(request, reply),
  })

  async function deliver(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const raw = request.raw.url ?? '/'
    const q = raw.indexOf('?')
    const path = q < 0 ? raw : raw.slice(0, q)
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1))
    if (!path.startsWith(prefix)) throw new LocalexError('NOT_FOUND', 'No such object')

    let key: string
    try {
      key = decodeKeyPath(path.slice(prefix.length))
    } catch {
      throw new LocalexError('NOT_FOUND', 'No such object')
    }
    const kind = keyKind(key)
    if (kind === 'other') throw new LocalexError('NOT_FOUND', 'No such object')
    const isPublic = kind === 'item' || kind === 'profile'
    let signed: VerifiedGet | undefined
    if (!isPublic || query.has('sig')) signed = verifySignedUrl({ key, query }, config.storage.signingSecret, now())

    const { signal } = requestContext(request, reply)
    let head: ObjectHead
    try {
      head = await store.head(key, { signal })
    } catch (error) {
      throw isLocalexError(error, 'OBJECT_NOT_FOUND') ? new LocalexError('NOT_FOUND', 'No such object', { cause: error }) : error
    }

    const etag = head.etag.startsWith('"') || head.etag.startsWith('W/') ? head.etag : `"${head.etag}"`
    const lastModified = new Date(Math.floor(head.lastModified.getTime() / 1000) * 1000)
    const headers: Record<string, string> = {
      'accept-ranges': 'bytes',
      etag,
      'last-modified': lastModified.toUTCString(),
      'cache-control': head.cacheControl ?? defaultCacheControl(config, kind),
      'x-content-type-options': 'nosniff',
      // Whatever an object turns out to be, it runs nothing in our origin.
      'content-security-policy': "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox",
      'cross-origin-resource-policy': isPublic ? 'cross-origin' : 'same-origin',
    }

    if (notModified(request, etag, lastModified)) return reply.code(304).headers(headers).send()

    let range: { start: number; end: number } | undefined
    const rangeHeader = request.headers.range
    if (rangeHeader && ifRangeHolds(firstHeader(request.headers['if-range']), etag, lastModified)) {
      const parsed = parseRange(rangeHeader, head.size)
      if (parsed === 'unsatisfiable') {
        reply.header('content-range', `bytes */${head.size}`)
        throw new LocalexError('RANGE_NOT_SATISFIABLE', `The range is outside the object (${head.size} bytes)`)
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
    reply.code(range ? 206 : 200).headers(headers)
    if (request.method === 'HEAD') return reply.send()

    const object = await store.getStream(key, { signal, ...(range ? { range } : {}) })
    // Fastify destroys the stream when the client goes away.
    return reply.send(object.body)
  }
}

function defaultCacheControl(config: Config, kind: ReturnType<typeof keyKind>): string {
  if (kind === 'verification') return config.files.cacheControl.document
  if (kind === 'temp') return config.files.cacheControl.temp
  return config.files.cacheControl.public
}

/** Documents and temporary uploads are never rendered by the browser; images may be. */
function dispositionFor(kind: ReturnType<typeof keyKind>, key: string, head: ObjectHead, signed: VerifiedGet | undefined): string | undefined {
  const asked = signed?.responseContentDisposition ?? head.contentDisposition
  if (kind === 'item' || kind === 'profile') return asked
  if (asked && /^attachment\b/i.test(asked)) return asked
  return contentDisposition(key.slice(key.lastIndexOf('/') + 1), 'attachment', 'document')
}

function notModified(request: FastifyRequest, etag: string, lastModified: Date): boolean {
  const inm = request.headers['if-none-match']
  if (inm !== undefined) {
    const bare = etag.replace(/^W\//, '')
    return inm.split(',').some((t) => {
      const tag = t.trim()
      return tag === '*' || tag.replace(/^W\//, '') === bare
    })
  }
  const ims = request.headers['if-modified-since']
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

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
