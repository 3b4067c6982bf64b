import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ERROR_CATALOGUE, LocalexError, isLocalexError, type ErrorCode } from '../errors/index.js'
import { bearerChallenge } from './auth.js'

/**
 * Every failure leaves the service as application/problem+json (RFC 9457) built from the one error
 * catalogue: `{ type, title, status, code, detail }` plus the request id. LocalexErrors keep their
 * code and message; Fastify's own 4xx errors (validation, parsing, multipart limits) are given the
 * catalogue code that matches; anything else is a 500 INTERNAL with no detail. 5xx bodies never
 * carry the message either (it may name hosts, buckets or paths): the log has it.
 *
 * `problemResponse` builds the answer (status, headers, body) once; three writers send it: to a
 * Fastify reply, to a bare Node response (the library's handlers, the hijacked upload receiver),
 * and to a socket Node could not even parse a request from.
 */

/** JSON is UTF-8 by definition (RFC 8259), so no charset parameter; Fastify's serializer adds one anyway. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

/** Seconds a client should wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 5

export interface Problem {
  type: string
  title: string
  status: number
  code: ErrorCode
  detail?: string
  /** Facts safe to show (from `LocalexError.details`), for 4xx only. */
  details?: Record<string, unknown>
  requestId?: string
}

export const problemType = (code: ErrorCode): string => `urn:localex-storage:error:${code}`

