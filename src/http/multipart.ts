import type { IncomingMessage } from 'node:http'
import { Readable } from 'node:stream'
import busboy from 'busboy'
import type { FastifyRequest } from 'fastify'
import type { MultipartFile } from '@fastify/multipart'
import { LocalexError, isLocalexError } from '../errors/index.js'
import { toLocalexError } from './problem.js'

/**
 * Multipart parsing, both kinds the service reads: an upload to the API (`readSingleFile`, through
 * @fastify/multipart) and a presigned POST to the disk store's receiver (`receiveFormFile`,
 * busboy on the bare request, since that receiver runs without Fastify too).
 *
 * readSingleFile: one streamed file out of a multipart/form-data body, with busboy's limits set
 * (its defaults are unlimited). The file's bytes are handed on as they arrive, never buffered. Everything that can
 * go wrong while the body is read becomes an error ON THE FILE STREAM the consumer is reading, so
 * the consumer (the files layer) stops and writes nothing:
 *
 * - the size limit is passed: FILE_TOO_LARGE at once, before the rest of the body is read;
 * - the body is malformed, unterminated or the client goes away: VALIDATION_FAILED;
 * - anything follows the file (a second file, a field, too many parts): VALIDATION_FAILED. The
 *   body stream ends only after the rest of the request has been checked, so a request with two
 *   files never stores the first one.
 */

/** busboy limits; `fileSize` is added per app from `config.images.maxBytes`. */
export const MULTIPART_LIMITS = {
  /** One file per request. */
  files: 1,
  /** Fields + files: the largest form we take is `type` + `file`; a little slack for clients. */
  parts: 10,
  fields: 5,
  fieldNameSize: 100,
  /** Field values are short words (`passport`); anything longer is refused, not truncated. */
  fieldSize: 1024,
  /** Headers of one part (Content-Disposition, Content-Type, maybe Content-Transfer-Encoding). */
  headerPairs: 10,
} as const

export interface IncomingFile {
  /** Fields sent before the file (only the ones the route allows; fields after it are refused). */
  fields: Record<string, string>
  /** The client's name for the file, display only (the files layer sanitises it). */
  fileName: string | undefined
  /** What the client claims; the files layer decides the type from the bytes. */
  mimeType: string
  /** The file's bytes, streamed; errors as described above. */
  body: Readable
  /** Bytes of the file received so far. */
  readonly bytes: number
  /** Set when reading the body failed: the error to answer with, whatever the consumer made of it. */
  readonly failure: LocalexError | undefined
  /** Stops reading the body (the consumer is done with it, or never started). */
  discard(): void
}

export interface ReadFileOptions {
  maxBytes: number
  /** Fields allowed besides the file (which must be named `file`). */
  fields?: readonly string[]
}

export async function readSingleFile(request: FastifyRequest, options: ReadFileOptions): Promise<IncomingFile> {
  if (!request.isMultipart())
    throw new LocalexError('UNSUPPORTED_TYPE', 'Expected a multipart/form-data body with one "file" part')
  const allowed = options.fields ?? []
  const parts = request.parts()
  const fields: Record<string, string> = {}

  const acceptField = (name: string, value: unknown, truncated: boolean): void => {
    if (!allowed.includes(name))
      throw new LocalexError('VALIDATION_FAILED', `Unexpected form field "${name.slice(0, 100)}"`, {
        details: { field: name.slice(0, 100) },
      })
    if (truncated || typeof value !== 'string')
      throw new LocalexError('VALIDATION_FAILED', `Form field "${name}" is too long`, { details: { field: name } })
    if (name in fields)
      throw new LocalexError('VALIDATION_FAILED', `Form field "${name}" appears twice`, { details: { field: name } })
    fields[name] = value
  }

  let file: MultipartFile
  try {
    for (;;) {
      const next = await parts.next()
      if (next.done) throw new LocalexError('VALIDATION_FAILED', 'The form has no file: send it as the "file" part')
      const part = next.value
      if (part.type === 'field') {
        acceptField(part.fieldname, part.value, part.valueTruncated || part.fieldnameTruncated)
        continue
      }
      if (part.fieldname !== 'file') {
        part.file.destroy()
        throw new LocalexError('VALIDATION_FAILED', 'Send the file as the "file" part', {
          details: { field: part.fieldname.slice(0, 100) },
        })
      }
      file = part
      break
    }
  } catch (error) {
    throw multipartError(error)
  }

  const source = file.file
  let bytes = 0
  let failure: LocalexError | undefined
  const fail = (error: unknown): LocalexError => (failure ??= multipartError(error))
  const tooLarge = () =>
    new LocalexError('FILE_TOO_LARGE', `The file is larger than ${options.maxBytes} bytes`, {
      details: { maxBytes: options.maxBytes },
    })

  // busboy stops passing bytes on at the limit and would otherwise go on reading (and dropping)
  // the rest of the part: fail now instead.
  source.once('limit', () => source.destroy(tooLarge()))

  async function* guarded(): AsyncGenerator<Buffer> {
    let settled = false
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        bytes += chunk.length
        if (source.truncated || bytes > options.maxBytes) throw tooLarge()
        yield chunk
      }
      if (source.truncated) throw tooLarge()
      // The file has ended: nothing may follow it but the closing boundary.
      const next = await parts.next()
      if (!next.done) {
        if (next.value.type === 'file') {
          next.value.file.destroy()
          throw new LocalexError('VALIDATION_FAILED', 'Send exactly one file per request')
        }
        throw new LocalexError('VALIDATION_FAILED', 'Form fields must come before the file')
      }
      settled = true
    } catch (error) {
      throw fail(error)
    } finally {
      // The consumer stopped early (it refused the file) or the body failed: stop parsing.
      if (!settled && !source.destroyed) source.destroy()
    }
  }

  const body = Readable.from(guarded(), { objectMode: false })
  return {
    fields,
    fileName: file.filename || undefined,
    mimeType: file.mimetype,
    body,
    get bytes() {
      return bytes
    },
    get failure() {
      return failure
    },
    discard() {
      if (!body.destroyed) body.destroy()
      // A generator that never started runs no `finally`: stop busboy here too.
      if (!source.destroyed) source.destroy()
    },
  }
}

