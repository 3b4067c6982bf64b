import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createStorage, type Storage, type StorageOptions } from '../../src/app.js'
import { auditLog, files as fileRows, outboxRows, type AuditRecord } from '../../src/db/index.js'
import type { FileView } from '../../src/files/types.js'
import { silentLogger } from '../../src/jobs/index.js'
import { createDiskDeliveryHandler, createDiskUploadHandler } from '../../src/http/index.js'
import { createTestBucket, s3ConfigEnv } from './s3.js'
import { createTestDatabase, testConfig, type TestDatabase } from './db.js'
import { TcpProxy } from './tcp-proxy.js'

/**
 * The two shapes the service runs in, with every component real:
 * - `embedded`: disk store, SQLite, in-process queue (what `npm start` runs), with a loopback HTTP
 *   server delivering the disk store's signed URLs and receiving its presigned POSTs;
 * - `production`: radosgw (S3), PostgreSQL and BullMQ on Redis, each test file with its own bucket,
 *   database and queue prefix.
 */
export const BACKENDS = ['embedded', 'production'] as const
export type Backend = (typeof BACKENDS)[number]

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

export interface TestStorage extends Storage {
  backend: Backend
  /** `storage.files` with its job handlers (what the worker runs). */
  jobs: Storage['files']
  testDb: TestDatabase
  /** Resolves once the outbox has nothing pending or running (every queued job finished). */
  drain(timeoutMs?: number): Promise<void>
  /** Rows per status plus outbox rows not done: what "leaves nothing behind" compares. */
  counts(): Promise<Record<string, number>>
  audit(fileId: string): Promise<AuditRecord[]>
  /** fetch, but for the disk store's URLs it goes to the loopback delivery server. */
  fetch: typeof fetch
  /** Turns a stored file into an `authenticated` one (no flow creates those yet; the level exists). */
  makeAuthenticated(view: FileView): Promise<FileView>
  /** The environment the config was loaded from (to start a `worker` child process on the same backend). */
  env: Record<string, string>
  /** Present when asked for: PostgreSQL, Redis and the S3 server reached through proxies the test can cut. */
  proxies: { db?: TcpProxy; redis?: TcpProxy; store?: TcpProxy }
}

export interface TestStorageOptions extends Pick<StorageOptions, 'metrics'> {
  /** Run queue workers in the test process (default true). */
  workers?: boolean
  /** production only: reach PostgreSQL / Redis / the S3 server through a TcpProxy (`t.proxies`). */
  proxyDatabase?: boolean
  proxyRedis?: boolean
  proxyStore?: boolean
}

