import { abortedError } from './abort.js'

export interface SleepOptions {
  /** Rejects with ABORTED as soon as it aborts (at once when it already has). */
  signal?: AbortSignal | undefined
  /** The timer does not keep the process alive (grace periods of a shutdown). */
  unref?: boolean
}

/** Resolves after `ms`; the abort listener is removed either way, so long-lived signals do not collect them. */
export function sleep(ms: number, options: SleepOptions = {}): Promise<void> {
  const { signal } = options
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortedError(signal))
      return
    }
    const onAbort = () => {
      clearTimeout(timer)
      reject(abortedError(signal))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    if (options.unref) timer.unref()
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
