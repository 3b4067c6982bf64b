import type { Readable } from 'node:stream'
import { LocalexError } from '../errors/index.js'

/**
 * Reads `stream` into memory, refusing as soon as more than `maxBytes` have arrived: the source is
 * destroyed at once and never more than `maxBytes` bytes are kept (the chunk that crosses the limit
 * is dropped, not appended).
 *
 * Rejects with FILE_TOO_LARGE over the limit, EMPTY_FILE on zero bytes, ABORTED when `signal`
 * fires, and passes the stream's own error on otherwise.
 */
export function readLimited(stream: Readable, maxBytes: number, signal?: AbortSignal): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    let total = 0
    let settled = false
    const finish = (error: Error | undefined, value?: Buffer) => {
      if (settled) return
      settled = true
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('error', onError)
      signal?.removeEventListener('abort', onAbort)
      if (error) {
        chunks.length = 0
        stream.destroy()
        reject(error)
      } else {
        resolve(value as Buffer)
      }
    }
    const onData = (chunk: Buffer | string) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      total += buf.length
      if (total > maxBytes) {
        finish(new LocalexError('FILE_TOO_LARGE', `File is larger than ${maxBytes} bytes`, { details: { maxBytes } }))
        return
      }
      chunks.push(buf)
    }
    const onEnd = () => {
      if (total === 0) finish(new LocalexError('EMPTY_FILE', 'File is empty'))
      else finish(undefined, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total))
    }
    const onError = (error: Error) => finish(error)
    const onAbort = () =>
      finish(new LocalexError('ABORTED', 'Reading the upload was aborted', { cause: signal?.reason }))
    if (signal?.aborted) {
      onAbort()
      return
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    stream.on('data', onData)
    stream.once('end', onEnd)
    stream.once('error', onError)
  })
}
