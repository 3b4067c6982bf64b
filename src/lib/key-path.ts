/**
 * An object key as a URL path: `a b/c%d` → `a%20b/c%25d`, each segment percent-encoded and the
 * slashes kept, so the key's folders stay folders (signed delivery URLs, CDN URLs, S3 CopySource).
 */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/')
}
