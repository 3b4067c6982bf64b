import { sanitizeDisplayName } from './keys.js'

/**
 * The one Content-Disposition builder: the files layer writes it on documents and signs it into
 * their URLs, the HTTP layer's delivery route falls back to it. It lives here so that both import
 * it downwards.
 *
 * RFC 6266 Content-Disposition for a display name: an ASCII fallback in `filename` (for the few
 * clients that ignore the extended form) and the exact UTF-8 name in `filename*` (RFC 8187).
 * The name is normalised again (NFC, no controls or bidi overrides, no path) so that whatever
 * reaches here cannot break out of the header or disguise its extension.
 */
export function contentDisposition(
  name: string | undefined,
  type: 'attachment' | 'inline' = 'attachment',
  fallback = 'file',
): string {
  const display = sanitizeDisplayName(name, fallback)
  return `${type}; filename="${asciiFallback(display, fallback)}"; filename*=UTF-8''${encodeRfc8187(display)}`
}

/** Letters lose their accents; anything else outside printable ASCII, quotes, `\` and `%` become `_`. */
export function asciiFallback(name: string, fallback = 'file'): string {
  const ascii = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\x20-\x7e]|["\\%]/g, '_')
    .trim()
  return ascii.replace(/^[._]+$/, '') || fallback
}

/** RFC 8187 value-chars: attr-char stays, every other byte is %XX (of the UTF-8 encoding). */
export function encodeRfc8187(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}
