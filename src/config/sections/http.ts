import { z } from 'zod'
import { bool, defineSection, duration, int } from '../env.js'

export const http = defineSection({
  title: 'HTTP',
  summary: '`config.http`: the listeners of `serve` and their limits.',
  variables: {
    PORT: { schema: int(0, 65535).default(3000), default: '3000', doc: 'Port of the HTTP service.' },
    HOST: {
      schema: z.string().min(1).default('127.0.0.1'),
      default: '127.0.0.1',
      doc: 'Address to listen on (`0.0.0.0` in containers).',
    },
    TRUST_PROXY: {
      schema: bool.default(false),
      default: 'false',
      doc: 'Trust `X-Forwarded-*` (behind a load balancer).',
    },
    HTTP_HEADERS_TIMEOUT: {
      schema: duration.default('10s'),
      default: '10s',
      doc: 'Time a client has to send the request headers.',
    },
    HTTP_REQUEST_TIMEOUT: {
      schema: duration.default('120s'),
      default: '120s',
      doc: 'Time a client has to send a whole request (slowloris guard).',
    },
    UPLOAD_RATE_LIMIT: {
      schema: int(0).default(60),
      default: '60',
      doc: 'Uploads per user per minute (0: unlimited).',
    },
    METRICS_TOKEN: {
      schema: z.string().min(16, 'expected at least 16 characters').optional(),
      default: '—',
      doc: 'When set, `/metrics` answers only requests with `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise).',
      secret: true,
    },
    INTERNAL_PORT: {
      schema: int(0, 65535).optional(),
      default: '—',
      doc:
        'When set, `/metrics` and `/docs` leave the public listener and are served on this port of `INTERNAL_HOST` ' +
        'instead (with `/healthz` and `/readyz`, which stay on both).',
    },
    INTERNAL_HOST: {
      schema: z.string().min(1).default('127.0.0.1'),
      default: '127.0.0.1',
      doc: 'Address of the internal listener (`INTERNAL_PORT`).',
    },
  },
  build: (v) => ({
    http: {
      port: v.PORT,
      host: v.HOST,
      trustProxy: v.TRUST_PROXY,
      headersTimeoutMs: v.HTTP_HEADERS_TIMEOUT,
      requestTimeoutMs: v.HTTP_REQUEST_TIMEOUT,
      uploadRateLimit: v.UPLOAD_RATE_LIMIT,
      /** Bearer token `/metrics` requires (METRICS_TOKEN); absent: open. */
      metricsToken: v.METRICS_TOKEN,
      /** A second, internal listener that alone serves /metrics and /docs (INTERNAL_PORT). */
      internal: v.INTERNAL_PORT === undefined ? undefined : { host: v.INTERNAL_HOST, port: v.INTERNAL_PORT },
    },
  }),
})
