import { readFile } from 'node:fs/promises'
import { extname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import type { Config } from '../config/index.js'
import { LocalexError } from '../errors/index.js'

/**
 * Where `npm run build` puts the example page (scripts/build-web.ts). Resolved from this file:
 * src/http and dist/http are both two levels below the package root.
 */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../dist/web/', import.meta.url))

export interface WebOptions {
  config: Config
  /** The built page: `index.html` and `app/` (default: dist/web). */
  root: string
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
}

/** One flat folder of assets: names only, no paths (so no traversal to defend against). */
const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/

/**
 * The example page at `/` and its assets under `/app/` (web/ in the repository; see the README's
 * "Try it in a browser"). Files are read from `root` on each request (they are small, and a
 * rebuild shows at once) and sent with `Cache-Control: no-cache`. The page gets a strict CSP: its
 * own scripts and styles only; images and uploads also from where the store or CDN lives.
 */
export const webRoutes: FastifyPluginAsync<WebOptions> = async (app, { config, root }) => {
  const base = resolve(root)
  const csp = pageCsp(config)

  const send = async (file: string, reply: FastifyReply, notBuilt: boolean) => {
    let body: Buffer
    try {
      body = await readFile(join(base, file))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      throw new LocalexError(
        'NOT_FOUND',
        notBuilt ? 'The example page is not built: run npm run build' : 'No such asset',
      )
    }
    return reply
      .header('content-type', CONTENT_TYPES[extname(file)] ?? 'application/octet-stream')
      .header('cache-control', 'no-cache')
      .send(body)
  }

  app.get('/', { schema: { hide: true } }, async (_request, reply) => {
    reply.header('content-security-policy', csp).header('referrer-policy', 'no-referrer')
    return send('index.html', reply, true)
  })

  app.get<{ Params: { name: string } }>('/app/:name', { schema: { hide: true } }, async (request, reply) => {
    const { name } = request.params
    if (!ASSET_NAME.test(name) || !(extname(name) in CONTENT_TYPES))
      throw new LocalexError('NOT_FOUND', 'No such asset')
    return send(join('app', name), reply, false)
  })
}

/**
 * The page's Content-Security-Policy: no inline script or style; images (variants, ThumbHash
 * data URLs) and requests (API, direct uploads, signed downloads) from this service, the public
 * base URL, the CDN and the bucket.
 */
export function pageCsp(config: Config): string {
  const origins = new Set<string>()
  const add = (url: string | undefined) => {
    if (!url) return
    try {
      origins.add(new URL(url).origin)
    } catch {
      // Not a URL: nothing to allow.
    }
  }
  add(config.storage.publicBaseUrl)
  add(config.cdn.url)
  if (config.storage.driver === 's3') {
    const { s3 } = config.storage
    add(s3.publicUrl)
    add(s3.endpoint)
    // Virtual-hosted-style bucket URLs on another host than the endpoint.
    if (s3.endpoint && !s3.forcePathStyle) add(s3.endpoint.replace(/^(https?:\/\/)/, `$1${s3.bucket}.`))
    if (!s3.endpoint)
      origins.add(`https://${s3.bucket}.s3.${s3.region}.amazonaws.com`).add(`https://${s3.bucket}.s3.amazonaws.com`)
  }
  const extra = [...origins].join(' ')
  return [
    "default-src 'self'",
    "script-src 'self'",
    // The placeholder is set through element.style (CSSOM), which style-src does not restrict.
    "style-src 'self'",
    `img-src 'self' data: blob: ${extra}`,
    `connect-src 'self' ${extra}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ')
}
