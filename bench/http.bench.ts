/**
 * HTTP service benchmark: `npm run bench:http` (tsx). What issue 5 asks, against the real service
 * (`localex-storage serve`, i.e. buildHttpApp over createStorage, in a child process of its own
 * listening on 127.0.0.1) with undici as the load generator (this process):
 *
 * - uploads: 16 connections each sending `POST /v1/items/:itemId/photos` (multipart, a real
 *   2.2 MB / 9.1 MP phone photo, a new item each time) back to back for BENCH_SECONDS (default
 *   60); then the backlog drains until every accepted photo is `ready` (variants included).
 *   Reports p50/p95/p99 of the 201, uploads/s accepted, photos/s reaching `ready` (accepted photos
 *   / time from the start to the last `ready_at`, read from the database), errors (any answer but
 *   201, and any photo ending `failed`), peak RSS of each process (VmHWM from /proc).
 * - reads: 200 connections for BENCH_READ_SECONDS (default 20) cycling through `GET /v1/files/:id`
 *   and `GET /v1/files/:id/url` of public item photos and private verification documents (owner's
 *   token): req/s, p50/p95/p99, errors (any answer but 200).
 * - baselines, in the same run, each 16 at a time for BENCH_BASELINE_SECONDS (default 30) in a
 *   child process on the same photo, with the image settings the service reads from the
 *   environment (nothing stored): `pipeline` = the pipeline's work as the service schedules it,
 *   `prepareOriginal()` then `renderVariants()` of what it returned (with the default
 *   IMAGE_UPLOAD_ORIGINAL=sanitised that is one more encode and decode of the original than
 *   `process()` does); `process()` = every output from one decode of the upload. Three rounds of
 *   each (before each target and at the end), medians taken. Target: the service's photos/s to
 *   `ready` ≥ 85 % of `pipeline`, with zero errors; the ratio to `process()` is printed beside it,
 *   so the price of the upload-latency split is in the same table.
 *
 * Two targets: the embedded default (`serve` alone: disk store, SQLite, in-process queue and
 * workers) and production (`serve` with SERVE_WORKERS=0 plus one `worker` process: radosgw S3,
 * PostgreSQL, BullMQ on Redis). Both with UPLOAD_RATE_LIMIT=0 (the default 60 a minute per user
 * would answer 429 to a single-user load test) and LOG_LEVEL=warn; everything else default.
 *
 * Cleans up what it creates: the temp folder, the bucket, the database, the queue's Redis keys.
 * Uses scripts/s3-server.sh (starts radosgw when not running, stops it again when it started it
 * and no other run holds a lease), PostgreSQL at TEST_DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/postgres) and Redis at TEST_REDIS_URL (default
 * redis://127.0.0.1:6379). BENCH_TARGETS=embedded or =production runs one target only.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3'
import { Redis } from 'ioredis'
import sharp from 'sharp'
import { Pool } from 'undici'
import { loadConfig, loadImagesConfig } from '../src/config/index.js'
import { createDatabase, type Db } from '../src/db/index.js'
import { signToken } from '../src/http/auth.js'
import { createImagePipeline } from '../src/images/index.js'
import { PG_ADMIN_URL, pgAdmin } from '../test/support/db.js'
import { leaseS3Server } from '../test/support/s3-server.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SELF = fileURLToPath(import.meta.url)
const CLI = join(ROOT, 'src/cli/run.ts')
const FIXTURE = join(ROOT, 'test/fixtures/images/jpeg-gps-nokia-9mp-wide.jpg')
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60)
const READ_SECONDS = Number(process.env.BENCH_READ_SECONDS ?? 20)
const BASELINE_SECONDS = Number(process.env.BENCH_BASELINE_SECONDS ?? Math.min(30, SECONDS))
const UPLOADERS = 16
const READERS = 200
const TARGET_RATIO = 0.85
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const TARGETS = (process.env.BENCH_TARGETS ?? 'embedded,production').split(',').map((s) => s.trim())

// ---------------------------------------------------------------- results

interface Latencies {
  p50: number
  p95: number
  p99: number
}

interface UploadResult extends Latencies {
  accepted: number
  acceptedPerSecond: number
  errors: number
  errorSamples: string[]
  failed: number
  readyPerSecond: number
  /** Seconds from the start to the last `ready`, and of that the part after the last 201. */
  readySeconds: number
  drainSeconds: number
  readyInWindow: number
  serviceRssMb: number
  workerRssMb: number | null
  loadRssMb: number
}

