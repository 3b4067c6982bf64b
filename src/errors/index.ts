/**
 * One catalogue of every error the package raises. Each entry has a stable `code` (what clients and
 * tests match on), the HTTP status it maps to, a short title, and whether retrying the same call can
 * succeed. The HTTP layer turns any `LocalexError` into application/problem+json with these fields;
 * everything else becomes a 500 with no detail. `docs/errors.md` documents each code and a test keeps
 * the two in sync.
 */
export const ERROR_CATALOGUE = {
  // Client input
  VALIDATION_FAILED: { status: 400, title: 'Request is invalid', retryable: false },
  EMPTY_FILE: { status: 400, title: 'File is empty', retryable: false },
  UNSAFE_KEY: { status: 400, title: 'Object key is not allowed', retryable: false },
  UNAUTHENTICATED: { status: 401, title: 'Authentication required', retryable: false },
  FORBIDDEN: { status: 403, title: 'Not allowed', retryable: false },
  SIGNATURE_INVALID: { status: 403, title: 'Signature is invalid', retryable: false },
  SIGNATURE_EXPIRED: { status: 403, title: 'Signature has expired', retryable: false },
  NOT_FOUND: { status: 404, title: 'Not found', retryable: false },
  CONFLICT: { status: 409, title: 'Conflict', retryable: false },
  TOO_MANY_PHOTOS: { status: 409, title: 'Too many photos', retryable: false },
  PRECONDITION_FAILED: { status: 412, title: 'Precondition failed', retryable: false },
  FILE_TOO_LARGE: { status: 413, title: 'File is too large', retryable: false },
  UNSUPPORTED_TYPE: { status: 415, title: 'File type is not supported', retryable: false },
  RANGE_NOT_SATISFIABLE: { status: 416, title: 'Range not satisfiable', retryable: false },
  INVALID_IMAGE: { status: 422, title: 'Image is invalid', retryable: false },
  DIMENSIONS_TOO_LARGE: { status: 422, title: 'Image dimensions are too large', retryable: false },
  TOO_MANY_FRAMES: { status: 422, title: 'Animation has too many frames', retryable: false },
  INVALID_PDF: { status: 422, title: 'PDF is invalid', retryable: false },
  UNSAFE_PDF: { status: 422, title: 'PDF contains unsafe content', retryable: false },
  PDF_LIMIT_EXCEEDED: { status: 422, title: 'PDF exceeds a decoding limit', retryable: false },
  RATE_LIMITED: { status: 429, title: 'Too many requests', retryable: true },
  // Object store
  OBJECT_NOT_FOUND: { status: 404, title: 'Object not found', retryable: false },
  STORE_ACCESS_DENIED: { status: 503, title: 'Store refused access', retryable: false },
  STORE_UNAVAILABLE: { status: 503, title: 'Store unavailable', retryable: true },
  STORE_ERROR: { status: 502, title: 'Store error', retryable: false },
  ABORTED: { status: 499, title: 'Operation aborted', retryable: false },
  // Other infrastructure
  DATABASE_UNAVAILABLE: { status: 503, title: 'Database unavailable', retryable: true },
  QUEUE_UNAVAILABLE: { status: 503, title: 'Queue unavailable', retryable: true },
  CDN_ERROR: { status: 502, title: 'CDN request failed', retryable: true },
  CONFIG_INVALID: { status: 500, title: 'Configuration is invalid', retryable: false },
  INTERNAL: { status: 500, title: 'Internal error', retryable: false },
} as const satisfies Record<string, { status: number; title: string; retryable: boolean }>

export type ErrorCode = keyof typeof ERROR_CATALOGUE
export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[]

export interface LocalexErrorOptions {
  cause?: unknown
  /** Facts safe to show a client (never secrets, paths or stack traces). */
  details?: Record<string, unknown>
}

/** The only error type the package throws on purpose. Match on `code`, never on the message. */
export class LocalexError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly title: string
  readonly retryable: boolean
  readonly details: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message?: string, options: LocalexErrorOptions = {}) {
    const entry = ERROR_CATALOGUE[code]
    super(message ?? entry.title, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'LocalexError'
    this.code = code
    this.status = entry.status
    this.title = entry.title
    this.retryable = entry.retryable
    this.details = options.details
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      status: this.status,
      title: this.title,
      detail: this.message,
      details: this.details,
    }
  }
}

export function isLocalexError(error: unknown, code?: ErrorCode): error is LocalexError {
  return error instanceof LocalexError && (code === undefined || error.code === code)
}

/** Shorthand used across layers: `fail('NOT_FOUND', 'File "x" does not exist')`. */
export function fail(code: ErrorCode, message?: string, options?: LocalexErrorOptions): never {
  throw new LocalexError(code, message, options)
}
