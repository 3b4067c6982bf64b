import { createRequire } from 'node:module'
import type { FastifyPluginAsync } from 'fastify'
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
const docs: FastifyPluginAsync<{ config: Config }> = async (app, { config }) => {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'localex-storage',
        version,
        description:
          'Photos and documents of LocalEx. Every error is application/problem+json with a stable `code` (docs/errors.md). ' +
          'Send `Authorization: Bearer <JWT>`; a present but invalid token is always 401, even on public routes.',
      },
      servers: [{ url: config.storage.publicBaseUrl }],
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
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
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  })
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } })
}

export const docsPlugin = fp(docs, { name: 'localex-docs', fastify: '5.x' })