interface ReadResult extends Latencies {
  requests: number
  perSecond: number
  errors: number
  errorSamples: string[]
  serviceRssMb: number
  loadRssMb: number
}

interface TargetResult {
  name: string
  upload: UploadResult
  read: ReadResult
}

/** `pipeline`: prepareOriginal + renderVariants, as the service runs it; `process`: process(). */
type BaselineKind = 'pipeline' | 'process'
const BASELINE_KINDS: readonly BaselineKind[] = ['pipeline', 'process']

interface BaselineRound {
  kind: BaselineKind
  photos: number
  seconds: number
  perSecond: number
  rssMb: number
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  if (process.argv[2] === '--baseline') return baselineChild(process.argv[3] as BaselineKind)
  const loadStart = loadavg()
  const startedAt = new Date()
  const photo = readFileSync(FIXTURE)
  const meta = await sharp(photo).metadata()
  const photoName =
    `${FIXTURE.split('/').pop()} (${(photo.length / 1e6).toFixed(2)} MB JPEG, ` +
    `${meta.width}×${meta.height}, ${(((meta.width ?? 0) * (meta.height ?? 0)) / 1e6).toFixed(1)} MP)`
  process.stderr.write(`photo: ${photoName}; ${cpus().length} CPUs, load ${fmtLoad(loadStart)}\n`)

  const baseline: BaselineRound[] = []
  const results: TargetResult[] = []
  const server = TARGETS.includes('production')
    ? await leaseS3Server({ log: (m) => process.stderr.write(`${m}\n`) })
    : undefined
  try {
    for (const name of TARGETS) {
      for (const kind of BASELINE_KINDS) baseline.push(await baselineRound(kind))
      results.push(await runTarget(name, photo, server?.vars ?? {}))
    }
    for (const kind of BASELINE_KINDS) baseline.push(await baselineRound(kind))
  } finally {
    await server?.release()
  }
  report({ photoName, baseline, results, loadStart, loadEnd: loadavg(), startedAt })
}

// ---------------------------------------------------------------- baseline (child process)

function baselineRound(kind: BaselineKind): Promise<BaselineRound> {
  process.stderr.write(`baseline ${kind}: ${UPLOADERS} at a time for ${BASELINE_SECONDS} s...`)
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--baseline', kind], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.on('error', reject)
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`baseline child exited with ${code}`))
      const round = JSON.parse(out.trim().split('\n').pop() as string) as BaselineRound
      process.stderr.write(` ${round.perSecond.toFixed(3)} photos/s\n`)
      resolve(round)
    })
  })
}

async function baselineChild(kind: BaselineKind): Promise<void> {
  const photo = readFileSync(FIXTURE)
  // The image settings the service reads from the same environment (IMAGE_UPLOAD_ORIGINAL, quality…).
  const pipeline = createImagePipeline(loadImagesConfig(process.env))
  const opts = { purpose: 'item_photo' as const }
  const once = async (): Promise<number> => {
    if (kind === 'process') return (await pipeline.process(photo, opts)).outputs.length
    // What the upload stores, then what the variants job renders from it (manager.ts does the same).
    const prepared = await pipeline.prepareOriginal(photo, opts)
    const rest = await pipeline.renderVariants(prepared.original.data, {
      ...opts,
      reencodeOriginal: prepared.stage === 'sanitised',
    })
    return 1 + rest.length
  }
  // Warm-up (libvips caches, JIT), not counted.
  await once()
  let photos = 0
  const t0 = performance.now()
  const until = t0 + BASELINE_SECONDS * 1000
  await Promise.all(
    Array.from({ length: UPLOADERS }, async () => {
      while (performance.now() < until) {
        if ((await once()) < 2) throw new Error('no variants')
        photos++
      }
    }),
  )
  const seconds = (performance.now() - t0) / 1000
  process.stdout.write(
    `${JSON.stringify({
      kind,
      photos,
      seconds,
      perSecond: photos / seconds,
      rssMb: peakRssMb(process.pid),
    } satisfies BaselineRound)}\n`,
  )
}

// ---------------------------------------------------------------- one target

interface Deployment {
  env: Record<string, string>
  cleanup: () => Promise<void>
}

