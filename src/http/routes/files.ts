import type { FastifyPluginAsync } from 'fastify'
import { requireActor } from '../auth.js'
import { formatSchema, idString, noContent, problemResponses } from '../schemas.js'
import { actorOf, requestContext, type ApiDeps } from './common.js'

const fileParams = {
  type: 'object',
  properties: { id: idString('File id.') },
  required: ['id'],
} as const

/** Any file by id: metadata, a URL to read it, deletion. Access is the files layer's decision. */
export const fileRoutes: FastifyPluginAsync<ApiDeps> = async (app, deps) => {
  const { files } = deps

  app.get<{ Params: { id: string } }>(
    '/files/:id',
    {
      schema: {
        tags: ['files'],
        summary: 'A file: metadata, status, placeholder, dimensions and the URLs the caller may use',
        description:
          'Public files need no token; others need one (private files: their owner or an admin; anyone else gets 404).',
        params: fileParams,
        response: { 200: { $ref: 'FileView#' }, ...problemResponses },
      },
    },
    async (request, reply) => files.getFile(request.actor, request.params.id, requestContext(request, reply)),
  )

  app.get<{ Params: { id: string }; Querystring: { variant?: string; format?: string } }>(
    '/files/:id/url',
    {
      schema: {
        tags: ['files'],
        summary: 'A URL to download the file or one of its variants',
        description: 'Public files: the CDN (or public) URL. Others: a short-lived signed URL.',
        params: fileParams,
        querystring: {
          type: 'object',
          properties: {
            variant: {
              type: 'string',
              pattern: '^[a-z][a-z0-9_-]{0,31}$',
              description: '`original` (default) or a variant name such as `thumbnail`.',
            },
            format: { ...formatSchema, description: 'Default: the stored format of that variant.' },
          },
          additionalProperties: false,
        },
        response: { 200: { $ref: 'SignedUrl#' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { variant, format } = request.query
      return files.getUrl(request.actor, request.params.id, { variant, format }, requestContext(request, reply))
    },
  )

  app.delete<{ Params: { id: string } }>(
    '/files/:id',
    {
      preHandler: requireActor,
      schema: {
        tags: ['files'],
        summary: 'Delete a file (its owner or an admin)',
        security: [{ bearerAuth: [] }],
        params: fileParams,
        response: { ...noContent, ...problemResponses },
      },
    },
    async (request, reply) => {
      await files.deleteFile(actorOf(request), request.params.id, requestContext(request, reply))
      return reply.code(204).send()
    },
  )
}
