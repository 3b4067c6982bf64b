import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import BetterSqlite3 from 'better-sqlite3'
import {
  CompiledQuery,
  Kysely,
  PostgresDialect,
  SqliteAdapter,
  SqliteDialect,
  sql,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely'
import pg from 'pg'
import type { Config } from '../config/index.js'
import { LocalexError } from '../errors/index.js'
import type { DialectName } from './dialect.js'
import { toDatabaseError } from './errors.js'
import type { Database } from './schema.js'

/** The metadata store: a Kysely instance over PostgreSQL or SQLite. Transactions are `Db` too. */
export type Db = Kysely<Database>

export interface DatabaseOptions {
  /** PostgreSQL: how long to wait for a connection (from the pool or a new socket). Default 5000. */
  connectTimeoutMs?: number
  /** SQLite: how long a writer waits for another process's write lock. Default 5000. */
  busyTimeoutMs?: number
  /** Check the connection before returning (default true), so a bad URL fails at start-up. */
  verify?: boolean
  /** Where background pool errors go (an idle PostgreSQL connection dropped by the server). */
  onError?: (error: unknown) => void
}

/**
 * Opens the metadata store chosen by the config: PostgreSQL through a `pg` pool when `db.url` is
 * set, otherwise SQLite at `db.sqlitePath` (its folder is created). Rejects with
 * DATABASE_UNAVAILABLE when the database cannot be reached; the message names host, port and
 * database, never the password.
 *
 * Every query of the returned instance goes through the same error mapping (see `errors.ts`),
 * and on SQLite every transaction is `BEGIN IMMEDIATE` (see `withTransaction`).
 *
 * SQLite: open one instance per file per process and share it. better-sqlite3 blocks its thread
 * while waiting for a lock, so two instances in one process waiting on each other would stall
 * until busy_timeout and fail; other processes (worker, CLI) are fine.
 */
export async function createDatabase(config: Pick<Config, 'db'>, options: DatabaseOptions = {}): Promise<Db> {
  const onError =
    options.onError ??
    ((error: unknown) =>
      console.warn('[localex-storage] database pool error:', error instanceof Error ? error.message : error))
  let inner: Dialect
  let target: string
  let secret: string | undefined
  let kind: DialectName
  if (config.db.url) {
    kind = 'postgres'
    const url = parseUrl(config.db.url)
    target = `PostgreSQL at ${url.hostname || 'localhost'}:${url.port || 5432}${url.pathname || '/'}`
    secret = url.password ? decodeURIComponent(url.password) : undefined
    const pool = new pg.Pool({
      connectionString: config.db.url,
      max: config.db.poolMax,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'localex-storage',
      types: { getTypeParser: typeParser },
    } as pg.PoolConfig)
    // An idle client that loses its socket emits on the pool; without a listener Node would crash.
    pool.on('error', (error) => onError(toDatabaseError(error, target, secret)))
    // A client that loses its socket while checked out (mid query or transaction) emits on
    // itself; the query it was running rejects anyway, but the unheard event would kill the
    // process when PostgreSQL restarts.
    pool.on('connect', (client) => client.on('error', (error) => onError(toDatabaseError(error, target, secret))))
    inner = new PostgresDialect({ pool })
  } else {
    kind = 'sqlite'
    const path = config.db.sqlitePath
    target = `SQLite at ${path}`
    let database: BetterSqlite3.Database
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
      database = new BetterSqlite3(path)
      // WAL: readers never block the writer (the service reads while a worker writes).
      database.pragma('journal_mode = WAL')
      // A second process (`worker`, the CLI) waits for the write lock instead of failing at once.
      database.pragma(`busy_timeout = ${Math.max(5000, options.busyTimeoutMs ?? 5000)}`)
      database.pragma('foreign_keys = ON')
      // Durable at each checkpoint; with WAL, NORMAL cannot corrupt the database on power loss.
      database.pragma('synchronous = NORMAL')
    } catch (cause) {
      throw new LocalexError(
        'DATABASE_UNAVAILABLE',
        `Database unavailable (${target}): ${cause instanceof Error ? cause.message : String(cause)}`,
        { cause },
      )
    }
    inner = new SqliteDialect({ database })
  }

  const db = new Kysely<Database>({ dialect: guardedDialect(inner, kind, (e) => toDatabaseError(e, target, secret)) })
  if (options.verify ?? true) {
    try {
      await sql`select 1`.execute(db)
    } catch (error) {
      await db.destroy().catch(() => undefined) // best effort: the connection never worked
      throw toDatabaseError(error, target, secret)
    }
  }
  return db
}

/** Cheap liveness check for health endpoints: DATABASE_UNAVAILABLE when the database is away. */
export async function pingDatabase(db: Db): Promise<void> {
  await sql`select 1`.execute(db)
}

function parseUrl(url: string): URL {
  try {
    return new URL(url)
  } catch (cause) {
    throw new LocalexError('CONFIG_INVALID', 'DATABASE_URL is not a valid URL', { cause })
  }
}

