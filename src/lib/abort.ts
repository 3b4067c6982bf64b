import { LocalexError } from '../errors/index.js'

/** The error every abortable operation rejects with: ABORTED, with the signal's reason as `cause`. */
export function abortedError(signal: AbortSignal | undefined): LocalexError {
  return new LocalexError('ABORTED', 'Operation aborted', { cause: signal?.reason })
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortedError(signal)
}
