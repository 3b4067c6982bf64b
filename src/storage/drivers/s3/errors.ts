import { LocalexError, isLocalexError, type ErrorCode } from '../../../errors/index.js'
import { attemptsOf, isTransientError } from '../../retry.js'

/**
 * Maps what the AWS SDK throws to the catalogue. The SDK error stays as `cause`; the message and
 * details carry the operation, the key and the S3 error code, never request headers, signatures
 * or credentials.
 */

export interface S3ErrorContext {
  op: string
  key?: string | undefined
  signal?: AbortSignal | undefined
}

interface SdkErrorShape {
  name?: string
  Code?: string
  code?: string
  $metadata?: { httpStatusCode?: number }
}

const NOT_FOUND = new Set(['NoSuchKey', 'NotFound', 'NoSuchUpload'])
const PRECONDITION = new Set(['PreconditionFailed', 'ConditionalRequestConflict'])
const ACCESS = new Set([
  'AccessDenied',
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
  'InvalidToken',
  'ExpiredToken',
  'AllAccessDisabled',
  'AccountProblem',
  'CredentialsProviderError',
])

export function s3ErrorCode(error: unknown): { code: ErrorCode; s3Code?: string; status?: number } {
  const e = (error ?? {}) as SdkErrorShape
  const s3Code = e.Code ?? e.name
  const status = e.$metadata?.httpStatusCode
  const out = (code: ErrorCode) => ({ code, s3Code, status })
  if (s3Code === 'AbortError') return out('ABORTED')
  if (s3Code === 'NoSuchBucket') return out('STORE_ERROR')
  if ((s3Code && NOT_FOUND.has(s3Code)) || status === 404) return out('OBJECT_NOT_FOUND')
  if ((s3Code && PRECONDITION.has(s3Code)) || status === 412) return out('PRECONDITION_FAILED')
  if ((s3Code && ACCESS.has(s3Code)) || status === 403 || status === 401) return out('STORE_ACCESS_DENIED')
  if (s3Code === 'InvalidRange' || status === 416) return out('RANGE_NOT_SATISFIABLE')
  if (isTransientError(error)) return out('STORE_UNAVAILABLE')
  return out('STORE_ERROR')
}

export function mapS3Error(error: unknown, ctx: S3ErrorContext): LocalexError {
  if (ctx.signal?.aborted) {
    return isLocalexError(error, 'ABORTED')
      ? error
      : new LocalexError('ABORTED', `S3 ${ctx.op} aborted`, { cause: error, details: details(ctx) })
  }
  if (isLocalexError(error)) return error
  const mapped = s3ErrorCode(error)
  const { s3Code, status } = mapped
  // A 404 without a key (HeadBucket, ListObjects) is the bucket missing: configuration, not data.
  const bucketMissing = s3Code === 'NoSuchBucket' || (mapped.code === 'OBJECT_NOT_FOUND' && ctx.key === undefined)
  const code: ErrorCode = bucketMissing ? 'STORE_ERROR' : mapped.code
  const attempts = attemptsOf(error)
  const what = ctx.key === undefined ? `S3 ${ctx.op}` : `S3 ${ctx.op} of "${ctx.key}"`
  const reason = s3Code ?? (error as { code?: string } | undefined)?.code ?? 'error'
  const message =
    {
      OBJECT_NOT_FOUND: ctx.key === undefined ? `${what}: not found` : `Object "${ctx.key}" does not exist`,
      PRECONDITION_FAILED:
        ctx.key === undefined ? `${what}: precondition failed` : `Object "${ctx.key}" already exists`,
      STORE_ACCESS_DENIED: `${what} was refused (${reason}): check the credentials and the bucket policy`,
      RANGE_NOT_SATISFIABLE: `${what}: range not satisfiable`,
      STORE_UNAVAILABLE: `${what} failed after ${attempts} attempt${attempts === 1 ? '' : 's'} (${reason})`,
      ABORTED: `${what} aborted`,
      STORE_ERROR: bucketMissing ? `${what}: the bucket does not exist` : `${what} failed (${reason})`,
    }[code as string] ?? `${what} failed (${reason})`
  return new LocalexError(code, message, {
    cause: error,
    details: {
      ...details(ctx),
      storeCode: s3Code,
      storeStatus: status,
      ...(code === 'STORE_UNAVAILABLE' ? { attempts } : {}),
    },
  })
}

function details(ctx: S3ErrorContext): Record<string, unknown> {
  return { operation: ctx.op, ...(ctx.key === undefined ? {} : { key: ctx.key }) }
}