/** Fastify/plugin error codes whose HTTP status alone would give the wrong catalogue code. */
const FASTIFY_CODES: Record<string, { code: ErrorCode; detail?: string }> = {
  FST_FILES_LIMIT: { code: 'VALIDATION_FAILED', detail: 'Send exactly one file per request' },
  FST_PARTS_LIMIT: { code: 'VALIDATION_FAILED', detail: 'The multipart body has too many parts' },
  FST_FIELDS_LIMIT: { code: 'VALIDATION_FAILED', detail: 'The multipart body has too many fields' },
  FST_PROTO_VIOLATION: { code: 'VALIDATION_FAILED', detail: 'Field name not allowed' },
  FST_INVALID_JSON_FIELD_ERROR: { code: 'VALIDATION_FAILED', detail: 'A multipart field is not valid JSON' },
  FST_MP_PREMATURE_CLOSE: { code: 'VALIDATION_FAILED', detail: 'The multipart body ended early' },
  FST_INVALID_MULTIPART_CONTENT_TYPE: { code: 'UNSUPPORTED_TYPE', detail: 'Expected a multipart/form-data body' },
  FST_REQ_FILE_TOO_LARGE: { code: 'FILE_TOO_LARGE' },
  FST_ERR_CTP_BODY_TOO_LARGE: { code: 'VALIDATION_FAILED', detail: 'The request body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { code: 'UNSUPPORTED_TYPE', detail: 'Unsupported request Content-Type' },
}

const BY_STATUS: Record<number, ErrorCode> = {
  400: 'VALIDATION_FAILED',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'NOT_FOUND',
  406: 'VALIDATION_FAILED',
  408: 'VALIDATION_FAILED',
  409: 'CONFLICT',
  411: 'VALIDATION_FAILED',
  412: 'PRECONDITION_FAILED',
  413: 'FILE_TOO_LARGE',
  414: 'VALIDATION_FAILED',
  415: 'UNSUPPORTED_TYPE',
  416: 'RANGE_NOT_SATISFIABLE',
  422: 'VALIDATION_FAILED',
  429: 'RATE_LIMITED',
  431: 'VALIDATION_FAILED',
}

/** Turns any thrown value into the LocalexError the client will see (unknown errors: INTERNAL). */
export function toLocalexError(error: unknown): LocalexError {
  if (isLocalexError(error)) return error
  const e = error as Partial<FastifyError> & { validation?: unknown; validationContext?: string }
  if (e && typeof e === 'object') {
    if (e.validation) return new LocalexError('VALIDATION_FAILED', e.message ?? 'Request is invalid', { cause: error })
    const known = typeof e.code === 'string' ? FASTIFY_CODES[e.code] : undefined
    if (known) return new LocalexError(known.code, known.detail ?? ERROR_CATALOGUE[known.code].title, { cause: error })
    const status = typeof e.statusCode === 'number' ? e.statusCode : undefined
    // Fastify's 4xx errors describe the request, never the server: their messages are safe.
    if (status !== undefined && status >= 400 && status < 500) {
      const code = BY_STATUS[status] ?? 'VALIDATION_FAILED'
      return new LocalexError(code, e.message || ERROR_CATALOGUE[code].title, { cause: error })
    }
  }
  return new LocalexError('INTERNAL', undefined, { cause: error })
}

export function toProblem(error: LocalexError, requestId?: string): Problem {
  const clientError = error.status < 500
  return {
    type: problemType(error.code),
    title: error.title,
    status: error.status,
    code: error.code,
    ...(clientError || error.code !== 'INTERNAL' ? { detail: clientError ? error.message : error.title } : {}),
    ...(clientError && error.details ? { details: error.details } : {}),
    requestId,
  }
}

export interface ProblemResponse {
  status: number
  /** Lower-case names. */
  headers: Record<string, string>
  problem: Problem
}

export interface ProblemOptions {
  requestId?: string | undefined
  /** Answer with this status instead of the code's (405 for a wrong method, 408 and 431 from Node). */
  status?: number | undefined
  /** The request body was not read to the end. */
  bodyIncomplete?: boolean | undefined
}

/** The answer to `error`: its status, the headers that status calls for, and the problem body. */
export function problemResponse(error: LocalexError, options: ProblemOptions = {}): ProblemResponse {
  const status = options.status ?? error.status
  const problem = { ...toProblem(error, options.requestId), status }
  // Never cache a refusal (a CDN in front of /files would otherwise keep serving it).
  const headers: Record<string, string> = { 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store' }
  if (status === 401) headers['www-authenticate'] = bearerChallenge(error)
  if (status === 503 || status === 429) {
    const hinted = Number(error.details?.retryAfterSeconds)
    headers['retry-after'] = String(Number.isFinite(hinted) && hinted > 0 ? Math.ceil(hinted) : RETRY_AFTER_SECONDS)
  }
  // A request whose body was not read to the end (an upload refused early) must not keep the
  // connection: reading the rest to reuse it would be reading what we refused.
  if (options.bodyIncomplete) headers.connection = 'close'
  return { status, headers, problem }
}

/** Writes the problem to a Fastify reply; headers a route set already (a 416's Content-Range, a challenge) win. */
export function sendProblem(request: FastifyRequest, reply: FastifyReply, error: LocalexError): FastifyReply {
  const answer = problemResponse(error, { requestId: request.id, bodyIncomplete: !request.raw.complete })
  for (const [name, value] of Object.entries(answer.headers)) {
    if (name !== 'content-type' && !reply.hasHeader(name)) reply.header(name, value)
  }
  return reply.code(answer.status).type(PROBLEM_CONTENT_TYPE).send(answer.problem)
}

export interface WriteProblemOptions {
  /** Sent along (Allow, Content-Range). */
  headers?: Record<string, string>
  status?: number
  /** How long a refused upload may go on sending before its connection is cut (default 5 s). */
  drainTimeoutMs?: number
}

/**
 * Writes the problem to a bare Node response, for handlers that run without Fastify. When the
 * request body is still arriving (a refused upload), the rest is read and dropped so the client
 * can finish sending and read the answer; past `drainTimeoutMs` the socket is cut. A response
 * already under way can only be cut.
 */
export function writeProblem(
  req: IncomingMessage,
  res: ServerResponse,
  error: unknown,
  options: WriteProblemOptions = {},
): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const incomplete = !req.complete
  const known = toLocalexError(error)
  // No `Connection: close` here even when the body is unread: Node's server destroys the socket as
  // soon as such a response is written, and the client, still sending, gets EPIPE or ECONNRESET
  // instead of the answer (every time with Node 24's fetch). The drain below reads and drops the
  // rest instead, and cuts the socket only past `drainTimeoutMs`.
  const { status, headers, problem } = problemResponse(known, { status: options.status })
  const body = JSON.stringify(problem)
  res.writeHead(status, { ...options.headers, ...headers, 'content-length': String(Buffer.byteLength(body)) })
  res.end(body)
  if (incomplete) {
    req.unpipe()
    req.resume()
    const timer = setTimeout(() => req.socket.destroy(), options.drainTimeoutMs ?? 5000)
    timer.unref()
    req.once('end', () => clearTimeout(timer))
    req.once('close', () => clearTimeout(timer))
  }
}

/** Installs the error and not-found handlers on `app` (call on the root instance). */
export function installProblemHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const e = toLocalexError(error)
    if (e.status >= 500) request.log.error({ err: error, code: e.code }, 'request failed')
    else request.log.info({ code: e.code, detail: e.message }, 'request refused')
    return sendProblem(request, reply, e)
  })
  app.setNotFoundHandler((request, reply) => {
    return sendProblem(
      request,
      reply,
      new LocalexError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0] ?? ''}`),
    )
  })
}

/**
 * Fastify's `clientErrorHandler`: requests Node could not even parse (bad request line, headers
 * too large, headers or body too slow). Written straight to the socket, then the socket is closed.
 */
export function clientErrorProblem(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400
  const detail =
    status === 408
      ? 'The request was not received in time'
      : status === 431
        ? 'The request headers are too large'
        : 'The request is malformed'
  const answer = problemResponse(new LocalexError('VALIDATION_FAILED', detail), { status, bodyIncomplete: true })
  const body = JSON.stringify(answer.problem)
  const headers = { ...answer.headers, 'content-length': String(Buffer.byteLength(body)) }
  if (socket.writable) {
    const lines = Object.entries(headers)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('')
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${lines}\r\n${body}`)
  }
  socket.destroy(error)
}

/** JSON schema of the problem body, shared by every route's 4xx/5xx responses and OpenAPI. */
export const ProblemSchema = {
  $id: 'Problem',
  type: 'object',
  description: 'RFC 9457 problem details. `code` is stable (see docs/errors.md); `detail` is for humans.',
  properties: {
    type: { type: 'string', example: 'urn:localex-storage:error:NOT_FOUND' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string', enum: Object.keys(ERROR_CATALOGUE) },
    detail: { type: 'string' },
    details: { type: 'object', additionalProperties: true },
    requestId: { type: 'string' },
  },
  required: ['type', 'title', 'status', 'code'],
} as const
