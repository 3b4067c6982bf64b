import { isLocalexError } from '../errors/index.js'

/** Shared by both queues so they retry identically. */

/** A failure no retry can cure: a LocalexError that says so (invalid image, access denied, …). */
export function isPermanentFailure(error: unknown): boolean {
  return isLocalexError(error) && !error.retryable
}

/** Delay before attempt `failedAttempts + 1`: base, 2×base, 4×base, … (BullMQ's "exponential"). */
export function backoffDelay(baseMs: number, failedAttempts: number): number {
  return Math.round(baseMs * 2 ** Math.max(0, failedAttempts - 1))
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return isLocalexError(error) ? `${error.code}: ${error.message}` : error.message || error.name
  return String(error)
}
