import type { IncomingMessage, ServerResponse } from 'node:http'
import { pipeline } from 'node:stream/promises'
import busboy from 'busboy'
import { LocalexError, isLocalexError } from '../../../errors/index.js'
import type { ObjectStore, PutResult } from '../../types.js'
import { DiskObjectStore } from './driver.js'
import { DELIVERY_PATH, UPLOAD_PATH, decodeKeyPath } from './signing.js'

/**
 * Framework-free handlers for the disk driver's signed URLs, so the embedded default needs no
 * object store of its own to serve downloads and direct uploads. Each takes `(req, res)` and
 * resolves `true` when it handled the request, `false` when the path is not its own (so the
 * caller can route it elsewhere). Paths are those of signing.ts, under the path of the store's
 * `publicBaseUrl`:
 *
 *   GET|HEAD /files/<key>          signed delivery: Range, ETag/If-None-Match, Cache-Control
 *   PUT      /uploads/direct/<key> presigned PUT: the body is the object
 *   POST     /uploads/direct       presigned POST: multipart/form-data, fields then `file`
 *
 * Failures are answered as application/problem+json with the catalogue's status and code
 * (403 SIGNATURE_INVALID / SIGNATURE_EXPIRED, 404 OBJECT_NOT_FOUND, 413 FILE_TOO_LARGE, …).
 */

export type NodeRequestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>

export interface DiskHandlerOptions {
  /** Clock for expiry checks (tests). */
  now?: () => number
  /** Largest body a presigned PUT may send (its URL carries no size; default 5 GiB, S3's limit). */
  maxPutBytes?: number
  /** How long a refused upload may go on sending before its connection is cut (default 5 s). */
  drainTimeoutMs?: number
}

/** Multipart limits: the policy's fields plus a few `x-ignore-*`, one file. */
const FORM_LIMITS = { files: 1, fields: 20, parts: 21, fieldNameSize: 100, fieldSize: 16 * 1024, headerPairs: 50 }

export function createDiskDeliveryHandler(store: ObjectStore, options: DiskHandlerOptions = {}): NodeRequestHandler {
  const disk = diskDriverOf(store)
  const now = options.now ?? Date.now
  const prefix = disk.signer.basePath + DELIVERY_PATH
  return async (req, res) => {
    const url = requestUrl(req)
    if (!url.pathname.startsWith(prefix)) return false
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendProblem(req, res, new LocalexError('VALIDATION_FAILED', `Method ${req.method ?? ''} is not allowed here`), { Allow: 'GET, HEAD' }, 405)
      return true
    }
    const { signal, dispose } = abortOnClose(res)
    try {
      const key = decodeKeyPath(url.pathname.slice(prefix.length))
      const signed = disk.signer.verifyGet(key, url.searchParams, now())
      const rangeHeader = req.headers.range
      let range: { start: number; end: number } | undefined
      if (rangeHeader) {
        const { size } = await disk.head(key, { signal })
        const parsed = parseRange(rangeHeader, size)
        if (parsed === 'unsatisfiable') {
          sendProblem(req, res, new LocalexError('RANGE_NOT_SATISFIABLE', `Range ${rangeHeader} is outside the object (${size} bytes)`), { 'Content-Range': `bytes */${size}` })
          return true
        }
        range = parsed
      }
      const object = await disk.getStream(key, { signal, ...(range ? { range } : {}) })
      const headers: Record<string, string> = {
        'Content-Type': signed.responseContentType ?? object.contentType,
        ETag: object.etag,
        'Last-Modified': object.lastModified.toUTCString(),
        'Accept-Ranges': 'bytes',
      }
      if (object.cacheControl) headers['Cache-Control'] = object.cacheControl
      const disposition = signed.responseContentDisposition ?? object.contentDisposition
      if (disposition) headers['Content-Disposition'] = disposition
      if (!range && etagMatches(req.headers['if-none-match'], object.etag)) {
        object.body.destroy()
        res.writeHead(304, headers).end()
        return true
      }
      if (object.range) {
        headers['Content-Range'] = `bytes ${object.range.start}-${object.range.end}/${object.range.total}`
        headers['Content-Length'] = String(object.range.end - object.range.start + 1)
      } else {
        headers['Content-Length'] = String(object.size)
      }
      res.writeHead(object.range ? 206 : 200, headers)
      if (req.method === 'HEAD') {
        object.body.destroy()
        res.end()
        return true
      }
      try {
        await pipeline(object.body, res)
      } catch {
        // The client went away mid-download: pipeline has closed the file; nobody is left to tell.
      }
      return true
    } catch (error) {
      sendProblem(req, res, error)
      return true
    } finally {
      dispose()
    }
  }
}

