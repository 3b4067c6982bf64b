/**
 * Object store benchmark: `npm run bench:storage` (tsx). Measures the s3 driver against the bare
 * AWS SDK with the same client settings (keep-alive pool, timeouts, checksum settings), in the
 * same run and interleaved call by call, so both see the same server state; the disk driver is
 * measured beside them for reference. Goal: driver overhead within 10 % of the bare SDK.
 *
 * Uses the S3 server of scripts/s3-server.sh (radosgw on loopback): starts it when it is not
 * running and stops it again afterwards. Creates a bucket and removes it.
 *
 * Environment: BENCH_RUNS (default 20) samples for the single-call medians; BENCH_ROUNDS
 * (default 7) rounds of the 50-concurrent case.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CreateBucketCommand, DeleteBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { loadConfig } from '../src/config/index.js'
import { createObjectStore, type ObjectStore } from '../src/storage/index.js'
import { leaseS3Server } from '../test/support/s3-server.js'
import { bareClient } from './sdk-client.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 20)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const MiB = 1024 * 1024
const CONCURRENT = 50

type Op = () => Promise<unknown>

interface Row {
  name: string
  driver: number
  sdk: number
  disk: number
}

async function main(): Promise<void> {
  const server = await leaseS3Server({ log: (m) => console.error(m) })
  const dataDir = mkdtempSync(join(tmpdir(), 'localex-bench-'))
  const vars = server.vars
  const bucket = `bench-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
  const secret = randomBytes(32).toString('base64url')
  const config = loadConfig({
    ...vars,
    STORAGE_DRIVER: 's3',
    S3_BUCKET: bucket,
    S3_REGION: vars.AWS_REGION,
    DATA_DIR: dataDir,
    URL_SIGNING_SECRET: secret,
    JWT_SECRET: secret,
  })
  const diskConfig = loadConfig({
    DATA_DIR: dataDir,
    STORAGE_DRIVER: 'disk',
    URL_SIGNING_SECRET: secret,
    JWT_SECRET: secret,
  })
  const driver = createObjectStore(config)
  const disk = createObjectStore(diskConfig)
  const sdk = bareClient(config)
  try {
    await sdk.send(new CreateBucketCommand({ Bucket: bucket }))
    const put5 = randomBytes(5 * MiB)
    const get1 = randomBytes(MiB)
    const put1 = randomBytes(MiB)
    await driver.put('get/1mb', get1)
    await disk.put('get/1mb', get1)

    const cleanup = async () => {
      await emptyStore(driver, ['put5/', 'put1/'])
      await emptyStore(disk, ['put5/', 'put1/'])
    }
    const rows: Row[] = []
    rows.push(
      await compare(
        'put 5 MB (median of single calls)',
        RUNS,
        {
          driver: (i) => () => driver.put(`put5/driver-${i}`, put5, { contentType: 'application/octet-stream' }),
          sdk: (i) => () =>
            sdk.send(
              new PutObjectCommand({
                Bucket: bucket,
                Key: `put5/sdk-${i}`,
                Body: put5,
                ContentLength: put5.length,
                ContentType: 'application/octet-stream',
              }),
            ),
          disk: (i) => () => disk.put(`put5/disk-${i}`, put5, { contentType: 'application/octet-stream' }),
        },
        cleanup,
      ),
    )
    rows.push(
      await compare('get 1 MB (median of single calls)', RUNS, {
        driver: () => () => driver.getBuffer('get/1mb'),
        sdk: () => async () => {
          const out = await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: 'get/1mb' }))
          return out.Body?.transformToByteArray()
        },
        disk: () => () => disk.getBuffer('get/1mb'),
      }),
    )
    rows.push(
      await compare(
        `${CONCURRENT} concurrent 1 MB puts (median wall time)`,
        ROUNDS,
        {
          driver: (r) => () => all(CONCURRENT, (i) => driver.put(`put1/driver-${r}-${i}`, put1)),
          sdk: (r) => () =>
            all(CONCURRENT, (i) =>
              sdk.send(
                new PutObjectCommand({
                  Bucket: bucket,
                  Key: `put1/sdk-${r}-${i}`,
                  Body: put1,
                  ContentLength: put1.length,
                }),
              ),
            ),
          disk: (r) => () => all(CONCURRENT, (i) => disk.put(`put1/disk-${r}-${i}`, put1)),
        },
        cleanup,
      ),
    )
    print(rows)
  } finally {
    await emptyStore(driver, ['']).then(
      () => sdk.send(new DeleteBucketCommand({ Bucket: bucket })),
      (error: unknown) => {
        console.error(`could not remove bucket ${bucket}:`, error)
      },
    )
    sdk.destroy()
    await driver.close()
    await disk.close()
    rmSync(dataDir, { recursive: true, force: true })
    await server.release()
  }
}

/**
 * Two warm-up calls each, then `n` samples with the order of driver and SDK alternating, so
 * neither always runs on a warmer server. Returns medians in ms.
 */
