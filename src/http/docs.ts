import { createRequire } from 'node:module'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import type { Config } from '../config/index.js'

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string }

/**
 * OpenAPI 3.1 generated from the route schemas (@fastify/swagger) with a browsable UI at `/docs`
 * and the document at `/docs/json`. Registered on the root before any route so that it sees them
 * all. Multipart routes keep their form under `schema.multipartBody` (Ajv cannot validate a
 * streamed body); it becomes their request body here.
 */
export interface DocsOptions {
  config: Config
  /** Serve the UI and the document (`/docs`, `/docs/json`); false: only build the document, for `internalDocs`. */
  expose?: boolean
}

const docs: FastifyPluginAsync<DocsOptions> = async (app, { config, expose = true }) => {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'localex-storage',
        version,
        description:
          'Photos and documents of LocalEx. Every error is application/problem+json with a stable `code` ' +
          '(docs/errors.md). ' +
          'Send `Authorization: Bearer <JWT>`; a present but invalid token is always 401, even on public routes.',
      },
      servers: [{ url: config.storage.publicBaseUrl }],
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN, when the service sets one' },
        },
      },
      tags: [
        { name: 'item photos' },
        { name: 'profile photos' },
        { name: 'verification documents' },
        { name: 'files' },
        { name: 'direct uploads' },
        { name: 'delivery' },
        { name: 'operations' },
      ],
    },
    transform: ({ schema, url }) => {
      if (!schema?.multipartBody) return { schema, url }
      const { multipartBody, ...rest } = schema
      return { schema: { ...rest, body: multipartBody }, url }
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
  })
  if (expose) await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } })
}

export const docsPlugin = fp(docs, { name: 'localex-docs', fastify: '5.x' })

/**
 * The docs of another (ready) app, served from this one: the internal listener shows the public
 * API's document without serving the API.
 */
export const internalDocs: FastifyPluginAsync<{ source: FastifyInstance }> = async (app, { source }) => {
  await app.register(fastifySwagger, { mode: 'static', specification: { document: source.swagger() as never } })
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } })
}
