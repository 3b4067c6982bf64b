import { z } from 'zod'
import type { GeneratedSecrets } from './secrets.js'

/**
 * How the configuration is declared. Every environment variable is declared once, in the section
 * it belongs to (src/config/sections/): its zod schema (which holds the default), the default and
 * the meaning as docs/configuration.md states them, and whether it is a secret. A section's schema
 * turns its variables into its part of the `Config`, so the parsing, the `Config` type and the
 * documentation all follow from that one declaration.
 */

export type Env = Record<string, string | undefined>

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
}

/** Accepts `10485760`, `10MB`, `10 MiB`, `512kb`. */
export const byteSize = z
  .union([z.number(), z.string()])
  .transform((value, ctx) => {
    if (typeof value === 'number') return value
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value)
    const unit = SIZE_UNITS[(m?.[2] || 'b').toLowerCase()]
    if (!m || unit === undefined) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected a byte size such as 10485760, 10MB or 5MiB' })
      return z.NEVER
    }
    return Math.round(Number(m[1]) * unit)
  })
  .pipe(z.number().int().positive())

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }

/** Accepts `1500` (milliseconds), `30s`, `5m`, `1h`, `7d`; yields milliseconds. */
export const duration = z
  .union([z.number(), z.string()])
  .transform((value, ctx) => {
    if (typeof value === 'number') return value
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(value)
    if (!m) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected a duration such as 1500, 30s, 5m, 1h or 7d' })
      return z.NEVER
    }
    return Math.round(Number(m[1]) * (DURATION_UNITS[(m[2] ?? 'ms').toLowerCase()] ?? 1))
  })
  .pipe(z.number().int().nonnegative())

export const bool = z.union([z.boolean(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'boolean') return value
  const v = value.trim().toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(v)) return true
  if (['0', 'false', 'no', 'off'].includes(v)) return false
  ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected true or false' })
  return z.NEVER
})

export const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max)
/** Comma-separated; blanks around items and empty items are dropped. */
export const list = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
)
export const url = z.string().url()

/** One environment variable, as a section declares it. */
export interface SettingSpec<S extends z.ZodTypeAny = z.ZodTypeAny> {
  /** Parses the trimmed value (`undefined` when unset or empty) and holds the default. */
  readonly schema: S
  /** What the documentation says the default is (computed defaults are described in words). */
  readonly default: string
  readonly doc: string
  /** Its value never appears in CONFIG_INVALID messages, and `redactConfig` hides it. */
  readonly secret?: boolean
}

/** A declared variable with the section (`group`) it is documented under. */
export interface Setting<S extends z.ZodTypeAny = z.ZodTypeAny> extends SettingSpec<S> {
  readonly secret: boolean
  readonly group: string
}

type Schemas<V extends Record<string, SettingSpec>> = { [K in Extract<keyof V, string>]: V[K]['schema'] }

/** What a section's `build` receives: its variables (and those it `uses`) parsed, with defaults applied. */
export type SectionValues<V extends Record<string, SettingSpec>> = z.output<z.ZodObject<Schemas<V>>> & {
  /** Values `ensureGeneratedSecrets` stored in `$DATA_DIR/secrets.json` (read by `loadConfig`). */
  readonly generatedSecrets: GeneratedSecrets
}

export interface SectionSpec<V extends Record<string, SettingSpec>, U extends Record<string, Setting>, Out> {
  /** Heading of the section in docs/configuration.md. */
  readonly title: string
  /** First line under the heading: what the section configures. */
  readonly summary: string
  readonly variables: V
  /** Variables declared by another section that this one also reads (listed there, not here). */
  readonly uses?: U
  /**
   * Builds this section's part of the `Config`. Rules that tie several variables together call
   * `problem` with a message that names the variable; the result is then discarded.
   */
  build(values: SectionValues<V & U>, problem: (message: string) => void): Out
}

export interface Section<V extends Record<string, SettingSpec> = Record<string, SettingSpec>, Out = unknown> {
  readonly title: string
  readonly summary: string
  readonly variables: { readonly [K in keyof V]: Setting<V[K]['schema']> }
  /** Input: the environment as `readEnvironment` gives it, plus `generatedSecrets`. */
  readonly schema: z.ZodType<Out, z.ZodTypeDef, unknown>
}

const generatedSecretsSchema = z.record(z.string()).default({})

export function defineSection<
  V extends Record<string, SettingSpec>,
  Out,
  U extends Record<string, Setting> = Record<never, Setting>,
>(spec: SectionSpec<V, U, Out>): Section<V, Out> {
  const variables = Object.fromEntries(
    Object.entries(spec.variables).map(([name, s]) => [name, { ...s, secret: s.secret ?? false, group: spec.title }]),
  ) as Section<V, Out>['variables']
  const shape: z.ZodRawShape = { generatedSecrets: generatedSecretsSchema }
  for (const [name, s] of Object.entries({ ...spec.uses, ...spec.variables })) shape[name] = s.schema
  const schema = z.object(shape).transform((values, ctx) => {
    const problem = (message: string) => ctx.addIssue({ code: z.ZodIssueCode.custom, message })
    return spec.build(values as SectionValues<V & U>, problem)
  })
  return { title: spec.title, summary: spec.summary, variables, schema }
}

/**
 * The environment as the section schemas read it: only the declared names, trimmed, an empty
 * value meaning unset (as `FOO=` does in a shell or an env file).
 */
export function readEnvironment(env: Env, names: Iterable<string>): Record<string, string | undefined> {
  const input: Record<string, string | undefined> = {}
  for (const name of names) {
    const raw = env[name]
    input[name] = raw === undefined || raw.trim() === '' ? undefined : raw.trim()
  }
  return input
}

/** A value short enough to quote in an error message. */
export function truncate(value: string): string {
  return value.length > 60 ? `${value.slice(0, 57)}...` : value
}
