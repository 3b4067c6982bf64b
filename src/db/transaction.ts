import type { Db } from './connection.js'

/**
 * Runs `fn` in one transaction and commits when it resolves (rolls back when it throws). Called
 * with a transaction already (`db.isTransaction`), it joins it instead of nesting, so repository
 * helpers and the FileManager compose freely. Use only `trx` inside `fn`: on SQLite the one
 * connection is held by the transaction and a query on `db` would wait for it forever.
 *
 * Isolation assumptions, and why they are enough:
 * - PostgreSQL runs READ COMMITTED. Each guarded write (`UPDATE … WHERE status = 'processing'`)
 *   re-checks its condition on the latest row version after waiting for a concurrent writer, so
 *   of two racing transitions exactly one changes the row. Read-then-write sequences that must
 *   not interleave (count an item's photos then insert; read the current profile photo then
 *   replace it) take a row lock first (`lockRows`, `lockKey`, `SELECT … FOR UPDATE`), which makes
 *   later transactions wait and then read the committed result. SERIALIZABLE would also work
 *   but fails with retry-me errors under exactly the contention we expect (20 replacements).
 * - SQLite transactions are `BEGIN IMMEDIATE` (see `connection.ts`): one writer at a time for the
 *   whole file, so every transaction here is serialisable by construction and row locks are
 *   unnecessary.
 *
 * Keep transactions short: no object-store or queue I/O inside them (on SQLite a transaction
 * blocks every other writer, in every process, until it ends).
 */
export async function withTransaction<T>(db: Db, fn: (trx: Db) => Promise<T>): Promise<T> {
  if (db.isTransaction) return fn(db)
  return db.transaction().execute((trx) => fn(trx))
}
