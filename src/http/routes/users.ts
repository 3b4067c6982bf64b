import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
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

const userParams = {
  type: 'object',
  properties: { userId: idString('A user id, or `me` for the caller.') },
  required: ['userId'],
} as const

const security = [{ bearerAuth: [] }]

/** `me` is the caller (anonymous callers have no `me`). */
function resolveUser(request: FastifyRequest, userId: string): string {
  return userId === 'me' ? actorOf(request).id : userId
}

/** Profile photos: one per user; a new one replaces the old. */
export const userRoutes: FastifyPluginAsync<ApiDeps> = async (app, deps) => {
  const { files } = deps

  app.put<{ Querystring: { wait: boolean }; Headers: { 'idempotency-key'?: string } }>(
    '/users/me/profile-photo',
    {
      preHandler: deps.uploadGuards,
      schema: {
        tags: ['profile photos'],
        summary: "Upload or replace the caller's profile photo",
        description:
          'Multipart body with exactly one part, `file`. The new photo becomes current once stored; the old one is ' +
          'then deleted.',
        consumes: ['multipart/form-data'],
        security,
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
      const view = await receiveUpload(deps, request, 'profile_photo', (file) =>
        files.uploadProfilePhoto(
          actor,
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

  app.get<{ Params: { userId: string } }>(
    '/users/:userId/profile-photo',
    {
      schema: {
        tags: ['profile photos'],
        summary: "A user's current profile photo",
        description: 'Public: no token needed (a token, when sent, must be valid).',
        params: userParams,
        response: { 200: { $ref: 'FileView#' }, ...problemResponses },
      },
    },
    async (request) => files.getProfilePhoto(resolveUser(request, request.params.userId), request.actor),
  )

  app.delete<{ Params: { userId: string } }>(
    '/users/:userId/profile-photo',
    {
      preHandler: requireActor,
      schema: {
        tags: ['profile photos'],
        summary: "Delete a user's profile photo (the user or an admin)",
        security,
        params: userParams,
        response: { ...noContent, ...problemResponses },
      },
    },
    async (request, reply) => {
      await files.deleteProfilePhoto(
        actorOf(request),
        resolveUser(request, request.params.userId),
        requestContext(request, reply),
      )
      return reply.code(204).send()
    },
  )
}
