import { Transform, type TransformCallback } from 'node:stream'
import { LocalexError } from '../errors/index.js'

/** Small stream helpers shared by the drivers. */

export interface ByteCounterOptions {
  /** Declared length: fewer or more bytes fail the stream (so nothing truncated is stored). */
  expected?: number | undefined
  /** Refuse the body as soon as it grows past this many bytes (FILE_TOO_LARGE). */
  max?: number | undefined
  /** Refuse the body at its end when it is smaller than this (VALIDATION_FAILED). */
  min?: number | undefined
  onBytes?: ((total: number) => void) | undefined
}

/** Counts what flows through and enforces the length rules while streaming. */
export class ByteCounter extends Transform {
  bytes = 0
  readonly #options: ByteCounterOptions

  constructor(options: ByteCounterOptions = {}) {
    super()
    this.#options = options
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length
    const { expected, max } = this.#options
    if (max !== undefined && this.bytes > max) {
      callback(new LocalexError('FILE_TOO_LARGE', `Body is larger than ${max} bytes`, { details: { maxBytes: max } }))
      return
    }
    if (expected !== undefined && this.bytes > expected) {
      callback(
        new LocalexError('VALIDATION_FAILED', `Body is longer than its declared length of ${expected} bytes`, {
          details: { contentLength: expected },
        }),
      )
      return
    }
    this.#options.onBytes?.(this.bytes)
    callback(null, chunk)
  }

  override _flush(callback: TransformCallback): void {
    const { expected, min } = this.#options
    if (expected !== undefined && this.bytes !== expected) {
      callback(
        new LocalexError('VALIDATION_FAILED', `Body ended after ${this.bytes} of its declared ${expected} bytes`, {
          details: { contentLength: expected },
        }),
      )
      return
    }
    if (min !== undefined && this.bytes < min) {
      callback(
        new LocalexError('VALIDATION_FAILED', `Body is smaller than ${min} bytes`, { details: { minBytes: min } }),
      )
      return
    }
    callback()
  }
}

/** S3 orders keys by their UTF-8 bytes, which differs from JS string order past U+FFFF. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** A controller that aborts when `parent` does; `dispose` detaches it. */
export function linkedAbort(parent: AbortSignal | undefined): { controller: AbortController; dispose: () => void } {
  const controller = new AbortController()
  if (!parent) return { controller, dispose: () => undefined }
  if (parent.aborted) {
    controller.abort(parent.reason)
    return { controller, dispose: () => undefined }
  }
  const onAbort = () => controller.abort(parent.reason)
  parent.addEventListener('abort', onAbort, { once: true })
  return { controller, dispose: () => parent.removeEventListener('abort', onAbort) }
}
