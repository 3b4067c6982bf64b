import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { Config } from '../config/index.js'
import { signToken } from './auth.js'
import { idString, problemResponses } from './schemas.js'

export interface DevTokenOptions {
  config: Config
}

/** Lifetime of development tokens. */
export const DEV_TOKEN_TTL_SECONDS = 3600

/** Headers a reverse proxy adds: a request that carries one did not come from this machine's user. */
const PROXY_HEADERS = /^(forwarded|x-forwarded-.*|x-real-ip|via)$/

/** Peers that are this machine (IPv4 loopback, IPv6 loopback, IPv4-mapped loopback). */
const LOOPBACK_PEER = /^(127(\.\d{1,3}){3}|::1|::ffff:127(\.\d{1,3}){3})$/

/** Host headers naming this machine, with any port. */
const LOOPBACK_HOST = /^(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/i

/**
 * Whether a request can only have come from someone at this machine: a loopback peer (the socket's
 * own address, never one taken from a header), a loopback `Host` (a page on another name that
 * resolves to 127.0.0.1 — DNS rebinding — sends its own name) and no proxy header (a proxy on the
 * same host connects from loopback on behalf of anyone). A browser page on another origin is
 * refused by its `Origin` too.
 */
export function isLocalRequest(peer: string | undefined, headers: IncomingHttpHeaders): boolean {
  if (!peer || !LOOPBACK_PEER.test(peer)) return false
  if (Object.keys(headers).some((name) => PROXY_HEADERS.test(name))) return false
  const host = headers.host
  if (typeof host !== 'string' || !LOOPBACK_HOST.test(host)) return false
  const origin = headers.origin
  if (origin !== undefined) {
    try {
      if (!LOOPBACK_HOST.test(new URL(origin).host)) return false
    } catch {
      return false
    }
  }
  return true
}

const isLocal = (request: FastifyRequest): boolean => isLocalRequest(request.raw.socket.remoteAddress, request.headers)

/**
 * `POST /v1/dev/token`: mints a bearer token for any user, admin included, so the example page
 * (and curl) can sign in without an identity provider. The same thing `localex-storage token`
 * does, over HTTP. Registered only when `config.auth.devTokens` is on (DEV_TOKENS; see the config
 * for when `auto` turns it on), and even then it answers only requests that `isLocalRequest`
 * accepts: any other gets the very 404 of an absent route.
 */
export const devTokenRoutes: FastifyPluginAsync<DevTokenOptions> = async (app, { config }) => {
  app.addHook('onRequest', async (request, reply) => {
    if (isLocal(request)) return
    request.log.warn(
      { peer: request.raw.socket.remoteAddress, host: request.headers.host },
      'development sign-in refused: not a local request',
    )
    return reply.callNotFound()
  })
  app.post<{ Body: { userId: string; admin?: boolean } }>(
    '/token',
    {
      schema: {
        tags: ['development'],
        summary: 'Mint a development token (DEV_TOKENS only)',
        description:
          'Only present when DEV_TOKENS is on (by default: generated JWT secret and a loopback HOST). Never enable ' +
          'it ' +
          'in production: anyone who can reach it may act as any user or as an admin.',
        body: {
          type: 'object',
          properties: {
            userId: idString('The `sub` of the token.'),
            admin: { type: 'boolean', default: false, description: 'Add `role: "admin"`.' },
          },
          required: ['userId'],
          additionalProperties: false,
        },
        response: {
          201: {
            type: 'object',
            properties: {
              token: { type: 'string' },
              userId: { type: 'string' },
              admin: { type: 'boolean' },
              expiresAt: { type: 'string', format: 'date-time' },
            },
            required: ['token', 'userId', 'admin', 'expiresAt'],
          },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const { userId } = request.body
      const admin = request.body.admin === true
      const token = await signToken(config, { sub: userId, admin, ttlSeconds: DEV_TOKEN_TTL_SECONDS })
      request.log.warn({ userId, admin }, 'development token issued')
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({ token, userId, admin, expiresAt: new Date(Date.now() + DEV_TOKEN_TTL_SECONDS * 1000).toISOString() })
    },
  )
}