async function deploy(name: string, dir: string, s3vars: Readonly<Record<string, string>>): Promise<Deployment> {
  const common = {
    DATA_DIR: dir,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'warn',
    UPLOAD_RATE_LIMIT: '0',
    JWT_SECRET: randomBytes(24).toString('hex'),
    URL_SIGNING_SECRET: randomBytes(24).toString('hex'),
  }
  if (name === 'embedded') {
    return { env: { ...common, SQLITE_PATH: join(dir, 'meta.sqlite') }, cleanup: async () => undefined }
  }
  if (name !== 'production') throw new Error(`unknown target ${name} (embedded or production)`)
  const suffix = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
  const bucket = `bench-http-${suffix}`
  const database = `localex_bench_http_${randomBytes(5).toString('hex')}`
  const prefix = `localex-bench-${suffix}`
  const s3 = new S3Client({
    endpoint: s3vars.S3_ENDPOINT,
    region: s3vars.AWS_REGION ?? 'us-east-1',
    credentials: { accessKeyId: s3vars.AWS_ACCESS_KEY_ID ?? '', secretAccessKey: s3vars.AWS_SECRET_ACCESS_KEY ?? '' },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
  const cleanups: Array<() => Promise<void>> = [async () => s3.destroy()]
  const cleanup = async () => {
    for (const step of cleanups.reverse())
      await step().catch((error: unknown) => process.stderr.write(`cleanup: ${String(error)}\n`))
  }
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }))
    cleanups.push(() => deleteBucket(s3, bucket))
    await pgAdmin((c) => c.query(`CREATE DATABASE "${database}"`))
    cleanups.push(() =>
      pgAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)).then(() => undefined),
    )
    cleanups.push(() => deleteRedisKeys(prefix))
    const url = new URL(PG_ADMIN_URL)
    url.pathname = `/${database}`
    return {
      env: {
        ...common,
        STORAGE_DRIVER: 's3',
        S3_BUCKET: bucket,
        S3_ENDPOINT: s3vars.S3_ENDPOINT ?? '',
        S3_REGION: s3vars.AWS_REGION ?? 'us-east-1',
        S3_FORCE_PATH_STYLE: 'true',
        AWS_ACCESS_KEY_ID: s3vars.AWS_ACCESS_KEY_ID ?? '',
        AWS_SECRET_ACCESS_KEY: s3vars.AWS_SECRET_ACCESS_KEY ?? '',
        AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
        AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
        DATABASE_URL: url.toString(),
        REDIS_URL,
        QUEUE_PREFIX: prefix,
        SERVE_WORKERS: '0',
      },
      cleanup,
    }
  } catch (error) {
    await cleanup()
    throw error
  }
}

async function runTarget(name: string, photo: Buffer, s3vars: Readonly<Record<string, string>>): Promise<TargetResult> {
  const dir = mkdtempSync(join(tmpdir(), `localex-bench-http-${name}-`))
  const deployment = await deploy(name, dir, s3vars).catch((error: unknown) => {
    rmSync(dir, { recursive: true, force: true })
    throw error
  })
  const children: ChildProcess[] = []
  let db: Db | undefined
  let pool: Pool | undefined
  try {
    const service = await startProcess('serve', deployment.env, /listening on (http:\/\/\S+)/)
    children.push(service.child)
    let worker: ChildProcess | undefined
    if (deployment.env.SERVE_WORKERS === '0') {
      worker = (await startProcess('worker', deployment.env, /worker running/)).child
      children.push(worker)
    }
    const config = loadConfig(deployment.env)
    db = await createDatabase(config)
    const authorization = `Bearer ${await signToken(config, { sub: 'bench', admin: false, ttlSeconds: 3600 })}`
    const base = service.match
    process.stderr.write(
      `${name}: service on ${base} (pid ${service.child.pid}${worker ? `, worker pid ${worker.pid}` : ''})\n`,
    )

    pool = new Pool(base, { connections: READERS, keepAliveTimeout: 60_000 })
    const client = { pool, authorization }
    // Warm-up, not counted: a few photos through the whole path.
    await Promise.all([0, 1].map(() => uploadOnce(client, photo, `warm-${randomBytes(4).toString('hex')}`)))
    await waitReady(db, 2, 120_000)

    process.stderr.write(`${name}: uploads, ${UPLOADERS} connections for ${SECONDS} s...`)
    const upload = await uploadPhase(client, db, photo, service.child, worker)
    process.stderr.write(
      ` ${upload.accepted} accepted, ${upload.readyPerSecond.toFixed(3)} photos/s to ready, ${upload.errors} errors\n`,
    )

    process.stderr.write(`${name}: reads, ${READERS} connections for ${READ_SECONDS} s...`)
    const read = await readPhase(client, db, photo, service.child)
    process.stderr.write(` ${read.perSecond.toFixed(0)} req/s, ${read.errors} errors\n`)
    return { name, upload, read }
  } finally {
    await pool?.close().catch(() => undefined)
    await db?.destroy().catch(() => undefined)
    for (const child of children.reverse()) await stopProcess(child)
    await deployment.cleanup()
    rmSync(dir, { recursive: true, force: true })
  }
}

