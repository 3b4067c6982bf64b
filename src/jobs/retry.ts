import { isLocalexError } from '../errors/index.js'

/** Shared by both queues so they retry identically. */

/** A failure no retry can cure: a LocalexError that says so (invalid image, access denied, …). */
export function isPermanentFailure(error: unknown): boolean {
  return isLocalexError(error) && !error.retryable
}

export function describeError(error: unknown): string {
  if (error instanceof Error)
    return isLocalexError(error) ? `${error.code}: ${error.message}` : error.message || error.name
  return String(error)
}
