import type { Config } from '../config/index.js'

/**
 * The one place that builds every URL the API returns for a stored object, and the port through
 * which deleted or replaced public objects are invalidated at the edge.
 *
 * Public objects: `CDN_URL` + key when a CDN is configured; else the bucket's own public URL when
 * one is configured (`S3_PUBLIC_URL`); else the service's delivery route `/files/{key}`, which
 * streams from the (always private) store. Non-public objects never get a URL from here: they get
 * signed URLs from the object store.
 */
export interface Cdn {
  readonly provider: Config['cdn']['provider']
  publicUrl(key: string): string
  /** Paths (keys or `prefix/*`) to drop from the edge. Failures reject; callers retry via the outbox. */
  invalidate(paths: readonly string[], options?: { signal?: AbortSignal }): Promise<void>
  close(): Promise<void>
}

/** Encodes each segment of a key for a URL path, keeping the slashes. */
export function encodeKeyPath(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/')
}

export function publicBaseFor(config: Config): string {
  return config.cdn.url ?? config.storage.s3.publicUrl?.replace(/\/+$/, '') ?? `${config.storage.publicBaseUrl}/files`
}

export function createCdn(config: Config): Cdn {
  const base = publicBaseFor(config)
  return {
    provider: config.cdn.provider,
    publicUrl: (key) => `${base}/${encodeKeyPath(key)}`,
    // Providers that talk to an edge (cloudfront, http-purge) arrive with the CDN issue; with
    // `none` there is nothing to invalidate: the service's delivery route reads the store directly.
    invalidate: async () => {},
    close: async () => {},
  }
}
