import fastify, { type FastifyInstance } from 'fastify'
import type { Config } from '../config/index.js'
import type { FileManager } from '../files/index.js'
import type { ObjectStore } from '../storage/index.js'
import type { TokenVerifier } from './auth.js'
import { deliveryRoutes } from './delivery.js'
import { devTokenRoutes } from './dev-token.js'
import { diskUploadRoutes } from './direct-upload.js'
import { docsPlugin, internalDocs } from './docs.js'
import { healthRoutes, type HealthProbes } from './health.js'
import { loggerOptions, type LoggerOptions } from './log.js'
import { createMetrics, type Metrics } from './metrics.js'
import { ProblemSchema, clientErrorProblem, installProblemHandlers, sendProblem, toLocalexError } from './problem.js'
import { v1Routes } from './routes/v1.js'
import { SHARED_SCHEMAS } from './schemas.js'
import { DEFAULT_WEB_ROOT, webRoutes } from './web.js'

export interface HttpAppDeps {
  config: Config
  files: FileManager
  store: ObjectStore
  health: HealthProbes
  /** Shared with the other layers (pipeline stages, queue depth, store errors); one is made if absent. */
  metrics?: Metrics
  /** false: no logging; true (default): `config.logLevel` to stdout; or a level and a stream. */
  logger?: boolean | LoggerOptions
  /** Tests: verify tokens some other way (the config's keys are used otherwise). */
  verifier?: TokenVerifier
  /** Tests: the clock of signed-URL expiry. */
  now?: () => number
  /** Mount the disk store's receiver of presigned uploads (default: when the store is on disk). */
  diskUploads?: boolean
  /** Folder of the built example page served at `/` (default dist/web); false: no page. */
  web?: string | false
}

/** Largest JSON body (reorder lists of up to 1,000 ids are the biggest); files go by multipart. */
export const JSON_BODY_LIMIT = 256 * 1024

/**
 * The timeouts given to Node's HTTP server. Node (20 to 24) checks headers/request timeouts only every
 * `connectionsCheckingInterval` (30 s by default), so a slowloris client would get ~30 s whatever
 * the timeouts say: check four times per headers timeout (at least every 100 ms, at most every
 * second). Node refuses a headers timeout longer than the request timeout.
 */
export function serverTimeouts(config: Config): {
  headersTimeout: number
  requestTimeout: number
  connectionsCheckingInterval: number
} {
  const requestTimeout = config.http.requestTimeoutMs
  const headersTimeout =
    requestTimeout > 0 ? Math.min(config.http.headersTimeoutMs, requestTimeout) : config.http.headersTimeoutMs
  const connectionsCheckingInterval = Math.max(100, Math.min(1000, Math.floor(headersTimeout / 4)))
  return { headersTimeout, requestTimeout, connectionsCheckingInterval }
}

/**
 * The HTTP service as a Fastify instance, not listening (`startHttpServer` listens; tests `inject`
 * or `listen({ port: 0 })`). It owns nothing it is given: closing it stops the HTTP side only;
 * `createStorage(...).close()` closes the store, database and queue.
 */
export function buildHttpApp(deps: HttpAppDeps): FastifyInstance {
  const { config } = deps
  const timeouts = serverTimeouts(config)
  const logger =
    deps.logger === false
      ? false
      : loggerOptions(config, deps.logger === true || deps.logger === undefined ? {} : deps.logger)
  const app = fastify({
    logger,
    trustProxy: config.http.trustProxy,
    bodyLimit: JSON_BODY_LIMIT,
    // Idle sockets (nothing sent either way) are closed after this long.
    connectionTimeout: timeouts.requestTimeout,
    requestTimeout: timeouts.requestTimeout,
    http: timeouts,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Ids are up to 128 characters (find-my-way's default cap is 100).
    routerOptions: { maxParamLength: 256 },
    // Errors raised before routing (a URL that does not decode) and before parsing (Node's own).
    frameworkErrors: (error, request, reply) => sendProblem(request, reply, toLocalexError(error)),
    clientErrorHandler: clientErrorProblem,
    ajv: { customOptions: { removeAdditional: false, useDefaults: true, coerceTypes: 'array', allErrors: false } },
  })

  const ownsMetrics = !deps.metrics
  const metrics = deps.metrics ?? createMetrics()

  installProblemHandlers(app)
  app.addSchema(ProblemSchema)
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema)

  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff')
    return payload
  })
  app.addHook('onResponse', async (request, reply) => {
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status_code: String(reply.statusCode),
    }
    metrics.httpRequests.inc(labels)
    metrics.httpRequestDuration.observe(labels, reply.elapsedTime / 1000)
  })
  app.addHook('onClose', async () => {
    if (ownsMetrics) metrics.registry.clear()
  })

  // With an internal listener (INTERNAL_PORT), /metrics and /docs are served there only.
  const internal = config.http.internal !== undefined
  void app.register(docsPlugin, { config, expose: !internal })
  void app.register(healthRoutes, {
    health: deps.health,
    metrics,
    exposeMetrics: !internal,
    metricsToken: config.http.metricsToken,
  })
  if (config.auth.devTokens) void app.register(devTokenRoutes, { prefix: '/v1/dev', config })
  void app.register(v1Routes, {
    prefix: '/v1',
    config,
    files: deps.files,
    metrics,
    verifier: deps.verifier,
  })
  void app.register(deliveryRoutes, { config, store: deps.store, now: deps.now })
  if (deps.web !== false) void app.register(webRoutes, { config, root: deps.web ?? DEFAULT_WEB_ROOT })
  if (deps.diskUploads ?? deps.store.name === 'disk') {
    void app.register(diskUploadRoutes, {
      config,
      store: deps.store,
      ...(deps.now ? { handler: { now: deps.now } } : {}),
    })
  }
  return app
}

export interface InternalAppDeps {
  config: Config
  health: HealthProbes
  metrics: Metrics
  /** The public app, ready: its OpenAPI document is served here. */
  source: FastifyInstance
  logger?: boolean | LoggerOptions
}

/**
 * The internal listener's app (INTERNAL_PORT): health, readiness, metrics and the API docs, kept
 * off the public listener so that a reverse proxy in front of the service does not expose them.
 */
export function buildInternalApp(deps: InternalAppDeps): FastifyInstance {
  const { config } = deps
  const logger =
    deps.logger === false
      ? false
      : loggerOptions(config, deps.logger === true || deps.logger === undefined ? {} : deps.logger)
  const app = fastify({
    logger,
    frameworkErrors: (error, request, reply) => sendProblem(request, reply, toLocalexError(error)),
    clientErrorHandler: clientErrorProblem,
  })
  installProblemHandlers(app)
  app.addSchema(ProblemSchema)
  void app.register(internalDocs, { source: deps.source })
  void app.register(healthRoutes, {
    health: deps.health,
    metrics: deps.metrics,
    metricsToken: config.http.metricsToken,
  })
  return app
}
