import { LocalexError } from '../errors/index.js'

/**
 * Checks of the options every driver takes. They are the same on every driver, so that options a
 * caller got working on disk keep working on S3 and back.
 */

/** SigV4 presigned URLs live at most 7 days; the disk driver keeps the same bound. */
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600

export function validateRange(range: { start: number; end?: number | undefined }): void {
  const ok =
    Number.isSafeInteger(range.start) &&
    range.start >= 0 &&
    (range.end === undefined || (Number.isSafeInteger(range.end) && range.end >= range.start))
  if (!ok) {
    const message = 'Byte range must have 0 <= start <= end'
    throw new LocalexError('VALIDATION_FAILED', message, { details: { field: 'range' } })
  }
}

export function presignSeconds(expiresIn: number): number {
  if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_PRESIGN_SECONDS) {
    const message = `expiresIn must be a whole number of seconds between 1 and ${MAX_PRESIGN_SECONDS}`
    throw new LocalexError('VALIDATION_FAILED', message, { details: { field: 'expiresIn' } })
  }
  return expiresIn
}

export function validateLengthRange(range: { min: number; max: number }): { min: number; max: number } {
  const { min, max } = range
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min < 0 || max < min) {
    const message = 'contentLengthRange must have 0 <= min <= max'
    throw new LocalexError('VALIDATION_FAILED', message, { details: { field: 'contentLengthRange' } })
  }
  return { min, max }
}
