import type { Config } from '../config/index.js'
import { duration } from '../config/env.js'
import { createDatabase } from '../db/index.js'
import { LocalexError } from '../errors/index.js'
import type { OpsContext } from '../ops/types.js'
import { createObjectStore } from '../storage/index.js'
import { loadCommandConfig } from './config.js'

/**
 * What the operations commands open: the config, the store and the database (no queue, no
 * workers, no migrations: `migrate` does those). Close it in a `finally`.
 */
export async function openOps(
  env: Record<string, string | undefined>,
): Promise<OpsContext & { close(): Promise<void> }> {
  const config: Config = loadCommandConfig(env)
  const store = createObjectStore(config)
  try {
    const db = await createDatabase(config)
    return {
      config,
      store,
      db,
      async close() {
        await db.destroy()
        await store.close()
      },
    }
  } catch (error) {
    await store.close()
    throw error
  }
}

/** `--older-than 2h` → ms; VALIDATION_FAILED naming the flag otherwise. */
export function parseDurationFlag(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined
  const parsed = duration.safeParse(String(value))
  if (!parsed.success)
    throw new LocalexError(
      'VALIDATION_FAILED',
      `--${name}: expected a duration such as 30m, 2h or 7d (got "${String(value)}")`,
    )
  return parsed.data
}

/** `--by-user 10` → 10; VALIDATION_FAILED naming the flag otherwise. */
export function parseCountFlag(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 10_000)
    throw new LocalexError(
      'VALIDATION_FAILED',
      `--${name}: expected a whole number from 0 to 10000 (got "${String(value)}")`,
    )
  return n
}

/** Exit code of an interrupted run (as a shell reports SIGINT). */
export const EXIT_INTERRUPTED = 130

export function writeJson(stdout: NodeJS.WritableStream, value: unknown): void {
  stdout.write(JSON.stringify(value, null, 2) + '\n')
}