// ---------------------------------------------------------------- uploads

interface Client {
  pool: Pool
  authorization: string
}

const BOUNDARY = '----localexbench7d1f3a'
const multipart = (fields: Array<[string, string]>, file: Buffer) =>
  Buffer.concat([
    ...fields.map(([k, v]) =>
      Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`),
    ),
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\nContent-Type: ` +
        `image/jpeg\r\n\r\n`,
    ),
    file,
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ])

async function post(client: Client, path: string, body: Buffer): Promise<{ status: number; text: string }> {
  const res = await client.pool.request({
    method: 'POST',
    path,
    headers: {
      authorization: client.authorization,
      'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
      'content-length': String(body.length),
    },
    body,
  })
  return { status: res.statusCode, text: await res.body.text() }
}

async function uploadOnce(client: Client, photo: Buffer, item: string): Promise<string> {
  const { status, text } = await post(client, `/v1/items/${item}/photos`, multipart([], photo))
  if (status !== 201) throw new Error(`upload answered ${status}: ${text.slice(0, 300)}`)
  return (JSON.parse(text) as { id: string }).id
}

async function uploadPhase(
  client: Client,
  db: Db,
  photo: Buffer,
  service: ChildProcess,
  worker: ChildProcess | undefined,
): Promise<UploadResult> {
  const body = multipart([], photo)
  const readyBefore = await countStatus(db, 'ready')
  const latencies: number[] = []
  const errorSamples: string[] = []
  let errors = 0
  let n = 0
  let lastAccepted = 0
  resetPeakRss(process.pid)
  resetPeakRss(service.pid)
  if (worker) resetPeakRss(worker.pid)
  const t0 = performance.now()
  const wall0 = Date.now()
  const until = t0 + SECONDS * 1000
  await Promise.all(
    Array.from({ length: UPLOADERS }, async () => {
      while (performance.now() < until) {
        const item = `bench-${(n++).toString(36)}`
        const start = performance.now()
        try {
          const { status, text } = await post(client, `/v1/items/${item}/photos`, body)
          if (status === 201) {
            lastAccepted = performance.now()
            latencies.push(lastAccepted - start)
          } else {
            errors++
            if (errorSamples.length < 5) errorSamples.push(`${status}: ${text.slice(0, 200)}`)
          }
        } catch (error) {
          errors++
          if (errorSamples.length < 5) errorSamples.push(String(error))
        }
      }
    }),
  )
  const windowEnd = performance.now()
  const accepted = latencies.length
  const loadRssMb = peakRssMb(process.pid)
  // Every accepted photo to `ready` (or `failed`), then the time of the last `ready` from the rows.
  const counts = await waitSettled(db, readyBefore + accepted, Math.max(600_000, SECONDS * 10_000))
  const lastReady = await db
    .selectFrom('files')
    .select((eb) => eb.fn.max('ready_at').as('at'))
    .executeTakeFirstOrThrow()
  const readySeconds = (Date.parse(String(lastReady.at)) - wall0) / 1000
  const windowEndIso = new Date(wall0 + SECONDS * 1000).toISOString()
  const inWindow = await db
    .selectFrom('files')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('status', '=', 'ready')
    .where('ready_at', '>=', new Date(wall0).toISOString())
    .where('ready_at', '<=', windowEndIso)
    .executeTakeFirstOrThrow()
  const readyNow = counts.ready - readyBefore
  return {
    ...percentiles(latencies),
    accepted,
    acceptedPerSecond: accepted / ((lastAccepted - t0) / 1000),
    errors: errors + counts.failed,
    errorSamples: counts.failed ? [...errorSamples, `${counts.failed} photos ended failed`] : errorSamples,
    failed: counts.failed,
    readyPerSecond: readyNow / readySeconds,
    readySeconds,
    drainSeconds: readySeconds - (windowEnd - t0) / 1000,
    readyInWindow: Number(inWindow.n),
    serviceRssMb: peakRssMb(service.pid),
    workerRssMb: worker ? peakRssMb(worker.pid) : null,
    loadRssMb,
  }
}

