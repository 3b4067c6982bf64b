/**
 * HTTP service benchmark: `npm run bench:http` (tsx). Uploads item photos with
 * `POST /v1/items/:itemId/photos` through the real service (buildHttpApp over createStorage,
 * listening on loopback, real multipart over real sockets) and compares it, in the same run, with
 * a baseline doing the same image work and the same writes without the service: raw sharp with
 * the pipeline's encoder settings, then a raw write of the same bytes (S3 PutObject with the bare
 * SDK for radosgw, `writeFile` + fsync for the disk).
 *
 * Two photos: the 12 MP fixture (3.3 MB JPEG, EXIF orientation 6) and a ~1 MP JPEG made from it.
 * Two targets: the embedded default (disk store, SQLite, in-process queue and workers) and
 * radosgw as the store (same SQLite and in-process queue, so the store is what differs).
 *
 * - latency: median of single uploads (201 = validated, optimised original stored), each one
 *   waiting for the previous one's variants so the background work does not overlap; baseline:
 *   decode + orient + fit in 4000 px + progressive JPEG, then one write.
 * - throughput: CONCURRENCY uploads at a time, photos per second until every one is `ready`
 *   (variants included); baseline: the same outputs (original JPEG + WebP, large/medium/thumbnail
 *   in JPEG and WebP) rendered and written CONCURRENCY at a time.
 *
 * Prints a markdown table. Deletes what it uploads (files through the API, then the bucket and
 * the temp folder). Uses scripts/s3-server.sh (starts radosgw when not running, stops it again
 * when it started it). Environment: BENCH_RUNS (default 9) latency samples, BENCH_PHOTOS
 * (default 16) photos per throughput round, BENCH_CONCURRENCY (default 4).
 */
import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { open, readFile } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import sharp, { type Sharp } from 'sharp'
import { createStorage, type Storage } from '../src/app.js'
import { loadConfig } from '../src/config/index.js'
import { outboxRows } from '../src/db/index.js'
import { buildHttpApp } from '../src/http/app.js'
import { signToken } from '../src/http/auth.js'
import { applyEncoder } from '../src/images/encoders.js'
import { silentLogger } from '../src/jobs/index.js'

const run = promisify(execFile)
const SCRIPT = fileURLToPath(new URL('../scripts/s3-server.sh', import.meta.url))
const FIXTURE = fileURLToPath(new URL('../test/fixtures/images/jpeg-large-12mp-orientation-6.jpg', import.meta.url))
const RUNS = Number(process.env.BENCH_RUNS ?? 9)
const PHOTOS = Number(process.env.BENCH_PHOTOS ?? 16)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4)

interface Photo {
  name: string
  bytes: Buffer
}

interface Target {
  name: string
  env: Record<string, string>
  /** The baseline's write of one object. */
  write: (key: string, body: Buffer, contentType: string) => Promise<void>
  cleanup: () => Promise<void>
}

interface Result {
  target: string
  photo: string
  serviceMs: number
  baselineMs: number
  servicePerSecond: number
  baselinePerSecond: number
}

