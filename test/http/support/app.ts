import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { createStorage, type Storage, type StorageOptions } from '../../../src/app.js'
import { ensureGeneratedSecrets, loadConfig, type Config, type Env } from '../../../src/config/index.js'
import {
  buildHttpApp,
  createMetrics,
  signToken,
  type HealthProbes,
  type HttpAppDeps,
  type Metrics,
} from '../../../src/http/index.js'
import type { ObjectStore } from '../../../src/index.js'
import { fixture } from '../../support/fixtures.js'
import { recordingFiles, type RecordingFiles } from './recording-files.js'

export const JWT_SECRET = 'test-jwt-secret-that-is-long-enough-0123456789'
export const SIGNING_SECRET = 'test-url-signing-secret-long-enough-0123456789'

export interface TestApp {
  app: FastifyInstance
  config: Config
  /** The real files layer, store, database and queue under the app (embedded: disk, SQLite, in-process). */
  storage: Storage
  /** `storage.files` as the routes call it, every call recorded (see recording-files.ts). */
  files: RecordingFiles
  store: ObjectStore
  metrics: Metrics
  dir: string
  /** A valid HS256 token of the test config. */
  token(sub: string, options?: { admin?: boolean; ttlSeconds?: number }): Promise<string>
  bearer(sub: string, options?: { admin?: boolean }): Promise<{ authorization: string }>
  /** What uploads left behind: file rows in any status, and every object key. */
  stored(): Promise<{ rows: number; objects: string[] }>
  close(): Promise<void>
}

export interface TestAppOptions {
  env?: Env
  /** Probes replacing the real ones of the storage. */
  health?: Partial<HealthProbes>
  deps?: Partial<HttpAppDeps>
  /**
   * Run the queue's workers, so that uploads become `ready` (default false: a stored upload stays
   * `processing`, which keeps views stable; a test that needs `ready` calls `storage.startWorkers()`).
   */
  workers?: boolean
}

// The jobs' warnings (a job retried, a close that failed) are not what these tests look at.
const quiet: StorageOptions['logger'] = { warn: () => undefined, error: () => undefined }

export interface EmbeddedStorage {
  storage: Storage
  config: Config
  dir: string
  close(): Promise<void>
}

/**
 * The real storage on the embedded stores, as `serve` builds it with no configuration: a disk store
 * and SQLite in a temp folder, the in-process queue and the outbox relay, from `createStorage`.
 */
export interface EmbeddedOptions {
  env?: Env
  workers?: boolean
  metrics?: Metrics
}

export async function openEmbeddedStorage(options: EmbeddedOptions = {}): Promise<EmbeddedStorage> {
  const dir = await mkdtemp(join(tmpdir(), 'localex-http-'))
  const env: Env = {
    DATA_DIR: dir,
    JWT_SECRET,
    URL_SIGNING_SECRET: SIGNING_SECRET,
    LOG_LEVEL: 'silent',
    PUBLIC_BASE_URL: 'http://localhost:3000',
    MAX_FILE_SIZE: '1MiB',
    ...options.env,
  }
  try {
    // Tests that unset a secret run on the embedded default, whose secrets the CLI generates.
    ensureGeneratedSecrets(env)
    const config = loadConfig(env)
    const storage = await createStorage(config, {
      workers: options.workers ?? false,
      migrate: true,
      logger: quiet,
      store: { durable: false },
      relayOptions: { intervalMs: 50, retryDelayMs: 200 },
      metrics: options.metrics,
    })
    return {
      storage,
      config,
      dir,
      async close() {
        await storage.close()
        await rm(dir, { recursive: true, force: true })
      },
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    throw error
  }
}

/** The HTTP app over the real files layer on the embedded stores (see `openEmbeddedStorage`). */
export async function makeTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const metrics = createMetrics()
  const embedded = await openEmbeddedStorage({ env: options.env, workers: options.workers, metrics })
  const { storage, config, dir } = embedded
  const files = recordingFiles(storage.files)
  const app = buildHttpApp({
    config,
    files,
    store: storage.store,
    metrics,
    logger: false,
    health: { ...storage.health, ...options.health },
    ...options.deps,
  })
  const token = (sub: string, o: { admin?: boolean; ttlSeconds?: number } = {}) =>
    signToken(config, { sub, admin: o.admin ?? false, ttlSeconds: o.ttlSeconds ?? 600 })
  return {
    app,
    config,
    storage,
    files,
    store: storage.store,
    metrics,
    dir,
    token,
    bearer: async (sub, o) => ({ authorization: `Bearer ${await token(sub, o)}` }),
    async stored() {
      const count = storage.db.selectFrom('files').select((eb) => eb.fn.countAll<number>().as('n'))
      const { n } = await count.executeTakeFirstOrThrow()
      const objects: string[] = []
      for await (const entry of storage.store.list('')) if (entry.type === 'object') objects.push(entry.key)
      return { rows: Number(n), objects: objects.sort() }
    },
    async close() {
      await app.close()
      await embedded.close()
    },
  }
}