async function countStatus(db: Db, status: 'ready' | 'failed'): Promise<number> {
  const row = await db
    .selectFrom('files')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('status', '=', status)
    .executeTakeFirstOrThrow()
  return Number(row.n)
}

async function waitReady(db: Db, n: number, timeoutMs: number): Promise<void> {
  const counts = await waitSettled(db, n, timeoutMs)
  if (counts.failed) throw new Error(`${counts.failed} photos failed`)
}

/** Polls until `ready + failed` reaches `n` (nothing is left uploading or processing). */
async function waitSettled(db: Db, n: number, timeoutMs: number): Promise<{ ready: number; failed: number }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const rows = await db
      .selectFrom('files')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('status')
      .execute()
    const of = (s: string) => Number(rows.find((r) => r.status === s)?.n ?? 0)
    const counts = { ready: of('ready'), failed: of('failed') }
    if (counts.ready + counts.failed >= n) return counts
    if (Date.now() > deadline) throw new Error(`not settled after ${timeoutMs / 1000} s: ${JSON.stringify(rows)}`)
    await sleep(200)
  }
}

// ---------------------------------------------------------------- reads

async function readPhase(client: Client, db: Db, photo: Buffer, service: ChildProcess): Promise<ReadResult> {
  const publicIds = (
    await db
      .selectFrom('files')
      .select('id')
      .where('status', '=', 'ready')
      .where('access_level', '=', 'public')
      .limit(200)
      .execute()
  ).map((r) => r.id)
  const privateIds: string[] = []
  const before = (await countStatus(db, 'ready')) + (await countStatus(db, 'failed'))
  const document = multipart([['type', 'passport']], photo)
  for (let i = 0; i < 8; i++) {
    const { status, text } = await post(client, '/v1/verification-documents', document)
    if (status !== 201) throw new Error(`verification document answered ${status}: ${text.slice(0, 300)}`)
    privateIds.push((JSON.parse(text) as { id: string }).id)
  }
  await waitReady(db, before + privateIds.length, 120_000)
  if (publicIds.length === 0) throw new Error('no public file to read')
  const paths = [
    ...publicIds.flatMap((id) => [`/v1/files/${id}`, `/v1/files/${id}/url?variant=medium`]),
    ...privateIds.flatMap((id) => [`/v1/files/${id}`, `/v1/files/${id}/url`]),
  ]
  // Half the requests on public files, half on private ones, metadata and URL alike.
  const pub = paths.slice(0, publicIds.length * 2)
  const priv = paths.slice(publicIds.length * 2)
  const latencies: number[] = []
  const errorSamples: string[] = []
  let errors = 0
  let n = 0
  // Warm-up, not counted: every connection open, every route compiled.
  const warmUntil = performance.now() + 2000
  let w = 0
  await Promise.all(
    Array.from({ length: READERS }, async () => {
      while (performance.now() < warmUntil) {
        const i = w++
        const list = i % 2 === 0 ? pub : priv
        const res = await client.pool.request({
          method: 'GET',
          path: list[i % list.length] as string,
          headers: { authorization: client.authorization },
        })
        await res.body.text()
      }
    }),
  )
  resetPeakRss(process.pid)
  resetPeakRss(service.pid)
  const t0 = performance.now()
  const until = t0 + READ_SECONDS * 1000
  await Promise.all(
    Array.from({ length: READERS }, async () => {
      while (performance.now() < until) {
        const i = n++
        const list = i % 2 === 0 ? pub : priv
        const path = list[Math.floor(i / 2) % list.length] as string
        const start = performance.now()
        try {
          const res = await client.pool.request({
            method: 'GET',
            path,
            headers: { authorization: client.authorization },
          })
          const text = await res.body.text()
          if (res.statusCode === 200) latencies.push(performance.now() - start)
          else {
            errors++
            if (errorSamples.length < 5) errorSamples.push(`${res.statusCode} ${path}: ${text.slice(0, 200)}`)
          }
        } catch (error) {
          errors++
          if (errorSamples.length < 5) errorSamples.push(String(error))
        }
      }
    }),
  )
  const seconds = (performance.now() - t0) / 1000
  return {
    ...percentiles(latencies),
    requests: latencies.length + errors,
    perSecond: latencies.length / seconds,
    errors,
    errorSamples,
    serviceRssMb: peakRssMb(service.pid),
    loadRssMb: peakRssMb(process.pid),
  }
}