/** Errors out of busboy are plain Errors ("Unexpected end of multipart data", ...): a bad body. */
function multipartError(error: unknown): LocalexError {
  if (isLocalexError(error)) return error
  const e = error as { code?: unknown; statusCode?: unknown }
  if (typeof e?.code === 'string' && e.code.startsWith('FST_')) return toLocalexError(error)
  return new LocalexError('VALIDATION_FAILED', 'The multipart body is malformed or ended early', { cause: error })
}

/** Limits of a presigned POST form: the policy's fields plus a few `x-ignore-*`, one file. */
export const UPLOAD_FORM_LIMITS = {
  files: 1,
  fields: 20,
  parts: 21,
  fieldNameSize: 100,
  fieldSize: 16 * 1024,
  headerPairs: 50,
} as const

export interface ReceiveFormFileOptions<T> {
  /**
   * Called when the `file` part begins, with the fields sent before it and the file's bytes as
   * they arrive. Throw (synchronously) to refuse the form; the promise it returns settles the
   * whole receipt.
   */
  store: (fields: Readonly<Record<string, string>>, file: Readable) => Promise<T>
  /** Stops a write in progress: called with the reason on any failure. */
  abort: (reason: unknown) => void
}

/**
 * A multipart/form-data body as S3 takes a presigned POST: fields, then one part named `file`
 * (fields after it are ignored), read with busboy's limits set. On any failure (a malformed or
 * truncated body, a limit passed, a refused form, a failed write) `abort` is called, and the
 * promise rejects only once the write has settled, so that whatever it was writing is cleaned up
 * before the answer goes out.
 */
export function receiveFormFile<T>(req: IncomingMessage, options: ReceiveFormFileOptions<T>): Promise<T> {
  if (!/^multipart\/form-data\b/i.test(req.headers['content-type'] ?? '')) {
    return Promise.reject(invalidForm('expected a multipart/form-data body'))
  }
  let parser: busboy.Busboy
  try {
    parser = busboy({ headers: req.headers, limits: UPLOAD_FORM_LIMITS })
  } catch (error) {
    return Promise.reject(invalidForm('the multipart body is malformed', error))
  }
  return new Promise<T>((resolve, reject) => {
    const fields: Record<string, string> = {}
    let stored: Promise<T> | undefined
    let failed = false
    const fail = (error: unknown) => {
      if (failed) return
      failed = true
      options.abort(error)
      void (stored ?? Promise.resolve())
        .then(
          () => undefined,
          () => undefined,
        )
        .then(() => reject(error))
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
      try {
        stored = options.store(fields, file)
      } catch (error) {
        file.resume()
        fail(error)
        return
      }
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

function invalidForm(reason: string, cause?: unknown): LocalexError {
  return new LocalexError('VALIDATION_FAILED', `Upload form refused: ${reason}`, { cause, details: { reason } })
}
