import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config/index.js'
import { LocalexError } from '../errors/index.js'
import { verifySignedUrl, type ObjectStore } from '../storage/index.js'
import { deliver as deliverObject, type DeliveryPolicy, type KeyKind } from './delivery-core.js'
import { requestContext } from './routes/common.js'
import { problemResponses } from './schemas.js'

/**
 * `GET|HEAD /files/<key>`: the service delivering stored objects itself — the embedded default
 * (disk store), and S3 when no CDN is configured. URLs are those the disk driver signs, under the
 * path of `config.storage.publicBaseUrl`. What is answered is delivery-core.ts's; this route adds
 * the service's policy:
 *
 * - `items/` and `profiles/` keys are public: no signature needed;
 * - everything else (`verification/`, `temp/`) needs a valid, unexpired signature, and whatever
 *   is not a servable object is a plain 404, so nobody can probe which keys exist;
 * - objects stored without a Cache-Control get the config's for their kind.
 */

export interface DeliveryOptions {
  config: Config
  store: ObjectStore
  /** Clock for signature expiry (tests). */
  now?: () => number
}

export const deliveryRoutes: FastifyPluginAsync<DeliveryOptions> = async (app, { config, store, now = Date.now }) => {
  const basePath = new URL(config.storage.publicBaseUrl).pathname.replace(/\/+$/, '')
  const prefix = `${basePath}/files/`
  const policy: DeliveryPolicy = {
    verify: (key, query, at) => verifySignedUrl({ key, query }, config.storage.signingSecret, at),
    unsignedKinds: ['item', 'profile'],
    conceal: true,
    defaultCacheControl: (kind) => defaultCacheControl(config, kind),
    now,
  }

  app.route({
    method: ['GET', 'HEAD'],
    url: `${prefix}*`,
    exposeHeadRoute: false,
    schema: {
      tags: ['delivery'],
      summary: 'Download a stored object (embedded delivery)',
      description:
        'Public keys (`items/`, `profiles/`) need no signature; others need the `expires` and `sig` of a signed URL ' +
        'from GET /v1/files/{id}/url. Supports Range and conditional requests.',
      response: {
        200: {
          description: 'The object (206 for a Range, 304 when not modified).',
          content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
        },
        ...problemResponses,
      },
    },
    handler: async (request, reply) => deliver(request, reply),
  })

  async function deliver(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const raw = request.raw.url ?? '/'
    const q = raw.indexOf('?')
    const path = q < 0 ? raw : raw.slice(0, q)
    if (!path.startsWith(prefix)) throw new LocalexError('NOT_FOUND', 'No such object')
    const { signal } = requestContext(request, reply)
    const answer = await deliverObject(store, policy, {
      method: request.method,
      keyPath: path.slice(prefix.length),
      query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)),
      headers: request.headers,
      signal,
    })
    reply.headers(answer.headers)
    if (answer.error) throw answer.error
    reply.code(answer.status)
    // Fastify destroys the stream when the client goes away.
    return answer.body ? reply.send(answer.body) : reply.send()
  }
}

function defaultCacheControl(config: Config, kind: KeyKind): string {
  if (kind === 'verification') return config.files.cacheControl.document
  if (kind === 'temp') return config.files.cacheControl.temp
  return config.files.cacheControl.public
}
