/**
 * Orphan sweep benchmark: `npm run bench:ops` (tsx). Plants BENCH_KEYS (default 100,000) tiny
 * objects in a fresh radosgw bucket, with PostgreSQL rows for 90 % of them (8 objects per file,
 * the layout's item photos; a few rows lack their thumbnail) and 10 % orphans with no row, then
 * runs the sweep (`findOrphans`, both directions, report mode) in a child process and reports
 * its duration and peak RSS. It measures twice, at a tenth of the keys and at all of them, so
 * that memory staying flat while the keys grow tenfold shows the walk is bounded.
 *
 * Uses scripts/s3-server.sh's radosgw (started if needed, stopped again if this run started
 * it) and the PostgreSQL of TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres),
 * where it creates a database and drops it afterwards. Deletes every object and the bucket.
 *
 * Environment: BENCH_KEYS (default 100000), BENCH_PUT_CONCURRENCY (default 64).
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CreateBucketCommand, DeleteBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import type { Insertable } from 'kysely'
import { loadConfig, type Config } from '../src/config/index.js'
import { createDatabase, migrateToLatest, type Db, type FilesTable } from '../src/db/index.js'
import { encodeObjects } from '../src/db/json.js'
import { findOrphans } from '../src/ops/orphans.js'
import { createObjectStore } from '../src/storage/index.js'
import { newId } from '../src/storage/keys.js'
import { mapLimit } from '../src/lib/index.js'
import { PG_ADMIN_URL, pgAdmin } from '../test/support/db.js'
import { leaseS3Server } from '../test/support/s3-server.js'
import { bareClient } from './sdk-client.js'

const KEYS = Number(process.env.BENCH_KEYS ?? 100_000)
const CONCURRENCY = Number(process.env.BENCH_PUT_CONCURRENCY ?? 64)
const OUTPUTS = [
  'original.jpg',
  'original.webp',
  'large.jpg',
  'large.webp',
  'medium.jpg',
  'medium.webp',
  'thumbnail.jpg',
  'thumbnail.webp',
]

interface SweepResult {
  keys: number
  durationMs: number
  peakRssMiB: number
  startRssMiB: number
  orphans: number
  missingRows: number
  rowsChecked: number
}

/** The measured part, alone in its process so its peak RSS is its own. */
async function sweep(): Promise<void> {
  const config = loadConfig(JSON.parse(process.env.BENCH_ENV ?? '{}') as Record<string, string>)
  const store = createObjectStore(config)
  const db = await createDatabase(config)
  let peak = process.memoryUsage().rss
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10)
  try {
    global.gc?.()
    const startRss = process.memoryUsage().rss
    const started = performance.now()
    const summary = await findOrphans({ config, store, db }, { olderThanMs: 0 })
    const durationMs = performance.now() - started
    peak = Math.max(peak, process.memoryUsage().rss)
    if (summary.errors.length) throw new Error(`sweep errors: ${JSON.stringify(summary.errors.slice(0, 3))}`)
    const result: SweepResult = {
      keys: summary.bucket.objects,
      durationMs: Math.round(durationMs),
      peakRssMiB: Math.round(peak / 2 ** 20),
      startRssMiB: Math.round(startRss / 2 ** 20),
      orphans: summary.orphans.objects,
      missingRows: summary.rows.missingDerived + summary.rows.missingOriginal,
      rowsChecked: summary.rows.checked,
    }
    process.stdout.write(JSON.stringify(result) + '\n')
  } finally {
    clearInterval(sampler)
    await db.destroy()
    await store.close()
  }
}

