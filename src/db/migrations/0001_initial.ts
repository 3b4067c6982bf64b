import { sql, type Kysely } from 'kysely'
import { isPostgres } from '../dialect.js'

/**
 * The initial schema (see `../schema.ts` for what each column means). Written against
 * `Kysely<any>` and frozen: later changes get their own migration. Portable DDL only; the one
 * dialect difference is how the audit log's integer key is generated.
 *
 * Enumerations (status, purpose, …) carry no CHECK constraint on purpose: adding a value later
 * would mean rebuilding the table on SQLite, and every write goes through typed repositories.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  const postgres = isPostgres(db)

  await db.schema
    .createTable('files')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('entity_type', 'text', (c) => c.notNull())
    .addColumn('entity_id', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('document_type', 'text')
    .addColumn('access_level', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('original_name', 'text', (c) => c.notNull())
    .addColumn('content_type', 'text', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('width', 'integer')
    .addColumn('height', 'integer')
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('key_prefix', 'text', (c) => c.notNull())
    .addColumn('objects', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('stored_bytes', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('placeholder', 'text')
    .addColumn('dominant_color', 'text')
    .addColumn('position', 'integer')
    .addColumn('error_reason', 'text')
    .addColumn('idempotency_key', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('ready_at', 'text')
    .addColumn('deleted_at', 'text')
    .execute()
  // An item's photos in order, filtered by status (listing, counting against the limit).
  await db.schema
    .createIndex('files_entity_idx')
    .on('files')
    .columns(['entity_type', 'entity_id', 'status', 'position'])
    .execute()
  await db.schema.createIndex('files_owner_idx').on('files').column('owner_id').execute()
  // A retried upload with the same key finds the first one; NULL keys are not constrained.
  await db.schema
    .createIndex('files_idempotency_idx')
    .on('files')
    .columns(['owner_id', 'idempotency_key'])
    .unique()
    .where(sql.ref('idempotency_key'), 'is not', null)
    .execute()
  // Cleanup: stale `uploading`, old `failed` and `deleted` rows.
  await db.schema.createIndex('files_status_updated_idx').on('files').columns(['status', 'updated_at']).execute()

  await db.schema
    .createTable('item_owners')
    .addColumn('item_id', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('profile_photos')
    .addColumn('user_id', 'text', (c) => c.primaryKey())
    // A purged file row takes its pointer with it.
    .addColumn('file_id', 'text', (c) => c.notNull().references('files.id').onDelete('cascade'))
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('profile_photos_file_idx').on('profile_photos').column('file_id').execute()

  await db.schema
    .createTable('audit_log')
    .addColumn('id', postgres ? 'bigint' : 'integer', (c) =>
      postgres ? c.generatedByDefaultAsIdentity().primaryKey() : c.primaryKey().autoIncrement(),
    )
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('actor_id', 'text')
    .addColumn('actor_role', 'text')
    .addColumn('action', 'text', (c) => c.notNull())
    // No foreign key: the trail outlives the file row.
    .addColumn('file_id', 'text')
    .addColumn('entity_type', 'text')
    .addColumn('entity_id', 'text')
    .addColumn('ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('details', 'text')
    .execute()
  await db.schema.createIndex('audit_log_file_idx').on('audit_log').column('file_id').execute()
  await db.schema.createIndex('audit_log_at_idx').on('audit_log').column('at').execute()
  // "What did this user do", newest first (keyset paging on id).
  await db.schema.createIndex('audit_log_actor_idx').on('audit_log').columns(['actor_id', 'id']).execute()

  await db.schema
    .createTable('outbox')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('file_id', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('run_after', 'text', (c) => c.notNull())
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute()
  // The relay's claim: due rows by status, oldest first.
  await db.schema.createIndex('outbox_status_run_after_idx').on('outbox').columns(['status', 'run_after']).execute()
  await db.schema.createIndex('outbox_file_idx').on('outbox').column('file_id').execute()

  await db.schema
    .createTable('uploads')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner_id', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('entity_id', 'text', (c) => c.notNull())
    .addColumn('document_type', 'text')
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('file_name', 'text', (c) => c.notNull())
    .addColumn('content_type', 'text')
    .addColumn('max_bytes', 'bigint', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('file_id', 'text', (c) => c.references('files.id').onDelete('set null'))
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('uploads_expires_idx').on('uploads').column('expires_at').execute()
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['uploads', 'outbox', 'audit_log', 'profile_photos', 'item_owners', 'files']) {
    await db.schema.dropTable(table).ifExists().execute()
  }
}
