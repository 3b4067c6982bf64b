import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { ensureGeneratedSecrets, loadConfig, type Config, type Env } from '../../../src/config/index.js'
import { buildHttpApp, type HttpAppDeps } from '../../../src/http/app.js'
import { signToken } from '../../../src/http/auth.js'
import type { HealthProbes } from '../../../src/http/health.js'
import { createMetrics, type Metrics } from '../../../src/http/metrics.js'
import { createObjectStore } from '../../../src/storage/index.js'
import type { ObjectStore } from '../../../src/storage/types.js'
import { FakeFileManager } from './fake-files.js'

export const JWT_SECRET = 'test-jwt-secret-that-is-long-enough-0123456789'
export const SIGNING_SECRET = 'test-url-signing-secret-long-enough-0123456789'

export interface TestApp {
  app: FastifyInstance
  config: Config
  files: FakeFileManager
  store: ObjectStore
  metrics: Metrics
  dir: string
  /** A valid HS256 token of the test config. */
  token(sub: string, options?: { admin?: boolean; ttlSeconds?: number }): Promise<string>
  bearer(sub: string, options?: { admin?: boolean }): Promise<{ authorization: string }>
  close(): Promise<void>
}

export interface TestAppOptions {
  env?: Env
  health?: Partial<HealthProbes>
  deps?: Partial<HttpAppDeps>
}

/** The app over a fake FileManager and a real disk store in a temp folder. */
export async function makeTestApp(options: TestAppOptions = {}): Promise<TestApp> {
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
  // Tests that unset a secret run on the embedded default, whose secrets the CLI generates.
  ensureGeneratedSecrets(env)
  const config = loadConfig(env)
  const store = createObjectStore(config, { durable: false })
  const files = new FakeFileManager({ maxBytes: config.images.maxBytes, publicBaseUrl: config.storage.publicBaseUrl, store })
  const metrics = createMetrics()
  const ok = async () => undefined
  const app = buildHttpApp({
    config,
    files,
    store,
    metrics,
    logger: false,
    health: { db: options.health?.db ?? ok, store: options.health?.store ?? ok, queue: options.health?.queue ?? ok },
    ...options.deps,
  })
  const token = (sub: string, o: { admin?: boolean; ttlSeconds?: number } = {}) => signToken(config, { sub, admin: o.admin ?? false, ttlSeconds: o.ttlSeconds ?? 600 })
  return {
    app,
    config,
    files,
    store,
    metrics,
    dir,
    token,
    bearer: async (sub, o) => ({ authorization: `Bearer ${await token(sub, o)}` }),
    async close() {
      await app.close()
      await store.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** A tiny "JPEG": the magic bytes the fake sniffs, then filler. */
export function jpeg(size = 1024): Buffer {
  const out = Buffer.alloc(size, 0x42)
  out[0] = 0xff
  out[1] = 0xd8
  out[2] = 0xff
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
export function multipart(parts: Part[], options: { boundary?: string; terminate?: boolean } = {}): { payload: Buffer; headers: Record<string, string> } {
  const boundary = options.boundary ?? BOUNDARY
  const chunks: Buffer[] = []
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`
    if (part.filename !== undefined) head += `; filename="${part.filename}"`
    head += '\r\n'
    if (part.filename !== undefined || part.contentType) head += `Content-Type: ${part.contentType ?? 'application/octet-stream'}\r\n`
    chunks.push(Buffer.from(`${head}\r\n`), Buffer.isBuffer(part.data) ? part.data : Buffer.from(part.data), Buffer.from('\r\n'))
  }
  if (options.terminate !== false) chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}

export const photoForm = (data: Buffer = jpeg(), filename = 'photo.jpg') => multipart([{ name: 'file', filename, contentType: 'image/jpeg', data }])

/** Every problem body must be this shape and carry nothing internal. */
export function expectProblemShape(body: Record<string, unknown>): void {
  const text = JSON.stringify(body)
  if (typeof body.type !== 'string' || typeof body.title !== 'string' || typeof body.status !== 'number' || typeof body.code !== 'string') {
    throw new Error(`not a problem document: ${text}`)
  }
  if (/\bat [^ ]+ \(|node:internal|\/work\/|\/tmp\/|\.ts:\d|\.js:\d|stack/i.test(text)) throw new Error(`problem leaks internals: ${text}`)
}