export async function openTestStorage(
  backend: Backend,
  extraEnv: Record<string, string> = {},
  options: TestStorageOptions = {},
): Promise<TestStorage> {
  const { workers = true, proxyDatabase = false, proxyRedis = false, proxyStore = false, ...storageOptions } = options
  const testDb = await createTestDatabase(backend === 'production' ? 'postgres' : 'sqlite')
  const cleanups: Array<() => Promise<void>> = [() => testDb.destroy()]
  let server: Server | undefined
  let baseEnv: Record<string, string> = {}
  const proxies: TestStorage['proxies'] = {}
  try {
    if (backend === 'production') {
      const bucket = await createTestBucket('files')
      cleanups.push(() => bucket.cleanup())
      let databaseUrl = testDb.url as string
      let redisUrl = REDIS_URL
      if (proxyDatabase) {
        const proxy = (proxies.db = TcpProxy.for(databaseUrl, 5432))
        await proxy.start()
        cleanups.push(() => proxy.stop())
        databaseUrl = proxy.wrap(databaseUrl)
      }
      if (proxyRedis) {
        const proxy = (proxies.redis = TcpProxy.for(redisUrl, 6379))
        await proxy.start()
        cleanups.push(() => proxy.stop())
        redisUrl = proxy.wrap(redisUrl)
      }
      const s3Env = s3ConfigEnv(bucket.bucket)
      if (proxyStore && s3Env.S3_ENDPOINT) {
        const proxy = (proxies.store = TcpProxy.for(s3Env.S3_ENDPOINT, 80))
        await proxy.start()
        cleanups.push(() => proxy.stop())
        s3Env.S3_ENDPOINT = proxy.wrap(s3Env.S3_ENDPOINT).replace(/\/$/, '')
      }
      const queuePrefix = `localex-test-${randomBytes(5).toString('hex')}`
      baseEnv = { ...s3Env, DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, QUEUE_PREFIX: queuePrefix }
    } else {
      server = createServer()
      await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
      const port = (server.address() as AddressInfo).port
      baseEnv = { SQLITE_PATH: testDb.config.db.sqlitePath, PUBLIC_BASE_URL: `http://127.0.0.1:${port}` }
    }
    const env = {
      DATA_DIR: testDb.dir,
      LOG_LEVEL: 'silent',
      ...baseEnv,
      JOB_BACKOFF_MS: '50',
      JOB_LOCK_DURATION: '5s',
      JOB_STALLED_INTERVAL: '1s',
      ...extraEnv,
    }
    const config = testConfig(env, testDb.dir)
    const storage = await createStorage(config, {
      workers,
      migrate: false,
      logger: silentLogger,
      relayOptions: { intervalMs: 50, retryDelayMs: 200 },
      ...storageOptions,
    })
    if (server) {
      const deliver = createDiskDeliveryHandler(storage.store)
      const receive = createDiskUploadHandler(storage.store)
      server.on('request', (req, res) => {
        void (async () => {
          if (await receive(req, res)) return
          if (await deliver(req, res)) return
          res.writeHead(404).end()
        })().catch(() => res.destroy())
      })
    }
    const db = storage.db
    const t: TestStorage = Object.assign(Object.create(null) as object, storage, {
      backend,
      env,
      proxies,
      jobs: storage.files,
      testDb,
      fetch: globalThis.fetch.bind(globalThis),
      async drain(timeoutMs = 30_000) {
        const deadline = Date.now() + timeoutMs
        for (;;) {
          const counts = await outboxRows.counts(db)
          if (counts.pending === 0 && counts.dispatched === 0) return
          if (Date.now() > deadline) throw new Error(`outbox not drained: ${JSON.stringify(counts)}`)
          storage.relay?.notify()
          await new Promise((r) => setTimeout(r, 25))
        }
      },
      async counts() {
        const result: Record<string, number> = {}
        for (const s of await fileRows.stats(db)) result[`${s.entityType}:${s.status}`] = s.files
        const outbox = await outboxRows.counts(db)
        result['outbox:pending'] = outbox.pending
        result['outbox:dispatched'] = outbox.dispatched
        result['uploads'] = Number(
          (
            await db
              .selectFrom('uploads')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        )
        return result
      },
      async audit(fileId: string) {
        return (await auditLog.listByFile(db, fileId)).entries.reverse()
      },
      async makeAuthenticated(view: FileView) {
        await db.updateTable('files').set({ access_level: 'authenticated' }).where('id', '=', view.id).execute()
        return storage.files.getFile({ id: view.ownerId, role: 'user' }, view.id)
      },
      async close() {
        await storage.close()
        if (server) await new Promise((resolve) => server?.close(resolve))
        for (const cleanup of cleanups.reverse()) await cleanup()
      },
    }) as TestStorage
    return t
  } catch (error) {
    if (server) server.close()
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
    throw error
  }
}

/** Every object key under `prefix`, sorted. */
export async function objectKeys(t: Pick<Storage, 'store'>, prefix: string): Promise<string[]> {
  const out: string[] = []
  for await (const entry of t.store.list(prefix)) if (entry.type === 'object') out.push(entry.key)
  return out.sort()
}