// int8 (counts, identities) and numeric (sums) arrive as strings from pg; every such value here
// is far below 2^53, so numbers are what callers get on both dialects.
const INT8 = 20
const NUMERIC = 1700
function typeParser(oid: number, format?: string): (value: string) => unknown {
  if (oid === INT8 || oid === NUMERIC) return Number
  return (pg.types.getTypeParser as (oid: number, format?: string) => (value: string) => unknown)(oid, format)
}

/** The vendor dialect with our driver in front of it; compiler, adapter and introspector unchanged. */
function guardedDialect(inner: Dialect, kind: DialectName, mapError: (error: unknown) => unknown): Dialect {
  return {
    createDriver: () => new GuardedDriver(inner.createDriver(), kind, mapError),
    createQueryCompiler: () => inner.createQueryCompiler(),
    createAdapter: () => (kind === 'sqlite' ? new ImmediateSqliteAdapter() : inner.createAdapter()),
    createIntrospector: (db) => inner.createIntrospector(db),
  }
}

/**
 * SQLite DDL is transactional, but Kysely's adapter says otherwise because its migration "lock"
 * is the one connection of one process. With several processes on one file (service, worker,
 * CLI all migrating at start) that lock is no lock: saying yes here makes the migrator run in a
 * transaction, which is `BEGIN IMMEDIATE` and so excludes the other processes until it commits.
 */
class ImmediateSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true
  }
}

/**
 * Delegates to the vendor driver, adding two things: every error passes through `mapError`
 * (connection trouble becomes DATABASE_UNAVAILABLE wherever the query was issued), and SQLite
 * transactions start with `BEGIN IMMEDIATE`.
 *
 * Why IMMEDIATE: a deferred SQLite transaction that reads and then writes must upgrade its lock
 * when it reaches the write; if another process wrote meanwhile the upgrade fails with
 * SQLITE_BUSY at once (waiting could deadlock, so busy_timeout does not apply). Taking the write
 * lock at BEGIN makes read-then-write transactions ("count photos, then insert") serialised and
 * lets busy_timeout do its job. Within one process Kysely already funnels SQLite through a single
 * connection, so this matters between processes (service, worker, CLI) sharing the file.
 */
class GuardedDriver implements Driver {
  readonly #inner: Driver
  readonly #kind: DialectName
  readonly #mapError: (error: unknown) => unknown
  readonly #wrapped = new WeakMap<DatabaseConnection, DatabaseConnection>()
  readonly #unwrapped = new WeakMap<DatabaseConnection, DatabaseConnection>()

  constructor(inner: Driver, kind: DialectName, mapError: (error: unknown) => unknown) {
    this.#inner = inner
    this.#kind = kind
    this.#mapError = mapError
  }

  async init(): Promise<void> {
    await this.#guard(() => this.#inner.init())
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await this.#guard(() => this.#inner.acquireConnection())
    let wrapper = this.#wrapped.get(connection)
    if (!wrapper) {
      const mapError = this.#mapError
      wrapper = {
        executeQuery: async <R>(query: CompiledQuery): Promise<QueryResult<R>> => {
          try {
            return await connection.executeQuery<R>(query)
          } catch (error) {
            throw mapError(error)
          }
        },
        streamQuery: async function* <R>(
          query: CompiledQuery,
          chunkSize?: number,
        ): AsyncIterableIterator<QueryResult<R>> {
          try {
            yield* connection.streamQuery<R>(query, chunkSize)
          } catch (error) {
            throw mapError(error)
          }
        },
      }
      this.#wrapped.set(connection, wrapper)
      this.#unwrapped.set(wrapper, connection)
    }
    return wrapper
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const inner = this.#unwrap(connection)
    if (this.#kind === 'sqlite') await this.#guard(() => inner.executeQuery(CompiledQuery.raw('begin immediate')))
    else await this.#guard(() => this.#inner.beginTransaction(inner, settings))
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await this.#guard(() => this.#inner.commitTransaction(this.#unwrap(connection)))
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await this.#guard(() => this.#inner.rollbackTransaction(this.#unwrap(connection)))
  }

  async savepoint(connection: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    const savepoint = this.#inner.savepoint?.bind(this.#inner)
    if (!savepoint) throw new LocalexError('INTERNAL', 'Savepoints are not supported by this driver')
    await this.#guard(() => savepoint(this.#unwrap(connection), name, compile))
  }

  async rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    const rollback = this.#inner.rollbackToSavepoint?.bind(this.#inner)
    if (!rollback) throw new LocalexError('INTERNAL', 'Savepoints are not supported by this driver')
    await this.#guard(() => rollback(this.#unwrap(connection), name, compile))
  }

  async releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    const release = this.#inner.releaseSavepoint?.bind(this.#inner)
    if (!release) throw new LocalexError('INTERNAL', 'Savepoints are not supported by this driver')
    await this.#guard(() => release(this.#unwrap(connection), name, compile))
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    await this.#inner.releaseConnection(this.#unwrap(connection))
  }

  async destroy(): Promise<void> {
    await this.#inner.destroy()
  }

  #unwrap(connection: DatabaseConnection): DatabaseConnection {
    return this.#unwrapped.get(connection) ?? connection
  }

  async #guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (error) {
      throw this.#mapError(error)
    }
  }
}