/** A real photo (128×128 greyscale JPEG): decodes, passes validation, renders its variants fast. */
const PHOTO = readFileSync(fixture('images/jpeg-grayscale.jpg'))

/** A real document: a one-page PDF that passes the PDF checks. */
export const PDF = readFileSync(fixture('docs/pdf-1-page-libreoffice.pdf'))

/**
 * A real JPEG of exactly `size` bytes (the fixture photo when no size is given): comment segments
 * right after the start-of-image marker pad it, so it still decodes as the same image.
 */
export function jpeg(size = PHOTO.length): Buffer {
  const padding = size - PHOTO.length
  if (padding < 0) throw new Error(`a real JPEG is at least ${PHOTO.length} bytes`)
  return Buffer.concat([PHOTO.subarray(0, 2), ...jpegPadding(padding), PHOTO.subarray(2)])
}

/** `bytes` bytes of COM segments (at most 64 KiB each), or fill bytes (0xFF) when fewer than 4. */
function jpegPadding(bytes: number): Buffer[] {
  const out: Buffer[] = []
  let left = bytes
  while (left >= 4) {
    let take = Math.min(left, 0xffff + 2)
    // Leave no remainder of 1-3 bytes, which no segment can hold.
    if (left - take > 0 && left - take < 4) take -= 4
    const segment = Buffer.alloc(take, 0x20)
    segment[0] = 0xff
    segment[1] = 0xfe
    segment.writeUInt16BE(take - 2, 2)
    out.push(segment)
    left -= take
  }
  if (left > 0) out.push(Buffer.alloc(left, 0xff))
  return out
}

export interface Part {
  name: string
  filename?: string
  contentType?: string
  data: Buffer | string
}

export const BOUNDARY = '----localexTestBoundary7MA4YWxkTrZu0gW'

/** A multipart/form-data body of `parts` (closing boundary included unless `terminate` is false). */
export function multipart(
  parts: Part[],
  options: { boundary?: string; terminate?: boolean } = {},
): { payload: Buffer; headers: Record<string, string> } {
  const boundary = options.boundary ?? BOUNDARY
  const chunks: Buffer[] = []
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`
    if (part.filename !== undefined) head += `; filename="${part.filename}"`
    head += '\r\n'
    if (part.filename !== undefined || part.contentType)
      head += `Content-Type: ${part.contentType ?? 'application/octet-stream'}\r\n`
    chunks.push(
      Buffer.from(`${head}\r\n`),
      Buffer.isBuffer(part.data) ? part.data : Buffer.from(part.data),
      Buffer.from('\r\n'),
    )
  }
  if (options.terminate !== false) chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}

export const photoForm = (data: Buffer = jpeg(), filename = 'photo.jpg') =>
  multipart([{ name: 'file', filename, contentType: 'image/jpeg', data }])

/** Every problem body must be this shape and carry nothing internal. */
export function expectProblemShape(body: Record<string, unknown>): void {
  const text = JSON.stringify(body)
  if (
    typeof body.type !== 'string' ||
    typeof body.title !== 'string' ||
    typeof body.status !== 'number' ||
    typeof body.code !== 'string'
  ) {
    throw new Error(`not a problem document: ${text}`)
  }
  if (/\bat [^ ]+ \(|node:internal|\/work\/|\/tmp\/|\.ts:\d|\.js:\d|stack/i.test(text))
    throw new Error(`problem leaks internals: ${text}`)
}

/**
 * Resolves with the first value `probe` gives that is not undefined, asking every 10 ms; rejects
 * naming `what` after `timeoutMs` (a bound on the wait, not a measure of speed).
 */
export async function until<T>(probe: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`)
    await new Promise((done) => setTimeout(done, 10))
  }
}
