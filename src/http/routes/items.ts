import type { FastifyPluginAsync } from 'fastify'
import {
  idString,
  idempotencyHeaders,
  multipartFile,
  noContent,
  problemResponses,
  uploadQuerystring,
} from '../schemas.js'
import { requireActor } from '../auth.js'
import { actorOf, receiveUpload, requestContext, type ApiDeps } from './common.js'

const itemParams = {
  type: 'object',
  properties: { itemId: idString('The marketplace item (1-128 letters, digits, `_` or `-`).') },
  required: ['itemId'],
} as const

const security = [{ bearerAuth: [] }]

/** Item photos: upload, ordered listing, reordering; admins register or transfer item ownership. */
export const itemRoutes: FastifyPluginAsync<ApiDeps> = async (app, deps) => {
  const { files } = deps

  app.post<{ Params: { itemId: string }; Querystring: { wait: boolean }; Headers: { 'idempotency-key'?: string } }>(
    '/items/:itemId/photos',
    {
      preHandler: deps.uploadGuards,
      schema: {
        tags: ['item photos'],
        summary: 'Upload a photo of an item',
        description:
          'Multipart body with exactly one part, `file`. The owner of the item (the first user to attach photos, ' +
          'unless an admin registered one) or an admin. Answers once the sanitised original is stored ' +
          '(`processing`; its URL works at once and shows the optimised original when `ready`), or when ' +
          'everything is ready with `wait=true`.',
        consumes: ['multipart/form-data'],
        security,
        params: itemParams,
        querystring: uploadQuerystring,
        headers: idempotencyHeaders,
        multipartBody: multipartFile(),
        response: { 201: { $ref: 'FileView#' }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const actor = actorOf(request)
      const ctx = requestContext(request, reply)
      const idempotencyKey = request.headers['idempotency-key']
      const view = await receiveUpload(deps, request, 'item_photo', (file) =>
        files.uploadItemPhoto(
          actor,
          request.params.itemId,
          {
            body: file.body,
            fileName: file.fileName,
            wait: request.query.wait,
            idempotencyKey,
          },
          ctx,
        ),
      )
      return reply
        .code(201)
        .header('location', `/v1/files/${encodeURIComponent(view.id)}`)
        .send(view)
    },
  )

  app.get<{ Params: { itemId: string } }>(
    '/items/:itemId/photos',
    {
      schema: {
        tags: ['item photos'],
        summary: "An item's photos, in order",
        description: 'Public: no token needed (a token, when sent, must be valid).',
        params: itemParams,
        response: { 200: { $ref: 'PhotoList#' }, ...problemResponses },
      },
    },
    async (request) => ({ photos: await deps.files.listItemPhotos(request.params.itemId, request.actor) }),
  )

  app.put<{ Params: { itemId: string }; Body: { fileIds: string[] } }>(
    '/items/:itemId/photos/order',
    {
      preHandler: requireActor,
      schema: {
        tags: ['item photos'],
        summary: "Reorder an item's photos",
        description: "`fileIds` must be exactly the item's current photos, in the new order.",
        security,
        params: itemParams,
        body: {
          type: 'object',
          properties: {
            fileIds: { type: 'array', items: idString('A photo of the item.'), maxItems: 1000, uniqueItems: true },
          },
          required: ['fileIds'],
          additionalProperties: false,
        },
        response: { 200: { $ref: 'PhotoList#' }, ...problemResponses },
      },
    },
    async (request, reply) => ({
      photos: await files.reorderItemPhotos(
        actorOf(request),
        request.params.itemId,
        request.body.fileIds,
        requestContext(request, reply),
      ),
    }),
  )

  app.put<{ Params: { itemId: string }; Body: { ownerId: string } }>(
    '/items/:itemId/owner',
    {
      preHandler: requireActor,
      schema: {
        tags: ['item photos'],
        summary: 'Register or transfer the owner of an item (admins)',
        security,
        params: itemParams,
        body: {
          type: 'object',
          properties: { ownerId: idString('The user who owns the item from now on.') },
          required: ['ownerId'],
          additionalProperties: false,
        },
        response: { ...noContent, ...problemResponses },
      },
    },
    async (request, reply) => {
      await files.setItemOwner(
        actorOf(request),
        request.params.itemId,
        request.body.ownerId,
        requestContext(request, reply),
      )
      return reply.code(204).send()
    },
  )
}