export function createDiskUploadHandler(store: ObjectStore, options: DiskHandlerOptions = {}): NodeRequestHandler {
  const disk = diskDriverOf(store)
  const now = options.now ?? Date.now
  const maxPutBytes = options.maxPutBytes ?? 5 * 1024 ** 3
  const postPath = disk.signer.basePath + UPLOAD_PATH
  const putPrefix = postPath + '/'
  return async (req, res) => {
    const url = requestUrl(req)
    const isPost = url.pathname === postPath || url.pathname === putPrefix
    if (!isPost && !url.pathname.startsWith(putPrefix)) return false
    if (isPost ? req.method !== 'POST' : req.method !== 'PUT') {
      sendProblem(req, res, new LocalexError('VALIDATION_FAILED', `Method ${req.method ?? ''} is not allowed here`), { Allow: isPost ? 'POST' : 'PUT' }, 405)
      return true
    }
    const { signal, abort, dispose } = abortOnClose(res)
    try {
      const result = isPost
        ? await acceptPost(disk, req, now(), signal, abort)
        : await acceptPut(disk, req, url, now(), maxPutBytes, signal)
      res.writeHead(isPost ? 204 : 200, { ETag: result.etag ?? '' }).end()
    } catch (error) {
      sendProblem(req, res, error, {}, undefined, options.drainTimeoutMs)
    } finally {
      dispose()
    }
    return true
  }
}

async function acceptPut(disk: DiskObjectStore, req: IncomingMessage, url: URL, now: number, maxBytes: number, signal: AbortSignal): Promise<PutResult> {
  const key = decodeKeyPath(url.pathname.slice(disk.signer.basePath.length + UPLOAD_PATH.length + 1))
  const signed = disk.signer.verifyPut(key, url.searchParams, now)
  const sentType = req.headers['content-type']
  if (signed.contentType !== undefined && sentType !== signed.contentType) {
    throw new LocalexError('SIGNATURE_INVALID', 'Signature is invalid: Content-Type differs from the signed one', { details: { reason: 'content-type' } })
  }
  if (signed.cacheControl !== undefined && req.headers['cache-control'] !== signed.cacheControl) {
    throw new LocalexError('SIGNATURE_INVALID', 'Signature is invalid: Cache-Control differs from the signed one', { details: { reason: 'cache-control' } })
  }
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length'])
  if (declared !== undefined && declared > maxBytes) {
    throw new LocalexError('FILE_TOO_LARGE', `Body is larger than ${maxBytes} bytes`, { details: { maxBytes } })
  }
  return disk.put(key, req, {
    contentType: signed.contentType ?? sentType ?? 'application/octet-stream',
    ...(signed.cacheControl ? { cacheControl: signed.cacheControl } : {}),
    ...(declared !== undefined && Number.isSafeInteger(declared) ? { contentLength: declared } : {}),
    limits: { max: maxBytes },
    signal,
  })
}

/**
 * Reads the form fields, checks them against the signed policy when the file part begins, and
 * streams the file into the store with the policy's size range enforced as the bytes arrive: one
 * byte over the maximum and the write stops, its temp file is removed, and the 413 goes out.
 */
