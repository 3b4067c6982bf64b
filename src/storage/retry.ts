import { LocalexError } from '../errors/index.js'
import { backoffDelay, sleep, throwIfAborted } from '../lib/index.js'

/**
 * Retries for store requests: exponential backoff with full jitter (AWS architecture blog,
 * "Exponential Backoff And Jitter"), abortable sleeps, and a classifier that never retries a
 * client error (4xx other than 429): repeating a request the store refused cannot succeed.
 */

export interface RetryOptions {
  /** Total attempts, the first one included (1 = no retry). */
  maxAttempts: number
  /** Upper bound of the first delay; doubles with each attempt. */
  baseDelayMs: number
  /** Cap of any single delay. */
  maxDelayMs: number
  signal?: AbortSignal | undefined
  /** Whether a failure is worth another attempt. Default: `isTransientError`. */
  isRetryable?: (error: unknown) => boolean
  /** Called before each sleep (logging, metrics, tests). */
  onRetry?: (info: { error: unknown; attempt: number; delayMs: number }) => void
  /** Source of randomness in [0, 1); injectable for tests. */
  random?: () => number
}

/** Thrown (as `cause` of the mapped error) when every attempt failed; `attempts` tells how many. */
export interface RetryExhausted {
  attempts: number
}

/**
 * Runs `fn` until it resolves, fails with a non-retryable error, runs out of attempts or the
 * signal aborts. The last error is rethrown as it is, with `attempts` recorded on it (as a
 * non-enumerable property) so the caller's error mapping can report it.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { maxAttempts, signal } = options
  const isRetryable = options.isRetryable ?? isTransientError
  const random = options.random ?? Math.random
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(signal)
    try {
      return await fn(attempt)
    } catch (error) {
      if (attempt >= maxAttempts || signal?.aborted || !isRetryable(error)) {
        recordAttempts(error, attempt)
        throw error
      }
      const delayMs = backoffDelay(attempt, { baseMs: options.baseDelayMs, maxMs: options.maxDelayMs, random })
      options.onRetry?.({ error, attempt, delayMs })
      await sleep(delayMs, { signal })
    }
  }
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
])
const THROTTLING_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
  'ServiceUnavailable',
  'InternalError',
])

/**
 * Throttling (SlowDown, 429, 503), other 5xx and network failures (reset, refused, timed out,
 * broken pipe, "socket hang up", the SDK's TimeoutError). Never a 4xx other than 429, never an
 * abort.
 */
export function isTransientError(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false
  const e = error as {
    name?: string
    code?: string
    message?: string
    $metadata?: { httpStatusCode?: number }
    $retryable?: unknown
  }
  if (e.name === 'AbortError' || (error instanceof LocalexError && error.code === 'ABORTED')) return false
  const status = e.$metadata?.httpStatusCode
  if (status !== undefined && status >= 400 && status < 500) return status === 429
  if (status !== undefined && status >= 500) return true
  if (e.name && THROTTLING_NAMES.has(e.name)) return true
  if (e.name === 'TimeoutError') return true
  if (e.code && NETWORK_CODES.has(e.code)) return true
  if (typeof e.message === 'string' && /socket hang up|ECONNRESET|EPIPE|ECONNREFUSED|ETIMEDOUT/i.test(e.message))
    return true
  // A transport failure wrapped by another error counts too.
  const cause = (error as { cause?: unknown }).cause
  return cause !== undefined && cause !== error && isTransientError(cause)
}

/** How many attempts a failure took (1 when it never went through `withRetry`). */
export function attemptsOf(error: unknown): number {
  const attempts = error && typeof error === 'object' ? (error as Partial<RetryExhausted>).attempts : undefined
  return typeof attempts === 'number' ? attempts : 1
}

function recordAttempts(error: unknown, attempts: number): void {
  if (error && typeof error === 'object' && Object.isExtensible(error)) {
    Object.defineProperty(error, 'attempts', { value: attempts, enumerable: false, configurable: true, writable: true })
  }
}
