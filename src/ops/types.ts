import type { Config } from '../config/index.js'
import type { Db } from '../db/index.js'
import type { ObjectStore } from '../storage/types.js'

/**
 * What the operations need of a running storage: the config, the object store and the database.
 * `createStorage()` (src/app.ts) returns a superset; the CLI commands open just these three.
 */
export interface OpsContext {
  readonly config: Config
  readonly store: ObjectStore
  readonly db: Db
}

/** One progress report: which phase, how far (and out of how many, when known). */
export interface Progress {
  phase: string
  done: number
  total?: number
  /** Shown after the counter, e.g. the key being looked at. */
  detail?: string
}

export interface OpsRunOptions {
  /** Aborting stops between two batches; the summary then says `interrupted: true`. */
  signal?: AbortSignal
  onProgress?: (progress: Progress) => void
  /** The clock (tests); defaults to `Date.now()`. */
  now?: number
}

/** A failure that did not stop the run (one key, one row), with the store or database code. */
export interface OpsError {
  phase: string
  target: string
  code: string
  message: string
}

export function errorOf(phase: string, target: string, error: unknown): OpsError {
  const e = error as { code?: string; message?: string }
  return { phase, target, code: e?.code ?? 'INTERNAL', message: (e?.message ?? String(error)).slice(0, 300) }
}

/** At most this many per-key/per-row details are kept in a summary (counts are always exact). */
export const DETAIL_LIMIT = 1000

/** Appends to a bounded list (keeps memory bounded however large the sweep). */
export function pushBounded<T>(list: T[], item: T, limit = DETAIL_LIMIT): void {
  if (list.length < limit) list.push(item)
}
