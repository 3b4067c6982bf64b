import { LocalexError, isLocalexError } from '../errors/index.js'

/**
 * Driver errors are sorted here, once: failures that mean "the database cannot be reached or is
 * busy right now" become DATABASE_UNAVAILABLE (retryable, 503); everything else (constraint
 * violations, SQL bugs) passes through unchanged so the caller or the 500 handler sees it.
 */

// Node socket errors seen when the server is down, restarting or unreachable.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ECONNABORTED',
])
// PostgreSQL SQLSTATEs: class 08 (connection exception), 57P0x (shutdown, crash recovery),
// 53300 (too many connections), 28xxx (authentication), 3D000 (database does not exist).
const PG_UNAVAILABLE = /^(08...|57P0[1-4]|53300|28...|3D000)$/
// SQLite result codes that a later retry can cure.
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|READONLY|PROTOCOL|NOTADB)/
// node-postgres raises plain Errors (no code) for pool and socket trouble.
const PG_MESSAGES = new RegExp(
  [
    'Connection terminated',
    'connection timeout',
    'timeout exceeded when trying to connect',
    'not queryable',
    'Client was closed',
    'Cannot use a pool after calling end',
  ].join('|'),
  'i',
)

export function isUnavailableError(error: unknown): boolean {
  if (isLocalexError(error, 'DATABASE_UNAVAILABLE')) return true
  if (!(error instanceof Error)) return false
  const code = (error as { code?: unknown }).code
  if (
    typeof code === 'string' &&
    (NETWORK_CODES.has(code) || PG_UNAVAILABLE.test(code) || SQLITE_UNAVAILABLE.test(code))
  )
    return true
  if (error instanceof AggregateError) return error.errors.some(isUnavailableError)
  return PG_MESSAGES.test(error.message)
}

/** True for a unique or primary-key violation on either dialect. */
export function isUniqueViolation(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const code = (error as { code?: unknown }).code
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
}

/**
 * Wraps unavailability in DATABASE_UNAVAILABLE naming `target` (host, port and database: never the
 * password, which is also scrubbed from the cause's text in case a driver ever echoes it).
 */
export function toDatabaseError(error: unknown, target: string, secret?: string): unknown {
  if (isLocalexError(error) || !isUnavailableError(error)) return error
  let reason = error instanceof Error ? error.message || (error as { code?: string }).code || error.name : String(error)
  if (error instanceof AggregateError && !error.message)
    reason = error.errors.map((e: unknown) => (e instanceof Error ? e.message : String(e))).join('; ')
  if (secret) reason = reason.split(secret).join('[redacted]')
  return new LocalexError('DATABASE_UNAVAILABLE', `Database unavailable (${target}): ${reason}`, { cause: error })
}
