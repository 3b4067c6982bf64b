import type { FastifyPluginAsync } from 'fastify'
import type { Config } from '../config/index.js'
import { LocalexError } from '../errors/index.js'
import { UPLOAD_PATH, type ObjectStore } from '../storage/index.js'
import { createDiskUploadHandler, type DiskHandlerOptions } from './disk-handlers.js'
import { writeProblem } from './problem.js'

export interface DiskUploadOptions {
  config: Config
  store: ObjectStore
  handler?: DiskHandlerOptions
}

/**
 * The disk store's receiver of presigned uploads (`POST /uploads/direct`, `PUT
 * /uploads/direct/<key>`), mounted as it is: a plain Node handler that reads the body itself and
 * enforces the signed policy while the bytes arrive. Fastify must not touch the body, so this
 * scope has a pass-through content-type parser, and the reply is hijacked. Only registered when
 * the store is the disk driver (S3 receives direct uploads itself).
 */
export const diskUploadRoutes: FastifyPluginAsync<DiskUploadOptions> = async (
  app,
  { config, store, handler: options },
) => {
  const basePath = new URL(config.storage.publicBaseUrl).pathname.replace(/\/+$/, '')
  const handler = createDiskUploadHandler(store, options)

  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => done(null))

  const schema = {
    tags: ['direct uploads'],
    summary: 'Receive a presigned upload (embedded disk store)',
    description: 'Where the `url` and `fields` of POST /v1/uploads point when the store is on disk.',
    hide: false,
  }
  for (const [method, url] of [
    ['POST', `${basePath}${UPLOAD_PATH}`],
    ['PUT', `${basePath}${UPLOAD_PATH}/*`],
  ] as const) {
    app.route({
      method,
      url,
      schema,
      handler: async (request, reply) => {
        reply.hijack()
        const handled = await handler(request.raw, reply.raw)
        if (!handled) writeProblem(request.raw, reply.raw, new LocalexError('NOT_FOUND', 'No such upload address'))
      },
    })
  }
}