async function main(): Promise<void> {
  const started = await ensureServer()
  const dir = mkdtempSync(join(tmpdir(), 'localex-bench-http-'))
  const vars = parseEnv((await run('bash', [SCRIPT, 'env'])).stdout)
  const bucket = `bench-http-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
  const s3 = new S3Client({
    endpoint: vars.S3_ENDPOINT,
    region: vars.AWS_REGION ?? 'us-east-1',
    credentials: { accessKeyId: vars.AWS_ACCESS_KEY_ID ?? '', secretAccessKey: vars.AWS_SECRET_ACCESS_KEY ?? '' },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
  const results: Result[] = []
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }))
    const large = await readFile(FIXTURE)
    // ~1 MP: the 12 MP photo upright, fit in 1224 px, as a camera-ish JPEG.
    const small = await sharp(large).rotate().resize(1224, 1224, { fit: 'inside' }).jpeg({ quality: 92 }).toBuffer()
    const photos: Photo[] = [
      { name: `12 MP (${(large.length / 1e6).toFixed(1)} MB)`, bytes: large },
      { name: `1 MP (${(small.length / 1e6).toFixed(2)} MB)`, bytes: small },
    ]
    const baselineDir = join(dir, 'baseline')
    mkdirSync(baselineDir, { recursive: true })
    const targets: Target[] = [
      {
        name: 'embedded (disk, SQLite, in-process queue)',
        env: {},
        write: async (key, body) => {
          const handle = await open(join(baselineDir, key.replace(/\//g, '_')), 'w')
          try {
            await handle.writeFile(body)
            await handle.sync()
          } finally {
            await handle.close()
          }
        },
        cleanup: async () => rmSync(baselineDir, { recursive: true, force: true }),
      },
      {
        name: 'radosgw (S3 store, SQLite, in-process queue)',
        env: {
          STORAGE_DRIVER: 's3',
          S3_BUCKET: bucket,
          S3_ENDPOINT: vars.S3_ENDPOINT ?? '',
          S3_REGION: vars.AWS_REGION ?? 'us-east-1',
          S3_FORCE_PATH_STYLE: 'true',
          AWS_ACCESS_KEY_ID: vars.AWS_ACCESS_KEY_ID ?? '',
          AWS_SECRET_ACCESS_KEY: vars.AWS_SECRET_ACCESS_KEY ?? '',
          AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
          AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
        },
        write: async (key, body, contentType) => {
          await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `baseline/${key}`, Body: body, ContentLength: body.length, ContentType: contentType }))
        },
        cleanup: () => emptyBucket(s3, bucket, 'baseline/'),
      },
    ]
    for (const target of targets) {
      const service = await startService(join(dir, target.name.split(' ')[0] as string), target.env)
      try {
        for (const photo of photos) {
          process.stderr.write(`${target.name}, ${photo.name}: latency...`)
          const latency = await latencyOf(service, target, photo)
          process.stderr.write(' throughput...')
          const throughput = await throughputOf(service, target, photo)
          process.stderr.write(' done\n')
          results.push({ target: target.name, photo: photo.name, ...latency, ...throughput })
        }
      } finally {
        await service.close()
        await target.cleanup()
      }
    }
  } finally {
    await emptyBucket(s3, bucket, '').catch(() => undefined)
    await s3.send(new DeleteBucketCommand({ Bucket: bucket })).catch((error: unknown) => process.stderr.write(`bucket ${bucket} not deleted: ${String(error)}\n`))
    s3.destroy()
    rmSync(dir, { recursive: true, force: true })
    rmSync(LEASE, { force: true })
    if (started && otherLeases().length === 0) await script('stop')
  }
  report(results)
}

// ---------------------------------------------------------------- the service

interface Service {
  base: string
  storage: Storage
  authorization: string
  close(): Promise<void>
}

async function startService(dataDir: string, env: Record<string, string>): Promise<Service> {
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const config = loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent', PUBLIC_BASE_URL: base, UPLOAD_RATE_LIMIT: '0', ...env })
  const storage = await createStorage(config, { logger: silentLogger, workers: true })
  const app = buildHttpApp({ config, files: storage.files, store: storage.store, health: storage.health, logger: false })
  await app.listen({ host: '127.0.0.1', port })
  const authorization = `Bearer ${await signToken(config, { sub: 'bench', admin: false, ttlSeconds: 3600 })}`
  return {
    base,
    storage,
    authorization,
    async close() {
      await app.close()
      await storage.close()
    },
  }
}

/** One multipart upload; resolves with the file id and the time to the 201. */
function upload(service: Service, itemId: string, photo: Photo): Promise<{ id: string; ms: number }> {
  const boundary = `----bench${randomBytes(8).toString('hex')}`
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`)
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
  const body = Buffer.concat([head, photo.bytes, tail])
  const { hostname, port } = new URL(service.base)
  const t0 = performance.now()
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, method: 'POST', path: `/v1/items/${itemId}/photos`, headers: { authorization: service.authorization, 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const ms = performance.now() - t0
        const text = Buffer.concat(chunks).toString()
        if (res.statusCode !== 201) return reject(new Error(`upload answered ${res.statusCode}: ${text.slice(0, 300)}`))
        resolve({ id: (JSON.parse(text) as { id: string }).id, ms })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

async function deleteAll(service: Service, ids: string[]): Promise<void> {
  for (const id of ids) {
    const res = await fetch(`${service.base}/v1/files/${id}`, { method: 'DELETE', headers: { authorization: service.authorization } })
    if (res.status !== 204) throw new Error(`delete ${id} answered ${res.status}`)
  }
  // The objects go in the background: wait for the outbox so nothing is left when we stop.
  await drained(service.storage)
}

async function drained(storage: Storage): Promise<void> {
  const deadline = Date.now() + 120_000
  for (;;) {
    const counts = await outboxRows.counts(storage.db)
    if (counts.pending === 0 && counts.dispatched === 0) return
    if (Date.now() > deadline) throw new Error('outbox not drained')
    storage.relay?.notify()
    await sleep(20)
  }
}

// ---------------------------------------------------------------- the measurements

/** The item's photo limit (10) is per item: every upload gets its own item. */
let items = 0
const nextItem = () => `bench-${(items++).toString(36)}`

async function latencyOf(service: Service, target: Target, photo: Photo): Promise<{ serviceMs: number; baselineMs: number }> {
  const serviceMs: number[] = []
  const baselineMs: number[] = []
  const ids: string[] = []
  // Warm-up of each (JIT, connection pools, libvips caches), not counted.
  ids.push((await upload(service, nextItem(), photo)).id)
  await service.storage.files.waitUntilSettled(ids[0] as string)
  await syncBaseline(target, photo, 'warm')
  // Interleaved, so both see the same machine state.
  for (let i = 0; i < RUNS; i++) {
    const { id, ms } = await upload(service, nextItem(), photo)
    serviceMs.push(ms)
    ids.push(id)
    await service.storage.files.waitUntilSettled(id)
    const t0 = performance.now()
    await syncBaseline(target, photo, `sync-${i}`)
    baselineMs.push(performance.now() - t0)
  }
  await deleteAll(service, ids)
  return { serviceMs: median(serviceMs), baselineMs: median(baselineMs) }
}

async function throughputOf(service: Service, target: Target, photo: Photo): Promise<{ servicePerSecond: number; baselinePerSecond: number }> {
  const ids: string[] = []
  const t0 = performance.now()
  await pool(PHOTOS, CONCURRENCY, async () => {
    const { id } = await upload(service, nextItem(), photo)
    ids.push(id)
    const view = await service.storage.files.waitUntilSettled(id)
    if (view.status !== 'ready') throw new Error(`photo ${id} ended ${view.status}`)
  })
  const serviceSeconds = (performance.now() - t0) / 1000
  await deleteAll(service, ids)

  const t1 = performance.now()
  await pool(PHOTOS, CONCURRENCY, (i) => fullBaseline(target, photo, `full-${i}`))
  const baselineSeconds = (performance.now() - t1) / 1000
  return { servicePerSecond: PHOTOS / serviceSeconds, baselinePerSecond: PHOTOS / baselineSeconds }
}

// ---------------------------------------------------------------- the baseline

const QUALITY = 85
const encode = (image: Sharp, format: 'jpeg' | 'webp', side: number) =>
  applyEncoder(image, { format, quality: QUALITY, large: side >= 1600, document: false, profile: 'compact' }).toBuffer()

/** Upright, sRGB, fit in `side` px, never enlarged: what every output starts from. */
const fitted = (input: Buffer | Sharp, side: number): Sharp =>
  (Buffer.isBuffer(input) ? sharp(input).rotate() : input.clone())
    .resize(side, side, { fit: 'inside', withoutEnlargement: true })
    .toColourspace('srgb')

/** The synchronous part of an upload, done by hand: the optimised original, written once. */
async function syncBaseline(target: Target, photo: Photo, key: string): Promise<void> {
  const original = await encode(fitted(photo.bytes, 4000), 'jpeg', 4000)
  await target.write(`${key}/original.jpg`, original, 'image/jpeg')
}

/** Everything a ready photo has, done by hand: original JPEG + WebP, three sizes in both formats. */
async function fullBaseline(target: Target, photo: Photo, key: string): Promise<void> {
  const original = await encode(fitted(photo.bytes, 4000), 'jpeg', 4000)
  await target.write(`${key}/original.jpg`, original, 'image/jpeg')
  const decoded = sharp(original)
  const outputs: Array<[string, Promise<Buffer>, string]> = [['original.webp', encode(decoded.clone(), 'webp', 4000), 'image/webp']]
  for (const [name, side] of [['large', 1200], ['medium', 800], ['thumbnail', 300]] as const) {
    outputs.push([`${name}.jpg`, encode(fitted(decoded, side), 'jpeg', side), 'image/jpeg'])
    outputs.push([`${name}.webp`, encode(fitted(decoded, side), 'webp', side), 'image/webp'])
  }
  await Promise.all(outputs.map(async ([name, body, type]) => target.write(`${key}/${name}`, await body, type)))
}

// ---------------------------------------------------------------- helpers

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, async () => {
    while (next < n) await task(next++)
  }))
}

