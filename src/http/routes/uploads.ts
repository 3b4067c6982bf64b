import type { FastifyPluginAsync } from 'fastify'
import { LocalexError } from '../../errors/index.js'
import type { DirectUploadRequest } from '../../files/index.js'
import { requireActor } from '../auth.js'
import {
  documentTypeSchema,
  idString,
  idempotencyHeaders,
  problemResponses,
  purposeSchema,
  uploadQuerystring,
} from '../schemas.js'
import { actorOf, requestContext, type ApiDeps } from './common.js'

const security = [{ bearerAuth: [] }]

/** Direct uploads: the client sends the bytes to the store with a presigned POST, then completes. */
export const uploadRoutes: FastifyPluginAsync<ApiDeps> = async (app, deps) => {
  const { files } = deps

  app.post<{ Body: DirectUploadRequest }>(
    '/uploads',
    {
      preHandler: deps.uploadGuards,
      schema: {
        tags: ['direct uploads'],
        summary: 'Start a direct upload (large files, mobile clients)',
        description:
          'Returns a presigned POST to the store with the size limit (and content type, when given) in its policy. ' +
          'Item photos need `itemId`, documents `documentType`. Unfinished uploads expire.',
        security,
        body: {
          type: 'object',
          properties: {
            purpose: purposeSchema,
            itemId: idString('Item photos: the item.'),
            documentType: documentTypeSchema,
            fileName: { type: 'string', minLength: 1, maxLength: 1024, description: 'Display name.' },
            contentType: {
              type: 'string',
              maxLength: 255,
              pattern: '^[a-z]+/[a-z0-9.+-]+$',
              description: 'Pinned in the upload policy when given.',
            },
          },
          required: ['purpose'],
          additionalProperties: false,
        },
        response: { 201: { $ref: 'DirectUpload#' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const body = request.body
      if (body.purpose === 'item_photo' && !body.itemId)
        throw new LocalexError('VALIDATION_FAILED', 'Item photos need "itemId"', { details: { field: 'itemId' } })
      if (body.purpose === 'document' && !body.documentType)
        throw new LocalexError('VALIDATION_FAILED', 'Documents need "documentType"', {
          details: { field: 'documentType' },
        })
      const upload = await files.createDirectUpload(actorOf(request), body, requestContext(request, reply))
      return reply.code(201).send(upload)
    },
  )

  app.post<{ Params: { id: string }; Querystring: { wait: boolean }; Headers: { 'idempotency-key'?: string } }>(
    '/uploads/:id/complete',
    {
      preHandler: requireActor,
      schema: {
        tags: ['direct uploads'],
        summary: 'Finish a direct upload: validate and process it like a multipart upload',
        description: 'The temporary object is removed afterwards, whatever the outcome.',
        security,
        params: { type: 'object', properties: { id: idString('Upload id from POST /v1/uploads.') }, required: ['id'] },
        querystring: uploadQuerystring,
        headers: idempotencyHeaders,
        response: { 201: { $ref: 'FileView#' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const idempotencyKey = request.headers['idempotency-key']
      const view = await files.completeDirectUpload(
        actorOf(request),
        request.params.id,
        { wait: request.query.wait, idempotencyKey },
        requestContext(request, reply),
      )
      return reply
        .code(201)
        .header('location', `/v1/files/${encodeURIComponent(view.id)}`)
        .send(view)
    },
  )
}
