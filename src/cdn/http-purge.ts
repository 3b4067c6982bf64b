import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { LocalexError, isLocalexError } from '../errors/index.js'
import { mapLimit } from '../lib/index.js'
import { isTransientError, withRetry, type RetryOptions } from '../storage/retry.js'
import { parseKeyPaths, toUrlPath } from './paths.js'

export interface HttpPurgerOptions {
  /** Base URLs of the edges (each node of a Varnish pool, say): every path is purged on each. */
  edges: readonly string[]
  /** Host the public URLs are served under (CDN_URL's), sent as `Host` so the edge finds its objects. */
  host?: string
  /** Path of CDN_URL, prefixed to every path. */
  pathPrefix?: string
  /** PURGE requests in flight at once (default 8). */
  concurrency?: number
  timeoutMs?: number
  retry?: Partial<Pick<RetryOptions, 'maxAttempts' | 'baseDelayMs' | 'maxDelayMs' | 'random'>>
}

/**
 * `PURGE <path>` to each edge, for edges that purge by URL (Varnish, Fastly, nginx proxy_cache_purge).
 * A wildcard path is sent as is (`PURGE /items/i/photos/p/*`): the project's VCL
 * (`config/varnish/localex.vcl`) bans everything under that prefix; edges without prefix purges
 * still get every object's exact path, which the file layer always lists too. 200, 204 and 404
 * (nothing cached) are success; 5xx and network failures are retried with backoff; anything else
 * (403/405: this host may not purge) rejects CDN_ERROR at once.
 */
export class HttpPurger {
  readonly #edges: readonly string[]
  readonly #host: string | undefined
  readonly #pathPrefix: string
  readonly #concurrency: number
  readonly #timeoutMs: number
  readonly #retry: Pick<RetryOptions, 'maxAttempts' | 'baseDelayMs' | 'maxDelayMs'> & { random?: () => number }

  constructor(options: HttpPurgerOptions) {
    this.#edges = options.edges.map((e) => e.replace(/\/+$/, ''))
    this.#host = options.host
    this.#pathPrefix = options.pathPrefix ?? ''
    this.#concurrency = Math.max(1, options.concurrency ?? 8)
    this.#timeoutMs = options.timeoutMs ?? 10_000
    this.#retry = { maxAttempts: 4, baseDelayMs: 200, maxDelayMs: 5000, ...options.retry }
  }

  /** Every PURGE request `invalidate(paths)` sends, as absolute URLs. */
  requests(paths: readonly string[]): string[] {
    const urlPaths = [...new Set(parseKeyPaths(paths).map((p) => toUrlPath(p, this.#pathPrefix)))]
    return this.#edges.flatMap((edge) => urlPaths.map((p) => `${edge}${p}`))
  }

  async invalidate(paths: readonly string[], options: { signal?: AbortSignal } = {}): Promise<void> {
    const urls = this.requests(paths)
    const { signal } = options
    try {
      // Bounded fan-out; no new PURGE after the first failure, and every one started has settled
      // before this resolves or rejects.
      const purge = (url: string) => withRetry(() => this.#purge(url, signal), { ...this.#retry, signal })
      await mapLimit(urls, this.#concurrency, purge, { signal })
    } catch (error) {
      if (isLocalexError(error)) throw error
      throw new LocalexError('CDN_ERROR', `PURGE failed: ${(error as Error)?.message ?? String(error)}`, {
        cause: error,
      })
    }
  }

  #purge(url: string, signal: AbortSignal | undefined): Promise<void> {
    const target = new URL(url)
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest
    return new Promise((resolve, reject) => {
      const req = send(
        target,
        {
          method: 'PURGE',
          headers: { ...(this.#host ? { host: this.#host } : {}), 'user-agent': 'localex-storage-cdn' },
          timeout: this.#timeoutMs,
          signal,
        },
        (res: IncomingMessage) => {
          res.resume()
          res.on('end', () => {
            const status = res.statusCode ?? 0
            if (status < 300 || status === 404) return resolve()
            const error = Object.assign(new Error(`PURGE ${target.pathname} on ${target.host}: HTTP ${status}`), {
              $metadata: { httpStatusCode: status },
            })
            reject(
              isTransientError(error)
                ? error
                : new LocalexError('CDN_ERROR', error.message, {
                    cause: error,
                    details: { status, edge: target.host },
                  }),
            )
          })
          res.on('error', reject)
        },
      )
      req.on('timeout', () =>
        req.destroy(
          Object.assign(new Error(`PURGE ${target.pathname} on ${target.host} timed out`), { code: 'ETIMEDOUT' }),
        ),
      )
      req.on('error', reject)
      req.end()
    })
  }
}