function report(results: Result[]): void {
  const rows = [
    ['target', 'photo', 'upload p50 (201)', 'sharp + write p50', 'ratio', `photos/s to ready (${CONCURRENCY} at a time)`, 'sharp + writes photos/s', 'ratio'],
    ...results.map((r) => [
      r.target,
      r.photo,
      `${r.serviceMs.toFixed(0)} ms`,
      `${r.baselineMs.toFixed(0)} ms`,
      `${(r.serviceMs / r.baselineMs).toFixed(2)}×`,
      r.servicePerSecond.toFixed(2),
      r.baselinePerSecond.toFixed(2),
      `${((r.servicePerSecond / r.baselinePerSecond) * 100).toFixed(0)} %`,
    ]),
  ]
  const widths = (rows[0] as string[]).map((_, c) => Math.max(...rows.map((row) => (row[c] as string).length)))
  const line = (row: string[]) => `| ${row.map((cell, c) => cell.padEnd(widths[c] as number)).join(' | ')} |`
  console.log(`\nHTTP uploads (POST /v1/items/:itemId/photos), ${RUNS} latency samples, ${PHOTOS} photos per throughput round; ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}; Node ${process.version}, sharp ${sharp.versions.sharp ?? '?'} (libvips ${sharp.versions.vips})\n`)
  console.log(line(rows[0] as string[]))
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`)
  for (const row of rows.slice(1)) console.log(line(row))
  console.log('\nratio of latency: service / baseline (lower is better); ratio of throughput: service / baseline (higher is better).')
}

async function emptyBucket(s3: S3Client, bucket: string, prefix: string): Promise<void> {
  for (;;) {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key as string }))
    if (keys.length === 0) return
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }))
  }
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  await new Promise((r) => server.close(r))
  return port
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// The lease protocol of test/setup/global-setup.ts (as in bench/storage.bench.ts): a server this
// run started is stopped only when no other run still uses it.
const LEASES = `${process.env.LOCALEX_RGW_DIR ?? '/tmp/localex-rgw'}.leases`
const LEASE = `${LEASES}/${process.pid}`

function otherLeases(): number[] {
  return readdirSync(LEASES).map(Number).filter((pid) => {
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  })
}

async function ensureServer(): Promise<boolean> {
  mkdirSync(LEASES, { recursive: true })
  writeFileSync(LEASE, '')
  try {
    await run('bash', [SCRIPT, 'status'])
    return false
  } catch {
    await script('start')
    return true
  }
}

function script(command: 'start' | 'stop'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SCRIPT, command], { stdio: ['ignore', 'inherit', 'inherit'] })
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`scripts/s3-server.sh ${command} exited with ${code}`))))
  })
}

function parseEnv(text: string): Record<string, string> {
  const vars: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=')
    if (eq > 0) vars[line.slice(0, eq)] = line.slice(eq + 1)
  }
  return vars
}

await main()
