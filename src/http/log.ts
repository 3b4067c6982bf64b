import type { FastifyServerOptions } from 'fastify'
import type { Config } from '../config/index.js'

/** Query parameters that are credentials: signatures of our URLs and of S3 presigned ones, tokens. */
const SECRET_PARAMS =
  /^(sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|token|access_token|policy)$/i

/** The URL as it may be logged: every credential in the query replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?')
  if (q < 0) return url
  const parts = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      const name = eq < 0 ? pair : pair.slice(0, eq)
      let decoded = name
      try {
        decoded = decodeURIComponent(name)
      } catch {
        // A malformed escape in a name: compare it as it is.
        decoded = name
      }
      return SECRET_PARAMS.test(decoded) ? `${name}=[redacted]` : pair
    })
  return `${url.slice(0, q)}?${parts.join('&')}`
}

export interface LoggerOptions {
  level?: Config['logLevel']
  /** Where log lines go (default stdout). */
  stream?: { write(line: string): void }
}

/**
 * Pino options of the service: the request line without URL credentials, and the Authorization
 * and Cookie headers redacted wherever a serializer or a caller puts them.
 */
export function loggerOptions(
  config: Config,
  options: LoggerOptions = {},
): NonNullable<FastifyServerOptions['logger']> {
  return {
    level: options.level ?? config.logLevel,
    stream: options.stream,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'headers.authorization',
        'headers.cookie',
        'res.headers["set-cookie"]',
      ],
      censor: '[redacted]',
    },
    serializers: {
      // Fastify passes its request object here (not Node's).
      req(request: { method?: string; url?: string; ip?: string; host?: string }) {
        return {
          method: request.method,
          url: redactUrl(request.url ?? ''),
          host: request.host,
          remoteAddress: request.ip,
        }
      },
    },
  }
}
