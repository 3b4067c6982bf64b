import type { FastifyPluginAsync } from 'fastify'
import { createHash, timingSafeEqual } from 'node:crypto'
import { LocalexError, isLocalexError } from '../errors/index.js'
import type { Metrics } from './metrics.js'
import { RETRY_AFTER_SECONDS } from './problem.js'

/** What /readyz asks: each resolves when its dependency answers, rejects (ideally a LocalexError) when not. */
export interface HealthProbes {
  db(): Promise<void>
  store(): Promise<void>
  queue(): Promise<void>
}

export interface HealthOptions {
  health: HealthProbes
  metrics: Metrics
  /** Time each probe gets (default 2 s). */
  probeTimeoutMs?: number
  /** Serve `/metrics` here (default true; false when an internal listener serves it). */
  exposeMetrics?: boolean
  /** Bearer token `/metrics` requires (METRICS_TOKEN). */
  metricsToken?: string
}

type CheckResult = { status: 'ok'; ms: number } | { status: 'fail'; code: string; ms: number }

/**
 * Operations endpoints: `/healthz` (the process answers), `/readyz` (database, store and queue
 * answer, each within its timeout, probed in parallel; 503 naming the failing ones and their error
 * codes, never their messages), `/metrics` (Prometheus text from the app's own registry).
 */
export const healthRoutes: FastifyPluginAsync<HealthOptions> = async (
  app,
  { health, metrics, probeTimeoutMs = 2000, exposeMetrics = true, metricsToken },
) => {
  const check = async (probe: () => Promise<void>): Promise<CheckResult> => {
    const started = performance.now()
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error('probe timed out'), { code: 'TIMEOUT' })), probeTimeoutMs)
    })
    try {
      await Promise.race([probe(), timeout])
      return { status: 'ok', ms: Math.round(performance.now() - started) }
    } catch (error) {
      const code = isLocalexError(error)
        ? error.code
        : (error as { code?: unknown })?.code === 'TIMEOUT'
          ? 'TIMEOUT'
          : 'INTERNAL'
      return { status: 'fail', code, ms: Math.round(performance.now() - started) }
    } finally {
      clearTimeout(timer)
    }
  }

  const checkSchema = {
    type: 'object',
    properties: { status: { type: 'string', enum: ['ok', 'fail'] }, code: { type: 'string' }, ms: { type: 'integer' } },
    required: ['status', 'ms'],
  }
  const readySchema = {
    type: 'object',
    properties: {
      status: { type: 'string', enum: ['ok', 'unavailable'] },
      checks: {
        type: 'object',
        properties: { db: checkSchema, store: checkSchema, queue: checkSchema },
        required: ['db', 'store', 'queue'],
      },
    },
    required: ['status', 'checks'],
  }

  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process answers',
        response: {
          200: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } }, required: ['status'] },
        },
      },
    },
    async (_request, reply) => reply.header('cache-control', 'no-store').send({ status: 'ok' }),
  )

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Readiness: database, object store and queue answer',
        response: { 200: readySchema, 503: readySchema },
      },
    },
    async (_request, reply) => {
      const [db, store, queue] = await Promise.all([
        check(() => health.db()),
        check(() => health.store()),
        check(() => health.queue()),
      ])
      const ok = db.status === 'ok' && store.status === 'ok' && queue.status === 'ok'
      reply.header('cache-control', 'no-store')
      if (!ok) reply.code(503).header('retry-after', String(RETRY_AFTER_SECONDS))
      return reply.send({ status: ok ? 'ok' : 'unavailable', checks: { db, store, queue } })
    },
  )

  if (!exposeMetrics) return
  const expected = metricsToken ? createHash('sha256').update(`Bearer ${metricsToken}`).digest() : undefined
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics',
        produces: ['text/plain'],
        ...(expected ? { security: [{ metricsToken: [] }] } : {}),
      },
    },
    async (request, reply) => {
      if (expected) {
        // Digests compared in constant time, so the comparison tells nothing about the token's length.
        const given = createHash('sha256')
          .update(request.headers.authorization ?? '')
          .digest()
        if (!timingSafeEqual(given, expected)) {
          reply.header('www-authenticate', 'Bearer realm="metrics"')
          throw new LocalexError('UNAUTHENTICATED', 'Send Authorization: Bearer <METRICS_TOKEN>')
        }
      }
      return reply
        .header('cache-control', 'no-store')
        .type(metrics.contentType)
        .send(await metrics.render())
    },
  )
}