function acceptPost(disk: DiskObjectStore, req: IncomingMessage, now: number, signal: AbortSignal, abort: (reason: unknown) => void): Promise<PutResult> {
  if (!/^multipart\/form-data\b/i.test(req.headers['content-type'] ?? '')) {
    return Promise.reject(invalidForm('expected a multipart/form-data body'))
  }
  let parser: busboy.Busboy
  try {
    parser = busboy({ headers: req.headers, limits: FORM_LIMITS })
  } catch (error) {
    return Promise.reject(invalidForm('the multipart body is malformed', error))
  }
  return new Promise<PutResult>((resolve, reject) => {
    const fields: Record<string, string> = {}
    let stored: Promise<PutResult> | undefined
    let failed = false
    const fail = (error: unknown) => {
      if (failed) return
      failed = true
      // Stop a write in progress and answer only once it has cleaned up after itself.
      abort(error)
      void (stored ?? Promise.resolve()).then(() => undefined, () => undefined).then(() => reject(error))
    }
    parser.on('field', (name, value, info) => {
      if (info.nameTruncated || info.valueTruncated) fail(invalidForm(`the field "${name.slice(0, 100)}" is too long`))
      // Fields after the file are ignored, as S3 does.
      else if (!stored) fields[name] = value
    })
    parser.on('file', (name, file) => {
      if (stored || failed || name !== 'file') {
        file.resume()
        if (!stored) fail(invalidForm(`unexpected file field "${name}"`))
        return
      }
      let policy
      try {
        policy = disk.signer.verifyPost(fields, now)
      } catch (error) {
        file.resume()
        fail(error)
        return
      }
      stored = disk.put(policy.key, file, {
        contentType: policy.contentType ?? 'application/octet-stream',
        ...(policy.cacheControl ? { cacheControl: policy.cacheControl } : {}),
        limits: { min: policy.min, max: policy.max },
        signal,
      })
      stored.then(resolve, fail)
    })
    parser.on('filesLimit', () => fail(invalidForm('only one file is allowed')))
    parser.on('fieldsLimit', () => fail(invalidForm('too many fields')))
    parser.on('partsLimit', () => fail(invalidForm('too many parts')))
    parser.on('error', (error) => fail(invalidForm('the multipart body is malformed', error)))
    parser.on('close', () => {
      if (!stored) fail(invalidForm('the form has no file field'))
    })
    req.pipe(parser)
  })
}

/** The disk driver behind `store` (itself, or the one the facade of storage/index.ts wraps). */
export function diskDriverOf(store: ObjectStore): DiskObjectStore {
  if (store instanceof DiskObjectStore) return store
  const inner = (store as { driver?: unknown }).driver
  if (inner instanceof DiskObjectStore) return inner
  throw new TypeError('The disk handlers need a store on the disk driver')
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

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false
  return header.split(',').some((t) => {
    const tag = t.trim().replace(/^W\//, '')
    return tag === '*' || tag === etag
  })
}

function requestUrl(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', 'http://localhost')
}

function abortOnClose(res: ServerResponse): { signal: AbortSignal; abort: (reason: unknown) => void; dispose: () => void } {
  const controller = new AbortController()
  const onClose = () => {
    if (!res.writableFinished) controller.abort(new Error('client closed the connection'))
  }
  res.on('close', onClose)
  return { signal: controller.signal, abort: (reason) => controller.abort(reason), dispose: () => res.off('close', onClose) }
}

function invalidForm(reason: string, cause?: unknown): LocalexError {
  return new LocalexError('VALIDATION_FAILED', `Upload form refused: ${reason}`, { cause, details: { reason } })
}

/**
 * Answers with application/problem+json. When the request body is still arriving (a refused
 * upload), the rest is read and dropped, so the client can finish sending and read the answer;
 * past `drainTimeoutMs` the socket is cut. No `Connection: close` on that answer: Node's server
 * destroys the socket as soon as such a response is written, with the body unread, and the client,
 * still sending, gets EPIPE or ECONNRESET instead of the answer (every time with Node 24's fetch
 * in-process; now and then with Node 20's). Once the body has been read to its end the
 * connection is intact and may be reused.
 */
function sendProblem(req: IncomingMessage, res: ServerResponse, error: unknown, headers: Record<string, string> = {}, status?: number, drainTimeoutMs = 5000): void {
  const known = isLocalexError(error) ? error : new LocalexError('INTERNAL', undefined, { cause: error })
  const code = status ?? known.status
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = JSON.stringify({ type: 'about:blank', title: known.title, status: code, code: known.code, detail: known.message })
  const incomplete = !req.complete
  res.writeHead(code, {
    ...headers,
    'Content-Type': 'application/problem+json',
    'Content-Length': String(Buffer.byteLength(body)),
  })
  res.end(body)
  if (incomplete) {
    req.unpipe()
    req.resume()
    const timer = setTimeout(() => req.socket.destroy(), drainTimeoutMs)
    timer.unref()
    req.once('end', () => clearTimeout(timer))
    req.once('close', () => clearTimeout(timer))
  }
}