async function compare(
  name: string,
  n: number,
  make: { driver: (i: number) => Op; sdk: (i: number) => Op; disk: (i: number) => Op },
  cleanup?: () => Promise<void>,
): Promise<Row> {
  for (let w = 0; w < 2; w++) {
    await make.driver(-1 - w)()
    await make.sdk(-1 - w)()
    await make.disk(-1 - w)()
    await cleanup?.()
  }
  const samples = { driver: [] as number[], sdk: [] as number[], disk: [] as number[] }
  for (let i = 0; i < n; i++) {
    const order: ('driver' | 'sdk')[] = i % 2 === 0 ? ['driver', 'sdk'] : ['sdk', 'driver']
    for (const which of order) samples[which].push(await time(make[which](i)))
    samples.disk.push(await time(make.disk(i)))
    // Untimed: the test server keeps objects in RAM (memstore), so nothing accumulates.
    await cleanup?.()
  }
  return { name, driver: median(samples.driver), sdk: median(samples.sdk), disk: median(samples.disk) }
}

async function time(op: Op): Promise<number> {
  const start = performance.now()
  await op()
  return performance.now() - start
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

async function all(n: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  await Promise.all(Array.from({ length: n }, (_, i) => fn(i)))
}

/** The bare SDK as the driver configures it: same pool size, timeouts, checksum settings. */
function print(rows: Row[]): void {
  const fmt = (ms: number) => `${ms.toFixed(1)} ms`
  const table = [
    ['operation', 's3 driver', 'bare SDK', 'driver / SDK', 'disk driver'],
    ...rows.map((r) => [r.name, fmt(r.driver), fmt(r.sdk), `${(r.driver / r.sdk).toFixed(3)}`, fmt(r.disk)]),
  ]
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)))
  const line = (row: string[]) =>
    `| ${row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join(' | ')} |`
  console.log(
    `\nObject store benchmark (${RUNS} samples, ${ROUNDS} rounds of ${CONCURRENT}; radosgw on loopback; node ` +
      `${process.version})\n`,
  )
  console.log(line(table[0]!))
  console.log(`|${widths.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`)
  for (const row of table.slice(1)) console.log(line(row))
  const worst = Math.max(...rows.map((r) => r.driver / r.sdk))
  console.log(`\nLargest driver/SDK ratio: ${worst.toFixed(3)} (goal: at most 1.10)`)
}

async function emptyStore(store: ObjectStore, prefixes: string[]): Promise<void> {
  const keys: string[] = []
  for (const prefix of prefixes)
    for await (const entry of store.list(prefix)) if (entry.type === 'object') keys.push(entry.key)
  const result = await store.deleteMany(keys)
  if (result.failed.length) throw new Error(`could not delete ${result.failed.length} benchmark objects`)
}

await main()