// ---------------------------------------------------------------- processes

/** `localex-storage <command>` from the sources, in its own process; resolves once it says it runs. */
function startProcess(
  command: string,
  env: Record<string, string>,
  ready: RegExp,
): Promise<{ child: ChildProcess; match: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, command], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let err = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${command} did not start: ${err}`))
    }, 60_000)
    child.stderr?.on('data', (c: Buffer) => {
      const text = c.toString()
      err += text
      const m = ready.exec(err)
      if (m) {
        clearTimeout(timer)
        resolve({ child, match: m[1] ?? m[0] })
      }
      // Anything it says later (warnings) goes to our stderr.
      else if (err.length > 20_000) err = err.slice(-10_000)
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${command} exited with ${code}: ${err}`))
    })
  })
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  await exited
  clearTimeout(timer)
}

/** Peak resident set size (VmHWM) of a process, in MB. */
function peakRssMb(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN)
  return kb / 1024
}

/** Resets VmHWM to the current RSS (Linux `clear_refs` 5), so each phase reports its own peak. */
function resetPeakRss(pid: number | undefined): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
  } catch {
    // Not allowed here: the peak then covers the process's life so far.
  }
}

// ---------------------------------------------------------------- PostgreSQL, Redis, S3

async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 })
  await redis.connect()
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      if (keys.length) await redis.del(...keys)
      cursor = next
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}

async function deleteBucket(s3: S3Client, bucket: string): Promise<void> {
  for (;;) {
    const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))
    for (const u of page.Uploads ?? [])
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }))
    if (!page.IsTruncated) break
  }
  for (;;) {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket }))
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key as string }))
    if (keys.length === 0) break
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }))
  }
  await s3.send(new DeleteBucketCommand({ Bucket: bucket }))
}

// ---------------------------------------------------------------- report