async function main(): Promise<void> {
  const server = await leaseS3Server({ log: (m) => console.error(m) })
  const vars = server.vars
  const bucket = `bench-orphans-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
  const database = `localex_bench_${randomBytes(5).toString('hex')}`
  const dataDir = mkdtempSync(join(tmpdir(), 'localex-bench-'))
  const secret = randomBytes(32).toString('base64url')
  const url = new URL(PG_ADMIN_URL)
  url.pathname = `/${database}`
  const env: Record<string, string> = {
    ...vars,
    STORAGE_DRIVER: 's3',
    S3_BUCKET: bucket,
    S3_REGION: vars.AWS_REGION as string,
    DATA_DIR: dataDir,
    DATABASE_URL: url.toString(),
    URL_SIGNING_SECRET: secret,
    JWT_SECRET: secret,
    LOG_LEVEL: 'silent',
  }
  await pgAdmin((c) => c.query(`CREATE DATABASE "${database}"`))
  const config = loadConfig(env)
  const store = createObjectStore(config)
  const client = bareClient(config)
  const db = await createDatabase(config)
  const keys: string[] = []
  try {
    await migrateToLatest(db)
    await client.send(new CreateBucketCommand({ Bucket: bucket }))
    const results: Array<{ plantMs: number; sweep: SweepResult }> = []
    for (const target of [Math.round(KEYS / 10), KEYS]) {
      const t0 = performance.now()
      await plant(config, db, keys, target - keys.length)
      const plantMs = performance.now() - t0
      const sweep = await sweepInChild(env)
      results.push({ plantMs, sweep })
      console.error(
        `${sweep.keys} keys: planted in ${(plantMs / 1000).toFixed(1)} s; sweep ${sweep.durationMs} ms, peak RSS ` +
          `${sweep.peakRssMiB} MiB (${sweep.startRssMiB} MiB at start), ${sweep.orphans} orphans, ` +
          `${sweep.missingRows} rows missing objects, ${sweep.rowsChecked} rows checked`,
      )
    }
    console.log(
      '\n| keys in the bucket | rows checked | orphans found | rows missing objects | sweep duration | keys/s | peak ' +
        'RSS (at start) |',
    )
    console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
    for (const { sweep: s } of results) {
      console.log(
        `| ${s.keys.toLocaleString('en')} | ${s.rowsChecked.toLocaleString('en')} | ` +
          `${s.orphans.toLocaleString('en')} | ${s.missingRows} | ${(s.durationMs / 1000).toFixed(1)} s | ` +
          `${Math.round(s.keys / (s.durationMs / 1000)).toLocaleString('en')} | ${s.peakRssMiB} MiB ` +
          `(${s.startRssMiB} MiB) |`,
      )
    }
  } finally {
    console.error(`cleaning up ${keys.length} objects…`)
    for (let i = 0; i < keys.length; i += 1000) await store.deleteMany(keys.slice(i, i + 1000))
    await client
      .send(new DeleteBucketCommand({ Bucket: bucket }))
      .catch((error: unknown) => console.error(`bucket ${bucket} not deleted: ${String(error)}`))
    await db.destroy()
    await store.close()
    client.destroy()
    await pgAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`))
    rmSync(dataDir, { recursive: true, force: true })
    await server.release()
  }
}

/**
 * Adds `count` keys: 9 in 10 belong to files with rows (8 objects each; every 40th file lacks
 * its thumbnail.webp), the rest are orphans. Rows go in 500 per INSERT; objects go up as 1-byte
 * PutObjects, CONCURRENCY at once.
 */
async function plant(config: Config, db: Db, keys: string[], count: number): Promise<void> {
  const client = bareClient(config)
  const bucket = config.storage.s3.bucket
  const batch: string[] = []
  const rows: Insertable<FilesTable>[] = []
  const at = new Date(Date.now() - 86_400_000).toISOString()
  const base = keys.length
  let planted = 0
  let files = base
  let orphans = Math.floor(base / 10)
  const flush = async () => {
    if (rows.length) await db.insertInto('files').values(rows.splice(0)).execute()
    const chunk = batch.splice(0)
    await mapLimit(chunk, CONCURRENCY, (key) =>
      client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x', ContentLength: 1 })),
    )
    keys.push(...chunk)
    process.stderr.write(`\rplanted ${keys.length} keys`)
  }
  while (planted < count) {
    if (orphans < Math.floor((base + planted) / 10) || count - planted < OUTPUTS.length) {
      batch.push(`items/orphan-${orphans % 97}/photos/${newId()}/original.jpg`)
      planted++
      orphans++
    } else {
      const id = newId()
      const prefix = `items/item-${files % 997}/photos/${id}/`
      const objects = OUTPUTS.map((name) => ({
        variant: name.split('.')[0] as string,
        format: (name.endsWith('.webp') ? 'webp' : 'jpeg') as 'webp' | 'jpeg',
        key: `${prefix}${name}`,
        contentType: 'image/jpeg',
        size: 1,
      }))
      const lacksThumb = files % 40 === 0
      for (const o of objects) if (!(lacksThumb && o.key.endsWith('thumbnail.webp'))) batch.push(o.key)
      planted += lacksThumb ? OUTPUTS.length - 1 : OUTPUTS.length
      rows.push({
        id,
        owner_id: `user-${files % 1000}`,
        entity_type: 'item',
        entity_id: `item-${files % 997}`,
        purpose: 'item_photo',
        document_type: null,
        access_level: 'public',
        status: 'ready',
        original_name: 'x.jpg',
        content_type: 'image/jpeg',
        bytes: 1,
        width: 1,
        height: 1,
        sha256: 'x',
        key_prefix: prefix,
        ...encodeObjects(objects),
        placeholder: null,
        dominant_color: null,
        position: null,
        error_reason: null,
        idempotency_key: null,
        created_at: at,
        updated_at: at,
        ready_at: at,
        deleted_at: null,
      })
      files++
    }
    if (batch.length >= 4000) await flush()
  }
  await flush()
  process.stderr.write('\n')
  client.destroy()
}

function sweepInChild(env: Record<string, string>): Promise<SweepResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...process.execArgv, '--expose-gc', fileURLToPath(import.meta.url), 'sweep'],
      { env: { ...process.env, BENCH_ENV: JSON.stringify(env) }, stdio: ['ignore', 'pipe', 'inherit'] },
    )
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.on('error', reject)
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`sweep child exited with ${code}`))
      resolve(JSON.parse(out.trim().split('\n').at(-1) as string) as SweepResult)
    })
  })
}

if (process.argv[2] === 'sweep') await sweep()
else await main()
