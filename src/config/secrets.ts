import { randomBytes } from 'node:crypto'
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LocalexError } from '../errors/index.js'

/**
 * The secrets of the embedded default. With no configuration at all, the service, the worker and
 * `localex-storage token` must still agree on the key that signs delivery URLs and on the one that
 * signs bearer tokens, so the CLI generates them once into `$DATA_DIR/secrets.json`
 * (`ensureGeneratedSecrets`, an explicit step) and `loadConfig` reads them from there. Loading the
 * config never writes.
 */
export const GENERATED_SECRETS = ['URL_SIGNING_SECRET', 'JWT_SECRET'] as const
export type GeneratedSecretName = (typeof GENERATED_SECRETS)[number]
export type GeneratedSecrets = Partial<Record<GeneratedSecretName, string>>

export function secretsFile(dataDir: string): string {
  return join(dataDir, 'secrets.json')
}

interface JwtKeys {
  readonly JWT_PUBLIC_KEY?: string | undefined
  readonly JWKS_URL?: string | undefined
}

/** Bearer tokens are verified with a shared HS secret unless a public key or a JWKS is configured. */
export function verifiesWithSharedSecret(values: JwtKeys): boolean {
  return !values.JWT_PUBLIC_KEY && !values.JWKS_URL
}

/** The secrets this environment (as `readEnvironment` gives it) needs and does not configure. */
export function secretsToGenerate(input: Record<string, string | undefined>): GeneratedSecretName[] {
  const names: GeneratedSecretName[] = []
  if (input.URL_SIGNING_SECRET === undefined) names.push('URL_SIGNING_SECRET')
  if (input.JWT_SECRET === undefined && verifiesWithSharedSecret(input)) names.push('JWT_SECRET')
  return names
}

/** The CONFIG_INVALID line of a secret that is neither configured nor generated. */
export function missingSecret(name: GeneratedSecretName, dataDir: string): string {
  return (
    `${name}: required (at least 32 characters): set it, or generate it into ${secretsFile(dataDir)} ` +
    'by running `localex-storage serve` once (in code: ensureGeneratedSecrets(env) before loadConfig(env))'
  )
}

/** What `$DATA_DIR/secrets.json` holds; nothing when it does not exist. */
export function readGeneratedSecrets(dataDir: string): GeneratedSecrets {
  const stored = readSecretsFile(secretsFile(dataDir)) ?? {}
  const secrets: GeneratedSecrets = {}
  for (const name of GENERATED_SECRETS) {
    const value = stored[name]
    if (typeof value === 'string' && value) secrets[name] = value
  }
  return secrets
}

/**
 * Adds fresh random values for `names` to `$DATA_DIR/secrets.json` where it lacks them (mode 0600)
 * and returns the names it generated. The first write links a complete temp file into place, so
 * processes starting together on an empty DATA_DIR never read a half-written file and all keep
 * the one that won. Adding a name to an existing file (the configuration changed since it was
 * written) replaces it by rename, which is atomic but not guarded against a second process doing
 * the same at the same instant.
 */
export function writeGeneratedSecrets(dataDir: string, names: readonly GeneratedSecretName[]): GeneratedSecretName[] {
  const file = secretsFile(dataDir)
  for (;;) {
    const stored = readSecretsFile(file)
    const missing = names.filter((name) => typeof stored?.[name] !== 'string' || !stored[name])
    if (missing.length === 0) return []
    // Unknown keys are kept: a rewrite by this version must not drop what another one stored.
    const next: Record<string, unknown> = { ...stored }
    for (const name of missing) next[name] = randomBytes(32).toString('base64url')
    mkdirSync(dataDir, { recursive: true })
    const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
    writeFileSync(temp, JSON.stringify(next, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
    try {
      if (stored) renameSync(temp, file)
      else {
        try {
          linkSync(temp, file)
        } catch (error) {
          // Another process created it first: read theirs, and add what it lacks, if anything.
          if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue
          throw error
        }
      }
      return missing
    } finally {
      rmSync(temp, { force: true })
    }
  }
}

/** The file's JSON object; undefined when the file does not exist. */
function readSecretsFile(file: string): Record<string, unknown> | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new LocalexError('CONFIG_INVALID', `Cannot read generated secrets at ${file}`, { cause: error })
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new LocalexError('CONFIG_INVALID', `Cannot read generated secrets at ${file}: not JSON`, { cause: error })
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new LocalexError('CONFIG_INVALID', `Cannot read generated secrets at ${file}: expected a JSON object`)
  }
  return parsed as Record<string, unknown>
}
