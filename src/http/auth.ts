import { createPublicKey, randomUUID, type KeyObject } from 'node:crypto'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import {
  SignJWT,
  createRemoteJWKSet,
  errors as joseErrors,
  jwtVerify,
  type CryptoKey,
  type JWTHeaderParameters,
  type JWTPayload,
} from 'jose'
import type { Config } from '../config/index.js'
import { LocalexError } from '../errors/index.js'
import type { Actor } from '../files/index.js'

/**
 * Bearer JWTs, verified with jose against exactly one of: an HS secret, an RS/ES/EdDSA public key
 * (PEM), or the identity provider's JWKS. Algorithms, issuer and audience are pinned, `exp` and a
 * string `sub` are required, `role: "admin"` marks admins.
 *
 * A request without an Authorization header is anonymous (`actor = null`) and each route decides
 * whether that is enough. A request WITH one that does not verify — any reason at all — is a 401
 * with `WWW-Authenticate: Bearer error="invalid_token"`: a bad token never degrades to anonymous.
 */

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller, or null when the request carried no token. */
    actor: Actor
  }
}

export type AuthConfig = Config['auth']
type AuthedActor = NonNullable<Actor>

/** Slack for clocks that disagree by a few seconds (exp and nbf). */
const CLOCK_TOLERANCE_S = 5
/** Anything longer is not a token we issued or accept (and not worth parsing). */
const MAX_TOKEN_LENGTH = 8192
const BEARER = /^Bearer +([A-Za-z0-9\-_.~+/]+=*) *$/i

export interface TokenVerifier {
  /** Resolves the actor, or rejects with UNAUTHENTICATED whose message says what was wrong. */
  verify(token: string): Promise<AuthedActor>
}

type KeySource = (
  header: JWTHeaderParameters,
) => Promise<Uint8Array | KeyObject | CryptoKey> | Uint8Array | KeyObject | CryptoKey

export function createTokenVerifier(auth: AuthConfig): TokenVerifier {
  const algorithms = [...auth.algorithms]
  const secret = auth.secret ? new TextEncoder().encode(auth.secret) : undefined
  let publicKey: KeyObject | undefined
  if (auth.publicKey) {
    try {
      publicKey = createPublicKey(auth.publicKey.replace(/\\n/g, '\n'))
    } catch (cause) {
      throw new LocalexError('CONFIG_INVALID', 'JWT_PUBLIC_KEY: not a PEM public key', { cause })
    }
  }
  const jwks = auth.jwksUrl
    ? createRemoteJWKSet(new URL(auth.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 })
    : undefined
  if (!secret && !publicKey && !jwks)
    throw new LocalexError('CONFIG_INVALID', 'Auth: set JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL')

  // The key follows the (pinned) algorithm family, so an HS256 token can never be checked against
  // the public key used as an HMAC secret: that is the classic key-confusion attack.
  const key: KeySource = (header) => {
    const alg = header.alg ?? ''
    if (alg.startsWith('HS')) {
      if (!secret) throw new joseErrors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed')
      return secret
    }
    if (jwks) return jwks(header)
    if (publicKey) return publicKey
    throw new joseErrors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed')
  }

  return {
    async verify(token) {
      let payload: JWTPayload
      try {
        ;({ payload } = await jwtVerify(token, key, {
          algorithms,
          issuer: auth.issuer,
          audience: auth.audience,
          requiredClaims: ['exp', 'sub'],
          clockTolerance: CLOCK_TOLERANCE_S,
        }))
      } catch (error) {
        throw invalidToken(describeJoseError(error), error)
      }
      const sub = payload.sub
      if (typeof sub !== 'string' || sub.length === 0 || sub.length > 255)
        throw invalidToken('claim "sub" must be a non-empty string')
      return { id: sub, role: payload.role === 'admin' ? 'admin' : 'user' }
    },
  }
}

