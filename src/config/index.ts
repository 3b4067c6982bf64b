import { resolve } from 'node:path'
import { LocalexError } from '../errors/index.js'
import { readEnvironment, truncate, type Env, type Section } from './env.js'
import {
  readGeneratedSecrets,
  secretsFile,
  secretsToGenerate,
  writeGeneratedSecrets,
  type GeneratedSecretName,
  type GeneratedSecrets,
} from './secrets.js'
import { SECRET_SETTINGS, SECTIONS, SETTINGS, type BuiltConfig } from './sections/index.js'
import { general } from './sections/general.js'
import { images } from './sections/images.js'

export type { Env, Setting } from './env.js'
export { GENERATED_SECRETS, type GeneratedSecretName } from './secrets.js'
export { SECRET_SETTINGS, SECTIONS, SETTINGS, type SettingName } from './sections/index.js'
export { redactConfig } from './redact.js'

type OptionalKeys<T> = { [K in keyof T]-?: undefined extends T[K] ? K : never }[keyof T]
type RequiredKeys<T> = Exclude<keyof T, OptionalKeys<T>>

/**
 * What the section schemas build, as `loadConfig` returns it: read-only all the way down, and a
 * value that is unset (undefined) an absent key, so optional in the type.
 */
export type Frozen<T> = T extends readonly (infer E)[]
  ? readonly Frozen<E>[]
  : T extends object
    ? Flat<
        { readonly [K in RequiredKeys<T>]: Frozen<T[K]> } & {
          readonly [K in OptionalKeys<T>]?: Frozen<Exclude<T[K], undefined>>
        }
      >
    : T
/** One object type instead of an intersection, for readable hovers and errors. */
type Flat<T> = { [K in keyof T]: T[K] }

/** The whole configuration, inferred from the section schemas in src/config/sections/. */
export type Config = Frozen<BuiltConfig>
export type StorageConfig = Config['storage']
export type S3Config = StorageConfig['s3']
export type RetryConfig = StorageConfig['retry']
export type ChecksumMode = S3Config['requestChecksumCalculation']
export type ImagesConfig = Config['images']
export type ImageType = ImagesConfig['allowedTypes'][number]
export type VariantSpec = ImagesConfig['variants'][number]

export interface LoadConfigOptions {
  /**
   * Where secrets that are not configured come from. `'generated'` (the default): from
   * `$DATA_DIR/secrets.json`, as `ensureGeneratedSecrets` wrote it. `'require'`: nowhere; each
   * one must be configured.
   */
  secrets?: 'generated' | 'require'
}

/**
 * Validates the environment once and returns a deeply frozen config. Fails with CONFIG_INVALID,
 * naming every offending variable and what was expected; values of secrets never appear. It may
 * read `$DATA_DIR/secrets.json` but never writes anything: the embedded default's secrets are
 * generated beforehand by `ensureGeneratedSecrets(env)` (the CLI does it for every command).
 */
export function loadConfig(env: Env = process.env, options: LoadConfigOptions = {}): Readonly<Config> {
  const input = readEnvironment(env, Object.keys(SETTINGS))
  const fromFile = options.secrets !== 'require' && secretsToGenerate(input).length > 0
  const generated = fromFile ? readGeneratedSecrets(dataDirOf(input)) : {}
  return parseSections(SECTIONS, input, generated) as Config
}

/**
 * Only the `images` section, for the image pipeline used without the rest of the service: only
 * the images variables are read and validated, and secrets play no part.
 */
export function loadImagesConfig(env: Env = {}): Readonly<ImagesConfig> {
  const input = readEnvironment(env, Object.keys(images.variables))
  return (parseSections([images], input, {}) as Pick<Config, 'images'>).images
}

export interface EnsuredSecrets {
  /** `$DATA_DIR/secrets.json`. */
  readonly file: string
  /** The secrets this call generated (none when they were configured or generated before). */
  readonly generated: readonly GeneratedSecretName[]
}

/**
 * The embedded default's one side effect, made explicit: when `URL_SIGNING_SECRET` (or, with
 * tokens verified by a shared secret, `JWT_SECRET`) is not configured, generates it once into
 * `$DATA_DIR/secrets.json` (mode 0600), so that every process on that DATA_DIR (`serve`, `worker`,
 * `token`, the library) reads the same value through `loadConfig`. Writes nothing when the secrets
 * are configured or already generated, and nothing when the configuration is invalid (it fails
 * with the CONFIG_INVALID that `loadConfig` would give).
 */
export function ensureGeneratedSecrets(env: Env = process.env): EnsuredSecrets {
  const input = readEnvironment(env, Object.keys(SETTINGS))
  const dataDir = dataDirOf(input)
  const names = secretsToGenerate(input)
  if (names.length > 0) {
    // Stand-ins for the secrets to generate, so that only the rest of the configuration is judged.
    parseSections(SECTIONS, input, Object.fromEntries(names.map((name) => [name, 'to-be-generated'])))
  }
  return { file: secretsFile(dataDir), generated: names.length ? writeGeneratedSecrets(dataDir, names) : [] }
}

export function describeSecretSettings(): readonly string[] {
  return SECRET_SETTINGS
}

function dataDirOf(input: Record<string, string | undefined>): string {
  return resolve(general.variables.DATA_DIR.schema.parse(input.DATA_DIR))
}

/**
 * Runs each section's schema over the environment and merges their parts, or throws one
 * CONFIG_INVALID listing every problem: first one line per variable with every message about its
 * own value (quoted unless it is a secret), in the order of the documentation; then the rules that
 * tie variables together, whose messages name them. A variable that several sections read is
 * reported once.
 */
function parseSections(
  sections: readonly Section[],
  input: Record<string, string | undefined>,
  generatedSecrets: GeneratedSecrets,
): object {
  const byVariable = new Map<string, string[]>()
  const rules: string[] = []
  const parts: object[] = []
  for (const section of sections) {
    const parsed = section.schema.safeParse({ ...input, generatedSecrets })
    if (parsed.success) {
      parts.push(parsed.data as object)
      continue
    }
    for (const { path, message } of parsed.error.issues) {
      const name = path[0]
      const messages = typeof name === 'string' ? (byVariable.get(name) ?? []) : rules
      if (!messages.includes(message)) messages.push(message)
      if (typeof name === 'string') byVariable.set(name, messages)
    }
  }
  if (byVariable.size || rules.length) {
    const order = Object.keys(SETTINGS)
    const lines = [...byVariable]
      .sort(([a], [b]) => order.indexOf(a) - order.indexOf(b))
      .map(([name, messages]) => {
        const value = input[name]
        const shown = value !== undefined && SETTINGS[name as keyof typeof SETTINGS]?.secret === false
        const quoted = shown ? ` (got "${truncate(value)}")` : ''
        return `${name}: ${messages.join('; ')}${quoted}`
      })
    const issues = [...lines, ...rules]
    const message = `Invalid configuration:\n  - ${issues.join('\n  - ')}`
    throw new LocalexError('CONFIG_INVALID', message, { details: { issues } })
  }
  return freeze(Object.assign({}, ...parts) as object)
}

/** Freezes the config all the way down and drops keys whose value is undefined (see `Frozen`). */
function freeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const [key, child] of Object.entries(value)) {
      if (child === undefined && !Array.isArray(value)) delete (value as Record<string, unknown>)[key]
      else freeze(child)
    }
    Object.freeze(value)
  }
  return value
}
