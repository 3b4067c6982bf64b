import { LocalexError } from '../errors/index.js'
import type { StoredObject } from '../domain/index.js'

/**
 * JSON columns (`files.objects`, `audit_log.details`, `outbox.payload`) are text on both dialects.
 * They are encoded and decoded here and nowhere else, so a malformed value is caught in one place
 * and callers only ever see objects.
 */
export function encodeJson(value: unknown): string {
  const text = JSON.stringify(value)
  if (text === undefined) throw new LocalexError('INTERNAL', 'Value cannot be stored as JSON')
  return text
}

export function decodeJson(text: string | null, column: string): unknown {
  if (text === null) return null
  try {
    return JSON.parse(text) as unknown
  } catch (cause) {
    throw new LocalexError('INTERNAL', `Column ${column} holds malformed JSON`, { cause })
  }
}

export function encodeObjects(objects: readonly StoredObject[]): { objects: string; stored_bytes: number } {
  return { objects: encodeJson(objects), stored_bytes: objects.reduce((sum, o) => sum + o.size, 0) }
}

export function decodeObjects(text: string): StoredObject[] {
  const value = decodeJson(text, 'files.objects')
  if (!Array.isArray(value)) throw new LocalexError('INTERNAL', 'Column files.objects is not a JSON array')
  return value as StoredObject[]
}

export function decodeDetails(text: string | null): Record<string, unknown> | null {
  const value = decodeJson(text, 'audit_log.details')
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null
}
