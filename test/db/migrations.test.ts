import { execFile } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { isLocalexError } from '../../src/errors/index.js'
import { createDatabase, migrateToLatest, migrationStatus, type Db } from '../../src/db/index.js'
import { DIALECTS, createTestDatabase, testConfig, type TestDatabase } from '../support/db.js'

const TABLES = ['audit_log', 'files', 'item_owners', 'outbox', 'profile_photos', 'uploads']
const INDEXES = [
  'files_entity_idx',
  'files_owner_idx',
  'files_idempotency_idx',
  'files_status_updated_idx',
  'profile_photos_file_idx',
  'audit_log_file_idx',
  'audit_log_at_idx',
  'audit_log_actor_idx',
  'outbox_status_run_after_idx',
  'outbox_file_idx',
  'uploads_expires_idx',
]

async function indexNames(t: TestDatabase): Promise<string[]> {
  const rows =
    t.dialect === 'postgres'
      ? await sql<{ name: string }>`select indexname as name from pg_indexes where schemaname = 'public'`.execute(t.db)
      : await sql<{ name: string }>`select name from sqlite_master where type = 'index'`.execute(t.db)
  return rows.rows.map((r) => r.name)
}

/** A port nothing listens on: bound by us, then released. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

function runChild(script: string, args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', script, ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`))
      else resolve(JSON.parse(stdout) as unknown)
    })
  })
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: migrations`, () => {
    let t: TestDatabase | undefined
    afterEach(async () => {
      await t?.destroy()
      t = undefined
    })

    it('migrates an empty database to the latest version, creating every table and index', async () => {
      t = await createTestDatabase(dialect, { migrate: false })
      expect(await migrationStatus(t.db)).toEqual([{ name: '0001_initial', executedAt: null }])

      expect(await migrateToLatest(t.db)).toEqual([{ name: '0001_initial', status: 'Success' }])

      const tables = (await t.db.introspection.getTables()).map((x) => x.name)
      expect(tables).toEqual(expect.arrayContaining(TABLES))
      expect(await indexNames(t)).toEqual(expect.arrayContaining(INDEXES))
      const [state] = await migrationStatus(t.db)
      expect(state?.executedAt).toMatch(/^\d{4}-\d\d-\d\dT/)
      // Up to date: nothing runs the second time.
      expect(await migrateToLatest(t.db)).toEqual([])
    })

    it('runs concurrent migrations once', async () => {
      t = await createTestDatabase(dialect, { migrate: false })
      let results: unknown[]
      if (dialect === 'postgres') {
        const second = await createDatabase(t.config)
        try {
          results = await Promise.all([migrateToLatest(t.db), migrateToLatest(second)])
        } finally {
          await second.destroy()
        }
      } else {
        // Two processes: better-sqlite3 blocks its thread while waiting for a lock, so two
        // connections in one process would only wait for each other.
        const path = t.config.db.sqlitePath
        results = await Promise.all(
          [0, 1].map(() => runChild(fileURLToPath(new URL('./fixtures/migrate.ts', import.meta.url)), [path])),
        )
      }
      expect(results.flat()).toEqual([{ name: '0001_initial', status: 'Success' }])
    })

    it('enforces one idempotency key per owner but allows many rows without one', async () => {
      t = await createTestDatabase(dialect)
      const row = (id: string, key: string | null) =>
        ({
          id,
          owner_id: 'u1',
          entity_type: 'item',
          entity_id: 'i1',
          purpose: 'item_photo',
          document_type: null,
          access_level: 'public',
          status: 'uploading',
          original_name: 'a.jpg',
          content_type: 'image/jpeg',
          bytes: 1,
          width: null,
          height: null,
          sha256: 'x',
          key_prefix: 'p/',
          objects: '[]',
          placeholder: null,
          dominant_color: null,
          position: null,
          error_reason: null,
          idempotency_key: key,
          created_at: 'now',
          updated_at: 'now',
          ready_at: null,
          deleted_at: null,
        }) as const
      await t.db
        .insertInto('files')
        .values([row('a', null), row('b', null), row('c', 'k1')])
        .execute()
      await expect(t.db.insertInto('files').values(row('d', 'k1')).execute()).rejects.toThrow()
    })
  })
}

describe('sqlite: connection', () => {
  it('creates the folder and turns on WAL, busy_timeout >= 5000 and foreign keys', async () => {
    const config = testConfig()
    const path = join(config.dataDir, 'deeper', 'still', 'meta.sqlite')
    const db = await createDatabase({ db: { ...config.db, url: undefined, sqlitePath: path } })
    try {
      expect(existsSync(path)).toBe(true)
      const pragma = async (name: string) =>
        Object.values((await sql.raw<Record<string, unknown>>(`pragma ${name}`).execute(db)).rows[0] ?? {})[0]
      expect(await pragma('journal_mode')).toBe('wal')
      expect(Number(await pragma('busy_timeout'))).toBeGreaterThanOrEqual(5000)
      expect(Number(await pragma('foreign_keys'))).toBe(1)
    } finally {
      await db.destroy()
    }
  })

  it('answers DATABASE_UNAVAILABLE when the file cannot be opened', async () => {
    const config = testConfig()
    const folder = join(config.dataDir, 'a-folder')
    mkdirSync(folder)
    const error = await createDatabase({ db: { ...config.db, sqlitePath: folder } }).catch((e: unknown) => e)
    expect(isLocalexError(error, 'DATABASE_UNAVAILABLE')).toBe(true)
  })
})

describe('postgres: unreachable', () => {
  it('fails fast with DATABASE_UNAVAILABLE, naming the target but never the password', async () => {
    const port = await closedPort()
    const config = testConfig({ DATABASE_URL: `postgres://postgres:hunter2-secret@127.0.0.1:${port}/localex` })
    const error = await createDatabase(config).catch((e: unknown) => e)
    expect(isLocalexError(error, 'DATABASE_UNAVAILABLE')).toBe(true)
    const message = (error as Error).message
    // Fast because refused at once: not after waiting out the connect timeout.
    expect(message).toMatch(/ECONNREFUSED/)
    expect(message).not.toMatch(/timeout/i)
    expect(message).toContain(`127.0.0.1:${port}/localex`)
    expect(message).not.toContain('hunter2')
    expect(JSON.stringify(error)).not.toContain('hunter2')
    expect((error as { retryable: boolean }).retryable).toBe(true)
  })

  it('maps a failure of a later query too (database went away after start-up)', async () => {
    const port = await closedPort()
    const config = testConfig({ DATABASE_URL: `postgres://postgres:pw@127.0.0.1:${port}/localex` })
    const db: Db = await createDatabase(config, { verify: false })
    try {
      const error = await db
        .selectFrom('files')
        .selectAll()
        .execute()
        .catch((e: unknown) => e)
      expect(isLocalexError(error, 'DATABASE_UNAVAILABLE')).toBe(true)
    } finally {
      await db.destroy()
    }
  })
})
