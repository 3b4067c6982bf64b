import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import type { Config } from '../../config/index.js'
import { LocalexError } from '../../errors/index.js'
import type { FileManager, FileView, Purpose, RequestContext } from '../../files/index.js'
import type { Metrics } from '../metrics.js'
import { readSingleFile, type IncomingFile } from '../multipart.js'
import { toLocalexError } from '../problem.js'

/** What every /v1 resource plugin receives. */
export interface ApiDeps {
  config: Config
  files: FileManager
  metrics: Metrics
  /** preHandlers of every upload route: a signed-in caller, then the per-user rate limit. */
  uploadGuards: preHandlerAsyncHookHandler[]
}

/**
 * Audit facts of a request, and a signal that aborts when the client goes away before the
 * response is sent (so the files layer stops work nobody will see).
 */
export function requestContext(request: FastifyRequest, reply: FastifyReply): RequestContext {
  const controller = new AbortController()
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new LocalexError('ABORTED', 'The client closed the connection'))
  })
  const userAgent = request.headers['user-agent']
  return { ip: request.ip, ...(userAgent ? { userAgent: userAgent.slice(0, 512) } : {}), signal: controller.signal }
}

/** The signed-in caller; routes that need one also run `requireActor` before the body is read. */
export function actorOf(request: FastifyRequest): NonNullable<FastifyRequest['actor']> {
  if (request.actor === null) throw new LocalexError('UNAUTHENTICATED', 'Sign in to do this')
  return request.actor
}

/**
 * Streams the one file of a multipart request into `store` (a FileManager upload) and records the
 * upload metrics. When reading the body failed, that failure is the answer, whatever the files
 * layer made of the broken stream.
 */
export async function receiveUpload(
  deps: ApiDeps,
  request: FastifyRequest,
  purpose: Purpose,
  store: (file: IncomingFile) => Promise<FileView>,
  fields?: readonly string[],
): Promise<FileView> {
  const started = performance.now()
  let outcome = 'ok'
  let incoming: IncomingFile | undefined
  try {
    incoming = await readSingleFile(request, { maxBytes: deps.config.images.maxBytes, fields })
    const view = await store(incoming)
    deps.metrics.uploadBytes.observe({ purpose }, incoming.bytes)
    return view
  } catch (error) {
    const answer = incoming?.failure ?? error
    outcome = toLocalexError(answer).code
    throw answer
  } finally {
    // An idempotent replay (or a refusal) may leave the body unread: stop parsing it.
    if (incoming && !incoming.body.readableEnded) incoming.discard()
    deps.metrics.uploadDuration.observe({ purpose, outcome }, (performance.now() - started) / 1000)
  }
}