function describeJoseError(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'token has expired'
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'token is not valid yet'
    if (error.claim === 'iss') return 'issuer not accepted'
    if (error.claim === 'aud') return 'audience not accepted'
    return `claim "${error.claim}" is missing or invalid`
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed || error instanceof joseErrors.JOSENotSupported)
    return 'signing algorithm not accepted'
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature does not verify'
  if (error instanceof joseErrors.JWKSNoMatchingKey) return 'no key matches the token'
  if (error instanceof joseErrors.JWKSTimeout) return 'signing keys could not be fetched'
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) return 'token is malformed'
  return 'token could not be verified'
}

const kInvalidToken = Symbol('invalidToken')

function invalidToken(reason: string, cause?: unknown): LocalexError {
  const error = new LocalexError('UNAUTHENTICATED', `Bearer token rejected: ${reason}`, { cause })
  Object.defineProperty(error, kInvalidToken, { value: reason })
  return error
}

/** The WWW-Authenticate value of a 401 (RFC 6750 §3). */
export function bearerChallenge(error?: LocalexError): string {
  const reason = error ? (error as unknown as Record<symbol, unknown>)[kInvalidToken] : undefined
  if (typeof reason !== 'string') return 'Bearer realm="localex-storage"'
  return `Bearer realm="localex-storage", error="invalid_token", error_description="${reason.replace(/["\\]/g, '')}"`
}

/** Reads the token of a request: undefined when there is no Authorization header at all. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  if (header === undefined) return undefined
  const match = header.length <= MAX_TOKEN_LENGTH + 16 ? BEARER.exec(header) : null
  if (!match?.[1]) throw invalidToken('expected "Authorization: Bearer <token>"')
  return match[1]
}

/**
 * Authenticates every request of the scope it is registered in (onRequest, before the body is
 * read). Sets `request.actor`.
 */
export interface AuthPluginOptions {
  auth: AuthConfig
  verifier?: TokenVerifier
}

const auth: FastifyPluginAsync<AuthPluginOptions> = async (
  app,
  { auth: config, verifier = createTokenVerifier(config) },
) => {
  if (!app.hasRequestDecorator('actor')) app.decorateRequest('actor', null)
  // Rejections carry their reason; the problem handler turns it into the WWW-Authenticate challenge.
  app.addHook('onRequest', async (request: FastifyRequest) => {
    request.actor = null
    const token = bearerToken(request)
    if (token !== undefined) request.actor = await verifier.verify(token)
  })
}

/**
 * Authenticates every request of the scope it is registered in (onRequest, before the body is
 * read). Sets `request.actor`.
 */
export const authPlugin = fp(auth, { name: 'localex-auth', fastify: '5.x' })

/** For routes that need a signed-in caller; use as a preHandler so nothing is read before it. */
export async function requireActor(request: FastifyRequest): Promise<void> {
  if (request.actor === null) throw new LocalexError('UNAUTHENTICATED', 'Sign in to do this')
}

export interface SignTokenOptions {
  sub: string
  admin?: boolean
  ttlSeconds: number
}

/**
 * Issues an HS token the service accepts (development tokens, tests). Needs an HS secret in the
 * config: the embedded default generates one into `$DATA_DIR/secrets.json`.
 */
export async function signToken(config: Pick<Config, 'auth'>, options: SignTokenOptions): Promise<string> {
  const { auth } = config
  const alg = auth.algorithms.find((a) => a.startsWith('HS'))
  if (!auth.secret || !alg) {
    throw new LocalexError(
      'CONFIG_INVALID',
      'Token signing needs JWT_SECRET and an HS algorithm in JWT_ALGORITHMS (the service verifies with a public key ' +
        'or JWKS)',
    )
  }
  if (!(options.ttlSeconds > 0)) throw new LocalexError('VALIDATION_FAILED', 'ttlSeconds must be positive')
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ ...(options.admin ? { role: 'admin' } : {}) })
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setSubject(options.sub)
    .setIssuer(auth.issuer)
    .setAudience(auth.audience)
    .setIssuedAt(now)
    .setExpirationTime(now + Math.floor(options.ttlSeconds))
    .setJti(randomUUID())
    .sign(new TextEncoder().encode(auth.secret))
}
