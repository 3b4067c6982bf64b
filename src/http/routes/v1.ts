import type { FastifyPluginAsync, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import fastifyMultipart from '@fastify/multipart'
import fastifyRateLimit from '@fastify/rate-limit'
import { LocalexError } from '../../errors/index.js'
import { authPlugin, requireActor, type TokenVerifier } from '../auth.js'
import { MULTIPART_LIMITS } from '../multipart.js'
import type { ApiDeps } from './common.js'
import { documentRoutes } from './documents.js'
import { fileRoutes } from './files.js'
import { itemRoutes } from './items.js'
import { uploadRoutes } from './uploads.js'
import { userRoutes } from './users.js'

export type V1Options = Omit<ApiDeps, 'uploadGuards'> & { verifier?: TokenVerifier }

/**
 * The versioned API, registered under `/v1`. Everything here is authenticated first (a bad token
 * is a 401 on every route, public ones included), answers `Cache-Control: no-store` (responses
 * carry signed URLs), and streams multipart uploads with busboy's limits set.
 */
export const v1Routes: FastifyPluginAsync<V1Options> = async (app, options) => {
  const { config } = options
  await app.register(authPlugin, { auth: config.auth, verifier: options.verifier })
  await app.register(fastifyMultipart, {
    limits: { ...MULTIPART_LIMITS, fileSize: config.images.maxBytes },
    throwFileSizeLimit: true,
  })

  const uploadGuards: preHandlerAsyncHookHandler[] = [requireActor]
  const max = config.http.uploadRateLimit
  if (max > 0) {
    await app.register(fastifyRateLimit, {
      global: false,
      // Counters live in this process: with several API instances each allows `max` (a Redis
      // store would share them; see @fastify/rate-limit's `redis` option).
      cache: 10_000,
      errorResponseBuilder: (_request, context) =>
        new LocalexError('RATE_LIMITED', `At most ${context.max} uploads a minute; try again in ${context.after}`, {
          details: { limit: context.max, retryAfterSeconds: Math.max(1, Math.ceil(context.ttl / 1000)) },
        }),
    })
    // One limiter, so one counter per user across every upload route.
    uploadGuards.push(
      app.rateLimit({
        max,
        timeWindow: 60_000,
        keyGenerator: (request: FastifyRequest) => (request.actor ? `user:${request.actor.id}` : `ip:${request.ip}`),
      }) as preHandlerAsyncHookHandler,
    )
  }

  app.addHook('onSend', async (request, reply, payload) => {
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
    // An answer given before the whole body arrived (an idempotent replay, a refusal): do not
    // keep reading the rest just to reuse the connection.
    if (!request.raw.complete) reply.header('connection', 'close')
    return payload
  })

  const deps: ApiDeps = { config, files: options.files, metrics: options.metrics, uploadGuards }
  await app.register(itemRoutes, deps)
  await app.register(userRoutes, deps)
  await app.register(documentRoutes, deps)
  await app.register(fileRoutes, deps)
  await app.register(uploadRoutes, deps)
}
