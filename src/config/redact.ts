import type { Config } from './index.js'

/** The config as it is safe to print: every secret replaced by `[redacted]`. */
export function redactConfig(config: Config): unknown {
  const secretValues = new Set<string>()
  const s3 = config.storage.s3.credentials
  const values = [
    config.storage.signingSecret,
    config.auth.secret,
    config.cdn.cloudfront.privateKey,
    config.http.metricsToken,
    s3?.secretAccessKey,
    s3?.sessionToken,
    s3?.accessKeyId,
  ]
  for (const value of values) {
    if (value) secretValues.add(value)
  }
  const printable = JSON.stringify(config, (_key, value: unknown) => {
    if (typeof value !== 'string') return value
    if (secretValues.has(value)) return '[redacted]'
    if (/^(postgres(ql)?|rediss?):\/\//i.test(value)) return redactConnectionUrl(value)
    return value
  })
  return JSON.parse(printable) as unknown
}

/** Query parameters of connection URLs that carry credentials (libpq's and ioredis's spellings). */
const SECRET_PARAMS = /^(password|pass|pwd|secret|token|sslpassword|sslkey)$/i

/**
 * A connection URL without its credentials: the password of the userinfo (also when there is no
 * user, as in `redis://:secret@host`) and credential query parameters. Parsed as a URL, not matched
 * by pattern, so that no spelling slips through; an unparseable value is hidden whole.
 */
function redactConnectionUrl(value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return '[redacted]'
  }
  if (url.password) url.password = 'redacted'
  for (const key of [...url.searchParams.keys()]) if (SECRET_PARAMS.test(key)) url.searchParams.set(key, 'redacted')
  return url
    .toString()
    .replace(/:redacted@/, ':[redacted]@')
    .replace(/=redacted(?=&|$)/g, '=[redacted]')
}
