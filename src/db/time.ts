/**
 * The one clock of the metadata store. Every timestamp column holds `Date#toISOString()` output:
 * fixed width, UTC, millisecond precision, so comparing the strings compares the instants on both
 * dialects (SQLite has no timestamp type; PostgreSQL stores the same text for one code path).
 */
export function now(offsetMs = 0): string {
  return new Date(Date.now() + offsetMs).toISOString()
}

/** A `Date`, epoch milliseconds or an ISO string, as the column format. */
export function toTimestamp(value: Date | number | string): string {
  if (typeof value === 'string') return new Date(value).toISOString()
  return new Date(value).toISOString()
}
