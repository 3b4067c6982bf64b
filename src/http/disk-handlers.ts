import type { IncomingMessage, ServerResponse } from 'node:http'
import { pipeline } from 'node:stream/promises'
import { LocalexError } from '../errors/index.js'
import {
  DELIVERY_PATH,
  UPLOAD_PATH,
  decodeKeyPath,
  diskDriverOf,
  type DiskObjectStore,
  type ObjectStore,
  type PutResult,
} from '../storage/index.js'
import { deliver, type DeliveryPolicy } from './delivery-core.js'
import { receiveFormFile } from './multipart.js'
import { writeProblem } from './problem.js'

/**
 * Framework-free handlers for the disk store's signed URLs, so that an embedder needs no server
 * of ours to serve downloads and receive direct uploads. Each takes `(req, res)` and resolves
 * `true` when it handled the request, `false` when the path is not its own (so the caller can
 * route it elsewhere). Paths are those the disk driver signs, under the path of the store's
 * `publicBaseUrl`:
 *
 *   GET|HEAD /files/<key>          signed delivery (delivery-core.ts: ranges, conditional requests,
 *                                  nosniff, a sandboxing CSP, attachments for documents)
 *   PUT      /uploads/direct/<key> presigned PUT: the body is the object
 *   POST     /uploads/direct       presigned POST: multipart/form-data, fields then `file`
 *
 * Every key needs a signature here (the service's route, delivery.ts, also serves public keys
 * without one). Failures are answered as application/problem+json with the catalogue's status
 * and code (403 SIGNATURE_INVALID / SIGNATURE_EXPIRED, 404 OBJECT_NOT_FOUND, 413 FILE_TOO_LARGE, …).
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

export function createDiskDeliveryHandler(store: ObjectStore, options: DiskHandlerOptions = {}): NodeRequestHandler {
  const disk = diskDriverOf(store)
  const prefix = disk.signer.basePath + DELIVERY_PATH
  const policy: DeliveryPolicy = {
    verify: (key, query, at) => disk.signer.verifyGet(key, query, at),
    unsignedKinds: [],
    conceal: false,
    now: options.now ?? Date.now,
  }
  return async (req, res) => {
    const url = requestUrl(req)
    if (!url.pathname.startsWith(prefix)) return false
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      writeProblem(req, res, notAllowed(req), { headers: { allow: 'GET, HEAD' }, status: 405 })
      return true
    }
    const { signal, dispose } = abortOnClose(res)
    try {
      const keyPath = url.pathname.slice(prefix.length)
      const request = { method: req.method, keyPath, query: url.searchParams, headers: req.headers, signal }
      const answer = await deliver(store, policy, request)
      if (answer.error) {
        writeProblem(req, res, answer.error, { headers: answer.headers })
        return true
      }
      res.writeHead(answer.status, answer.headers)
      if (!answer.body) {
        res.end()
        return true
      }
      try {
        await pipeline(answer.body, res)
      } catch {
        // The client went away mid-download: pipeline has closed the file; nobody is left to tell.
      }
      return true
    } catch (error) {
      writeProblem(req, res, error)
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
      writeProblem(req, res, notAllowed(req), { headers: { allow: isPost ? 'POST' : 'PUT' }, status: 405 })
      return true
    }
    const { signal, abort, dispose } = abortOnClose(res)
    try {
      const result = isPost
        ? await acceptPost(disk, req, now(), signal, abort)
        : await acceptPut(disk, req, url.pathname.slice(putPrefix.length), url.searchParams, now(), maxPutBytes, signal)
      res.writeHead(isPost ? 204 : 200, { ETag: result.etag ?? '' }).end()
    } catch (error) {
      writeProblem(req, res, error, { drainTimeoutMs: options.drainTimeoutMs })
    } finally {
      dispose()
    }
    return true
  }
}

/** A presigned PUT: the headers must be the signed ones, and the body is streamed in within `maxBytes`. */
async function acceptPut(
  disk: DiskObjectStore,
  req: IncomingMessage,
  keyPath: string,
  query: URLSearchParams,
  now: number,
  maxBytes: number,
  signal: AbortSignal,
): Promise<PutResult> {
  const key = decodeKeyPath(keyPath)
  const signed = disk.signer.verifyPut(key, query, now)
  const sentType = req.headers['content-type']
  if (signed.contentType !== undefined && sentType !== signed.contentType) {
    throw signatureMismatch('Content-Type', 'content-type')
  }
  if (signed.cacheControl !== undefined && req.headers['cache-control'] !== signed.cacheControl) {
    throw signatureMismatch('Cache-Control', 'cache-control')
  }
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length'])
  if (declared !== undefined && declared > maxBytes) {
    throw new LocalexError('FILE_TOO_LARGE', `Body is larger than ${maxBytes} bytes`, { details: { maxBytes } })
  }
  return disk.put(key, req, {
    contentType: signed.contentType ?? sentType ?? 'application/octet-stream',
    cacheControl: signed.cacheControl,
    contentLength: declared !== undefined && Number.isSafeInteger(declared) ? declared : undefined,
    limits: { max: maxBytes },
    signal,
  })
}

/**
 * A presigned POST: the form's fields are checked against the signed policy when the file part
 * begins, and the file streams into the store with the policy's size range enforced as the bytes
 * arrive: one byte over the maximum and the write stops, its temp file is removed, and the 413
 * goes out.
 */
function acceptPost(
  disk: DiskObjectStore,
  req: IncomingMessage,
  now: number,
  signal: AbortSignal,
  abort: (reason: unknown) => void,
): Promise<PutResult> {
  return receiveFormFile(req, {
    abort,
    store: (fields, file) => {
      const policy = disk.signer.verifyPost(fields, now)
      return disk.put(policy.key, file, {
        contentType: policy.contentType ?? 'application/octet-stream',
        cacheControl: policy.cacheControl,
        limits: { min: policy.min, max: policy.max },
        signal,
      })
    },
  })
}

function signatureMismatch(header: string, reason: string): LocalexError {
  const message = `Signature is invalid: ${header} differs from the signed one`
  return new LocalexError('SIGNATURE_INVALID', message, { details: { reason } })
}

function notAllowed(req: IncomingMessage): LocalexError {
  return new LocalexError('VALIDATION_FAILED', `Method ${req.method ?? ''} is not allowed here`)
}

function requestUrl(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', 'http://localhost')
}

interface RequestAbort {
  signal: AbortSignal
  abort: (reason: unknown) => void
  dispose: () => void
}

function abortOnClose(res: ServerResponse): RequestAbort {
  const controller = new AbortController()
  const onClose = () => {
    if (!res.writableFinished) controller.abort(new Error('client closed the connection'))
  }
  res.on('close', onClose)
  return {
    signal: controller.signal,
    abort: (reason) => controller.abort(reason),
    dispose: () => res.off('close', onClose),
  }
}
