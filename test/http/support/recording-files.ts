import { Readable } from 'node:stream'
import type { Actor, FileManager, RequestContext, UploadInput } from '../../../src/index.js'

/**
 * The real files layer with a recorder in front: every call goes on to `inner` unchanged, so the
 * HTTP tests see the real behaviour, and can still check what a route handed over (the actor its
 * token became, the upload's options, the RequestContext) and that a refused request never got
 * that far. Upload bodies are passed through a counter: `received` holds the bytes the files
 * layer pulled from each one, to check that nothing past the size limit ever reaches it.
 * It adds no behaviour of its own; the FileManager contract suite runs on it as on the real one.
 */

export interface FileCall {
  method: keyof FileManager
  actor: Actor | undefined
  /** The call's arguments other than the actor and the RequestContext. */
  args: unknown[]
  ctx: RequestContext | undefined
}

export interface RecordingFiles extends FileManager {
  readonly calls: FileCall[]
  readonly received: number[]
}

export function recordingFiles(inner: FileManager): RecordingFiles {
  const calls: FileCall[] = []
  const received: number[] = []
  const record = (method: keyof FileManager, actor: Actor | undefined, args: unknown[], ctx?: RequestContext) =>
    void calls.push({ method, actor, args, ctx })
  const counted = (input: UploadInput): UploadInput => {
    if (Buffer.isBuffer(input.body)) {
      received.push(input.body.length)
      return input
    }
    return { ...input, body: countBytes(input.body, (n) => received.push(n)) }
  }

  return {
    calls,
    received,
    uploadItemPhoto(actor, itemId, input, ctx) {
      const tapped = counted(input)
      record('uploadItemPhoto', actor, [itemId, tapped], ctx)
      return inner.uploadItemPhoto(actor, itemId, tapped, ctx)
    },
    listItemPhotos(itemId, actor) {
      record('listItemPhotos', actor, [itemId], undefined)
      return inner.listItemPhotos(itemId, actor)
    },
    reorderItemPhotos(actor, itemId, fileIds, ctx) {
      record('reorderItemPhotos', actor, [itemId, fileIds], ctx)
      return inner.reorderItemPhotos(actor, itemId, fileIds, ctx)
    },
    uploadProfilePhoto(actor, input, ctx) {
      const tapped = counted(input)
      record('uploadProfilePhoto', actor, [tapped], ctx)
      return inner.uploadProfilePhoto(actor, tapped, ctx)
    },
    getProfilePhoto(userId, actor) {
      record('getProfilePhoto', actor, [userId], undefined)
      return inner.getProfilePhoto(userId, actor)
    },
    deleteProfilePhoto(actor, userId, ctx) {
      record('deleteProfilePhoto', actor, [userId], ctx)
      return inner.deleteProfilePhoto(actor, userId, ctx)
    },
    uploadVerificationDocument(actor, type, input, ctx) {
      const tapped = counted(input)
      record('uploadVerificationDocument', actor, [type, tapped], ctx)
      return inner.uploadVerificationDocument(actor, type, tapped, ctx)
    },
    listVerificationDocuments(actor, userId, ctx) {
      record('listVerificationDocuments', actor, [userId], ctx)
      return inner.listVerificationDocuments(actor, userId, ctx)
    },
    getFile(actor, id, ctx) {
      record('getFile', actor, [id], ctx)
      return inner.getFile(actor, id, ctx)
    },
    getUrl(actor, id, options, ctx) {
      record('getUrl', actor, [id, options], ctx)
      return inner.getUrl(actor, id, options, ctx)
    },
    deleteFile(actor, id, ctx) {
      record('deleteFile', actor, [id], ctx)
      return inner.deleteFile(actor, id, ctx)
    },
    createDirectUpload(actor, request, ctx) {
      record('createDirectUpload', actor, [request], ctx)
      return inner.createDirectUpload(actor, request, ctx)
    },
    completeDirectUpload(actor, uploadId, options, ctx) {
      record('completeDirectUpload', actor, [uploadId, options], ctx)
      return inner.completeDirectUpload(actor, uploadId, options, ctx)
    },
    setItemOwner(actor, itemId, ownerId, ctx) {
      record('setItemOwner', actor, [itemId, ownerId], ctx)
      return inner.setItemOwner(actor, itemId, ownerId, ctx)
    },
    waitUntilSettled(id, options) {
      record('waitUntilSettled', undefined, [id, options], undefined)
      return inner.waitUntilSettled(id, options)
    },
  }
}

/**
 * `body` as the consumer pulls it, counting: it ends, fails (with `body`'s own error, LocalexErrors
 * included) or is destroyed when `body` is, and destroying it destroys `body`, as if the consumer
 * held `body` itself.
 */
function countBytes(body: Readable, done: (bytes: number) => void): Readable {
  let bytes = 0
  let reported = false
  const report = () => {
    if (!reported) {
      reported = true
      done(bytes)
    }
  }
  const out = new Readable({
    read() {
      body.resume()
    },
    destroy(error, callback) {
      report()
      if (!body.destroyed) body.destroy(error ?? undefined)
      callback(error)
    },
  })
  body.on('data', (chunk: Buffer) => {
    bytes += chunk.length
    if (!out.push(chunk)) body.pause()
  })
  body.once('end', () => {
    report()
    out.push(null)
  })
  body.once('error', (error) => out.destroy(error))
  body.once('close', () => {
    if (!body.readableEnded) out.destroy()
  })
  body.pause()
  return out
}
