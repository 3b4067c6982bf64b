/**
 * The metadata layer: Kysely over PostgreSQL or SQLite, versioned migrations, and one repository
 * per table. Repositories are plain functions taking the Kysely instance or a transaction from
 * `withTransaction`, so callers compose them atomically. They take and return the domain's
 * records (camelCase, JSON parsed); the snake_case rows of `schema.ts` stay inside this folder.
 *
 * ```ts
 * const previous = await withTransaction(db, async (trx) => {
 *   await files.transition(trx, id, { from: 'uploading', to: 'processing' })
 *   await outboxRows.insert(trx, { kind: 'variants', payload: { fileId: id }, fileId: id })
 *   return profilePhotos.setCurrent(trx, userId, id)
 * })
 * ```
 */
export { createDatabase, pingDatabase, type Db, type DatabaseOptions } from './connection.js'
export { DIALECTS, dialectOf, isPostgres, lockKey, lockRows, type DialectName } from './dialect.js'
export { isUnavailableError, isUniqueViolation, toDatabaseError } from './errors.js'
export { migrateToLatest, migrationStatus, type AppliedMigration, type MigrationState } from './migrate.js'
export { withTransaction } from './transaction.js'
export { now, toTimestamp } from './time.js'
export { decodeJson, encodeJson } from './json.js'
export {
  files,
  fileRecordOf,
  ACTIVE_STATUSES,
  type FileRecord,
  type NewFile,
  type FilePatch,
  type FileFilter,
  type FileStats,
} from './repositories/files.js'
export { itemOwners, type ItemOwnerRecord } from './repositories/item-owners.js'
export { profilePhotos } from './repositories/profile-photos.js'
export {
  auditLog,
  type AuditEntry,
  type AuditRecord,
  type AuditPage,
  type AuditPaging,
} from './repositories/audit-log.js'
export { uploads, uploadRecordOf, type NewUpload, type UploadRecord } from './repositories/uploads.js'
export { outboxRows, type OutboxRecord, type NewOutboxRow } from './repositories/outbox.js'
export { maintenance, type FileFolder } from './repositories/maintenance.js'
export { usage, STORED_STATUSES, type ObjectGroup, type UserUsage } from './repositories/usage.js'
export { keysetPages, type KeysetOptions } from './keyset.js'
export * from './schema.js'
