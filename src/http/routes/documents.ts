import type { FastifyPluginAsync } from 'fastify'
import { LocalexError } from '../../errors/index.js'
import { DOCUMENT_TYPES, isDocumentType } from '../../domain/index.js'
import {
  documentTypeSchema,
  idString,
  idempotencyHeaders,
  multipartFile,
  problemResponses,
  uploadQuerystring,
} from '../schemas.js'
import { requireActor } from '../auth.js'
import { actorOf, receiveUpload, requestContext, type ApiDeps } from './common.js'

const security = [{ bearerAuth: [] }]

/** Identity-verification documents: private to their owner and admins; never public. */
export const documentRoutes: FastifyPluginAsync<ApiDeps> = async (app, deps) => {
  const { files } = deps

  app.post<{ Querystring: { wait: boolean }; Headers: { 'idempotency-key'?: string } }>(
    '/verification-documents',
    {
      preHandler: deps.uploadGuards,
      schema: {
        tags: ['verification documents'],
        summary: 'Upload an identity-verification document',
        description:
          `Multipart body: the field \`type\` (${DOCUMENT_TYPES.join(', ')}) first, then the file as ` +
          `\`file\`. JPEG, PNG or PDF.`,
        consumes: ['multipart/form-data'],
        security,
        querystring: uploadQuerystring,
        headers: idempotencyHeaders,
        multipartBody: multipartFile({ type: documentTypeSchema }, ['type']),
        response: { 201: { $ref: 'FileView#' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const actor = actorOf(request)
      const ctx = requestContext(request, reply)
      const idempotencyKey = request.headers['idempotency-key']
      const view = await receiveUpload(
        deps,
        request,
        'document',
        (file) => {
          const type = file.fields.type
          if (type === undefined)
            throw new LocalexError('VALIDATION_FAILED', 'Send the field "type" before the file', {
              details: { field: 'type' },
            })
          if (!isDocumentType(type))
            throw new LocalexError('VALIDATION_FAILED', `"type" must be one of ${DOCUMENT_TYPES.join(', ')}`, {
              details: { field: 'type' },
            })
          return files.uploadVerificationDocument(
            actor,
            type,
            {
              body: file.body,
              fileName: file.fileName,
              wait: request.query.wait,
              idempotencyKey,
            },
            ctx,
          )
        },
        ['type'],
      )
      return reply
        .code(201)
        .header('location', `/v1/files/${encodeURIComponent(view.id)}`)
        .send(view)
    },
  )

  app.get<{ Querystring: { userId?: string } }>(
    '/verification-documents',
    {
      preHandler: requireActor,
      schema: {
        tags: ['verification documents'],
        summary: "List a user's verification documents",
        description: "The caller's own; admins may name any user with `userId`.",
        security,
        querystring: {
          type: 'object',
          properties: { userId: idString('Whose documents (default: the caller).') },
          additionalProperties: false,
        },
        response: { 200: { $ref: 'DocumentList#' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const actor = actorOf(request)
      return {
        documents: await files.listVerificationDocuments(
          actor,
          request.query.userId ?? actor.id,
          requestContext(request, reply),
        ),
      }
    },
  )
}
