import { encodeKeyPath } from '../lib/index.js'

/**
 * Invalidation paths. What the file layer hands the CDN is a list of *key paths*: `/` + an object
 * key (`/items/i/photos/p/large.jpg`), or `/` + a folder prefix + `*` (`/items/i/photos/p/*`)
 * meaning everything under it. Keys are raw (not URL-encoded); each provider turns them into the
 * URL paths its edge matches, with the same encoding `Cdn.publicUrl` used, under the CDN URL's own
 * path (a CDN_URL of `https://cdn.example.com/media` puts everything under `/media`).
 */
export interface KeyPath {
  /** The key, or the folder prefix of a wildcard (without the leading `/`). */
  readonly key: string
  readonly wildcard: boolean
}

/** Parses, deduplicates and sorts key paths (a stable order keeps batches, and their references, stable). */
export function parseKeyPaths(paths: readonly string[]): KeyPath[] {
  const seen = new Map<string, KeyPath>()
  for (const raw of paths) {
    if (typeof raw !== 'string' || raw.length === 0) continue
    const trimmed = raw.startsWith('/') ? raw.slice(1) : raw
    const wildcard = trimmed.endsWith('*')
    const key = wildcard ? trimmed.slice(0, -1) : trimmed
    const id = `${wildcard ? '*' : '='}${key}`
    if (!seen.has(id)) seen.set(id, { key, wildcard })
  }
  return [...seen.values()].sort((a, b) =>
    a.key === b.key ? Number(a.wildcard) - Number(b.wildcard) : a.key < b.key ? -1 : 1,
  )
}

/**
 * Drops every path another wildcard of the list already covers: one wildcard per photo folder
 * costs one CloudFront path instead of eight. Input sorted as `parseKeyPaths` returns it.
 */
export function collapseCovered(paths: readonly KeyPath[]): KeyPath[] {
  const wildcards = paths.filter((p) => p.wildcard).map((p) => p.key)
  const coveredBy = (p: KeyPath, w: string) => p.key.startsWith(w) && !(p.wildcard && p.key === w)
  return paths.filter((p) => !wildcards.some((w) => coveredBy(p, w)))
}

/**
 * The URL path an edge sees for a key path: `pathPrefix` + `/` + each segment percent-encoded (as
 * in public URLs), plus the trailing `*` of a wildcard. A literal `*` inside a key is encoded as
 * `%2A` so that no edge mistakes it for a wildcard.
 */
export function toUrlPath(path: KeyPath, pathPrefix = ''): string {
  const encoded = encodeKeyPath(path.key).replace(/\*/g, '%2A')
  return `${pathPrefix}/${encoded}${path.wildcard ? '*' : ''}`
}

/** Splits `items` into consecutive batches of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** The path part of a base URL, without a trailing slash (`''` for `https://cdn.example.com`). */
export function basePathOf(url: string | undefined): string {
  if (!url) return ''
  return new URL(url).pathname.replace(/\/+$/, '')
}
