import { Migrator, type MigrationResult } from 'kysely'
import { LocalexError, isLocalexError } from '../errors/index.js'
import type { Db } from './connection.js'
import { MIGRATIONS } from './migrations/index.js'

// Our own names, so an application that embeds the package and also uses Kysely's migrator on
// the same database keeps its history apart from ours.
const MIGRATION_TABLE = 'localex_migration'
const MIGRATION_LOCK_TABLE = 'localex_migration_lock'

export interface AppliedMigration {
  name: string
  status: MigrationResult['status']
}

export interface MigrationState {
  name: string
  /** ISO time it ran, or null when pending. */
  executedAt: string | null
}

function migrator(db: Db): Migrator {
  return new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve({ ...MIGRATIONS }) },
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
  })
}

/**
 * Runs every pending migration (each in its own transaction on both dialects; PostgreSQL also
 * takes an advisory lock so two starting processes do not race). Resolves with the migrations that
 * ran, in order (empty when up to date). Rejects with DATABASE_UNAVAILABLE when the database is
 * away, or INTERNAL naming the failed migration.
 */
export async function migrateToLatest(db: Db): Promise<AppliedMigration[]> {
  const { error, results = [] } = await migrator(db).migrateToLatest()
  if (error !== undefined) {
    if (isLocalexError(error)) throw error
    const failed = results.find((r) => r.status === 'Error')?.migrationName
    throw new LocalexError(
      'INTERNAL',
      `Migration ${failed ?? '(setup)'} failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    )
  }
  return results.map((r) => ({ name: r.migrationName, status: r.status }))
}

/** Every known migration with when it ran (null: pending), in order. */
export async function migrationStatus(db: Db): Promise<MigrationState[]> {
  const infos = await migrator(db).getMigrations()
  return infos.map((m) => ({ name: m.name, executedAt: m.executedAt ? m.executedAt.toISOString() : null }))
}
