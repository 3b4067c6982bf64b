import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { ensureGeneratedSecrets, loadConfig, type Config, type Env } from '../../src/config/index.js'
import { createDatabase, migrateToLatest, type Db, type DialectName } from '../../src/db/index.js'

/**
 * Real databases for tests, one fresh database per call: a new PostgreSQL database on the local
 * server (dropped `WITH (FORCE)` afterwards) or a SQLite file in a new temp folder. Tests loop
 * over `DIALECTS` so every behaviour is checked on both, Kysely style.
 */
export const DIALECTS = ['postgres', 'sqlite'] as const satisfies readonly DialectName[]

/** The maintenance database tests create their own databases from. */
export const PG_ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

export interface TestDatabase {
  dialect: DialectName
  db: Db
  config: Config
  /** PostgreSQL URL of this database (absent for SQLite). */
  url?: string
  /** Temp folder holding the config's data dir (and the SQLite file). */
  dir: string
  /** Closes the pool and removes the database (idempotent). */
  destroy(): Promise<void>
}

/** A validated config rooted in a temp folder, with `env` on top (secrets generated, as the CLI does). */
export function testConfig(env: Env = {}, dir = mkdtempSync(join(tmpdir(), 'localex-test-'))): Config {
  const full = { DATA_DIR: dir, LOG_LEVEL: 'silent', ...env }
  ensureGeneratedSecrets(full)
  return loadConfig(full)
}

export function pgUrlFor(database: string): string {
  const url = new URL(PG_ADMIN_URL)
  url.pathname = `/${database}`
  return url.toString()
}

/** Runs `fn` with a client on the maintenance database (CREATE/DROP DATABASE), then closes it. */
export async function pgAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

let template: Promise<string> | undefined

/**
 * A migrated database to copy test databases from (CREATE DATABASE … TEMPLATE is a file copy,
 * several times faster than running the migrations each time). Its name carries a hash of the
 * migration sources, so editing a migration builds a new one; the oldest are dropped then. Kept
 * between runs on purpose.
 */
function migratedTemplate(): Promise<string> {
  template ??= (async () => {
    const folder = new URL('../../src/db/migrations/', import.meta.url)
    const hash = createHash('sha256')
    for (const file of readdirSync(folder).sort()) hash.update(file).update(readFileSync(new URL(file, folder)))
    const name = `localex_test_tpl_${hash.digest('hex').slice(0, 12)}`
    return pgAdmin(async (c) => {
      // Test workers run in parallel processes: one builds, the others wait for it.
      await c.query('select pg_advisory_lock(7345621)')
      try {
        const exists = await c.query('select 1 from pg_database where datname = $1', [name])
        if (exists.rowCount) return name
        // Other checkouts (another branch's migrations) may be running tests from theirs right now:
        // keep the newest few templates and drop only older ones (oids grow with creation).
        const stale = await c.query<{ datname: string }>(
          "select datname from pg_database where datname like 'localex_test_tpl_%' order by oid desc offset 4",
        )
        for (const row of stale.rows) await c.query(`DROP DATABASE IF EXISTS "${row.datname}" WITH (FORCE)`)
        const building = `${name}_building`
        await c.query(`DROP DATABASE IF EXISTS "${building}" WITH (FORCE)`)
        await c.query(`CREATE DATABASE "${building}"`)
        const db = await createDatabase({
          db: { url: pgUrlFor(building), sqlitePath: ':memory:', poolMax: 1, migrateOnStart: false },
        })
        try {
          await migrateToLatest(db)
        } finally {
          await db.destroy()
        }
        await c.query(`ALTER DATABASE "${building}" RENAME TO "${name}"`)
        return name
      } finally {
        await c.query('select pg_advisory_unlock(7345621)')
      }
    })
  })()
  return template
}

/** A fresh, migrated (unless `migrate: false`) database of the given dialect. */
export async function createTestDatabase(
  dialect: DialectName,
  options: { migrate?: boolean; env?: Env } = {},
): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'localex-test-'))
  let name: string | undefined
  let url: string | undefined
  if (dialect === 'postgres') {
    name = `localex_test_${randomBytes(6).toString('hex')}`
    const from = (options.migrate ?? true) ? ` TEMPLATE "${await migratedTemplate()}"` : ''
    await pgAdmin((c) => c.query(`CREATE DATABASE "${name}"${from}`))
    url = pgUrlFor(name)
  }
  const config = testConfig(
    {
      ...(url ? { DATABASE_URL: url } : { SQLITE_PATH: join(dir, 'meta.sqlite') }),
      DATABASE_POOL_MAX: '25',
      ...options.env,
    },
    dir,
  )
  const db = await createDatabase(config)
  if ((options.migrate ?? true) && dialect === 'sqlite') await migrateToLatest(db)
  let destroyed = false
  return {
    dialect,
    db,
    config,
    ...(url ? { url } : {}),
    dir,
    async destroy() {
      if (destroyed) return
      destroyed = true
      await db.destroy()
      if (name) await pgAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