function percentiles(values: number[]): Latencies {
  const sorted = [...values].sort((a, b) => a - b)
  // Nearest rank.
  const at = (q: number) =>
    sorted.length ? (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number) : NaN
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

const fmtLoad = (l: number[]) => l.map((v) => v.toFixed(1)).join(' ')
const ms = (v: number) => (v >= 100 ? `${v.toFixed(0)} ms` : `${v.toFixed(1)} ms`)
const mb = (v: number) => `${v.toFixed(0)} MB`
const sleep = (t: number) => new Promise((r) => setTimeout(r, t))

function table(rows: string[][]): string {
  const widths = (rows[0] as string[]).map((_, c) => Math.max(3, ...rows.map((row) => (row[c] ?? '').length)))
  const line = (row: string[]) => `| ${row.map((cell, c) => cell.padEnd(widths[c] as number)).join(' | ')} |`
  const rule = `| ${widths.map((w, c) => (c === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`
  return [line(rows[0] as string[]), rule, ...rows.slice(1).map(line)].join('\n')
}

function report(r: {
  photoName: string
  baseline: BaselineRound[]
  results: TargetResult[]
  loadStart: number[]
  loadEnd: number[]
  startedAt: Date
}): void {
  const rounds = (kind: BaselineKind) => r.baseline.filter((b) => b.kind === kind)
  const rate = (kind: BaselineKind) => median(rounds(kind).map((b) => b.perSecond))
  const base = rate('pipeline')
  const processRate = rate('process')
  const { uploadOriginal } = loadImagesConfig(process.env)
  const label = (name: string) =>
    name === 'embedded' ? 'embedded (disk, SQLite, in-process queue)' : 'production (radosgw, PostgreSQL, BullMQ)'
  const verdict = (u: UploadResult) => (u.readyPerSecond / base >= TARGET_RATIO && u.errors === 0 ? 'pass' : 'FAIL')
  const pct = (v: number, of: number) => `${((v / of) * 100).toFixed(0)} %`
  const out: string[] = []
  out.push('')
  out.push(
    `HTTP service, ${r.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC: ${cpus().length} CPUs ` +
      `(${cpus()[0]?.model ?? '?'}), Node ${process.version}, sharp ${sharp.versions.sharp ?? '?'} (libvips ` +
      `${sharp.versions.vips}); load average at start ${fmtLoad(r.loadStart)}, at end ${fmtLoad(r.loadEnd)}. ` +
      `IMAGE_UPLOAD_ORIGINAL=${uploadOriginal}.`,
  )
  out.push(
    `Photo: ${r.photoName}. Uploads: ${UPLOADERS} connections for ${SECONDS} s, then the backlog drains to ` +
      `\`ready\`. Reads: ${READERS} connections for ${READ_SECONDS} s. Baselines: ${UPLOADERS} at a time for ` +
      `${BASELINE_SECONDS} s, ${rounds('pipeline').length} rounds each.`,
  )
  out.push('')
  const baselineRow = (kind: BaselineKind, name: string) => [
    name,
    rounds(kind)
      .map((b) => String(b.photos))
      .join(' / '),
    '',
    '',
    '',
    `${rate(kind).toFixed(2)} (median of ${rounds(kind)
      .map((b) => b.perSecond.toFixed(2))
      .join(', ')})`,
    kind === 'pipeline' ? '100 %' : pct(rate(kind), base),
    kind === 'process' ? '100 %' : pct(base, processRate),
    '',
    `${mb(Math.max(...rounds(kind).map((b) => b.rssMb)))} (its own process)`,
  ]
  out.push(
    table([
      [
        'uploads (POST /v1/items/:itemId/photos)',
        'accepted',
        'uploads/s (201)',
        'p50 / p95 / p99 of the 201',
        'errors',
        'photos/s to ready',
        'of pipeline',
        'of process()',
        `≥ ${TARGET_RATIO * 100} % of pipeline, 0 errors`,
        'peak RSS: service / worker / load',
      ],
      ...r.results.map(({ name, upload: u }) => [
        label(name),
        String(u.accepted),
        u.acceptedPerSecond.toFixed(2),
        `${ms(u.p50)} / ${ms(u.p95)} / ${ms(u.p99)}`,
        String(u.errors),
        `${u.readyPerSecond.toFixed(2)} (last at ${u.readySeconds.toFixed(0)} s)`,
        pct(u.readyPerSecond, base),
        pct(u.readyPerSecond, processRate),
        verdict(u),
        `${mb(u.serviceRssMb)} / ${u.workerRssMb === null ? '—' : mb(u.workerRssMb)} / ${mb(u.loadRssMb)}`,
      ]),
      baselineRow('pipeline', `baseline pipeline: prepareOriginal + renderVariants, ${UPLOADERS} at a time`),
      baselineRow('process', `baseline process(): one decode, ${UPLOADERS} at a time`),
    ]),
  )
  out.push('')
  out.push(
    table([
      [
        'reads (GET /v1/files/:id, /url; public + private)',
        'requests',
        'req/s',
        'p50 / p95 / p99',
        'errors',
        'peak RSS: service / load',
      ],
      ...r.results.map(({ name, read: x }) => [
        label(name),
        String(x.requests),
        x.perSecond.toFixed(0),
        `${ms(x.p50)} / ${ms(x.p95)} / ${ms(x.p99)}`,
        String(x.errors),
        `${mb(x.serviceRssMb)} / ${mb(x.loadRssMb)}`,
      ]),
    ]),
  )
  out.push('')
  for (const { name, upload: u, read: x } of r.results) {
    out.push(
      `${label(name)}: ${u.readyInWindow} photos ready within the first ${SECONDS} s ` +
        `(${(u.readyInWindow / SECONDS).toFixed(2)}/s), the last 201 at ` +
        `${(u.readySeconds - u.drainSeconds).toFixed(0)} s, the last \`ready\` at ${u.readySeconds.toFixed(0)} s; ` +
        `${verdict(u) === 'pass' ? 'meets' : 'misses'} the target (${pct(u.readyPerSecond, base)} of the pipeline, ` +
        `${pct(u.readyPerSecond, processRate)} of process(), ${u.errors} errors).`,
    )
    for (const sample of [...u.errorSamples, ...x.errorSamples]) out.push(`  error: ${sample}`)
  }
  console.log(out.join('\n'))
}

await main()
