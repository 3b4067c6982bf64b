import { PostgresAdapter, sql, type Kysely, type SelectQueryBuilder } from 'kysely'

/**
 * Everything that differs between PostgreSQL and SQLite lives in this file. Queries elsewhere are
 * written once; where a dialect needs a hint (row locks), they ask these helpers for it.
 */
export const DIALECTS = ['postgres', 'sqlite'] as const
export type DialectName = (typeof DIALECTS)[number]

// `Kysely<any>` so migrations (which must not depend on today's table types) can ask too.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>

export function dialectOf(db: AnyDb): DialectName {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite'
}

export function isPostgres(db: AnyDb): boolean {
  return dialectOf(db) === 'postgres'
}

/**
 * `SELECT … FOR UPDATE` on PostgreSQL (optionally `SKIP LOCKED`); unchanged on SQLite, where the
 * surrounding `BEGIN IMMEDIATE` transaction already holds the database's only write lock, so no
 * other writer can change the row before we do.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function lockRows<QB extends SelectQueryBuilder<any, any, any>>(
  db: AnyDb,
  query: QB,
  options: { skipLocked?: boolean } = {},
): QB {
  if (!isPostgres(db)) return query
  const locked = query.forUpdate()
  return (options.skipLocked ? locked.skipLocked() : locked) as QB
}

/**
 * Serialises transactions on an arbitrary key (say `item:<id>`) until the current transaction
 * ends: a transaction-scoped advisory lock on PostgreSQL, nothing on SQLite (see `lockRows`).
 * Use it when the thing to serialise on has no row to lock, e.g. "count an item's photos, then
 * insert one" when ownership comes from an external verifier. Must run inside `withTransaction`.
 */
export async function lockKey(trx: AnyDb, key: string): Promise<void> {
  if (!isPostgres(trx)) return
  // hashtextextended gives a 64-bit key; a collision only serialises two unrelated keys.
  await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(trx)
}
