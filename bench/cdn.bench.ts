/**
 * CDN hit-ratio benchmark: `npm run bench:cdn` (tsx). A Zipf-distributed read workload through a
 * real Varnish edge (scripts/varnish.sh, the project's VCL) in front of the service's delivery
 * route (`/files/*` over a disk store), the way public photos are read: immutable keys, `public, max-age=2592000,
 * immutable`.
 * Reports the hit ratio read off each answer's X-Cache, overall and once warm, next to the
 * ceiling a cold cache allows (1 − distinct objects / requests) and the seed's 85 %.
 *
 * Environment: BENCH_OBJECTS (default 2000), BENCH_REQUESTS (default 40000), BENCH_ZIPF_S
 * (default 1.0), BENCH_CONCURRENCY (default 16), BENCH_OBJECT_BYTES (default 12288),
 * BENCH_SEED (default 42).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { requestThroughEdge } from '../src/cdn/index.js'
import { ensureGeneratedSecrets, loadConfig } from '../src/config/index.js'
import type { FileManager } from '../src/files/types.js'
import { buildHttpApp } from '../src/http/app.js'
import { createObjectStore } from '../src/storage/index.js'
import { freePort, startVarnish } from '../test/support/varnish.js'

const OBJECTS = Number(process.env.BENCH_OBJECTS ?? 2000)
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 40_000)
const S = Number(process.env.BENCH_ZIPF_S ?? 1.0)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16)
const BYTES = Number(process.env.BENCH_OBJECT_BYTES ?? 12 * 1024)
const SEED = Number(process.env.BENCH_SEED ?? 42)

/** mulberry32: a small seeded PRNG, so a run can be repeated exactly. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Ranks 0..n-1 drawn with P(k) ∝ 1/(k+1)^s. */
function zipf(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n)
  let sum = 0
  for (let k = 0; k < n; k++) cdf[k] = sum += 1 / (k + 1) ** s
  return () => {
    const u = random() * sum
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((cdf[mid] as number) < u) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'localex-bench-cdn-'))
  const appPort = await freePort()
  const edgePort = await freePort()
  const env = { DATA_DIR: dir, LOG_LEVEL: 'silent', PUBLIC_BASE_URL: `http://127.0.0.1:${appPort}` }
  ensureGeneratedSecrets(env)
  const config = loadConfig(env)
  const store = createObjectStore(config, { durable: false })
  // Only the delivery route is used: the file layer is not needed.
  const health = { db: async () => {}, store: () => store.ping(), queue: async () => {} }
  const app = buildHttpApp({ config, store, files: {} as FileManager, health, logger: false, web: false })
  await app.listen({ port: appPort, host: '127.0.0.1' })
  const edge = await startVarnish(edgePort, `127.0.0.1:${appPort}`)
  try {
    process.stdout.write(`writing ${OBJECTS} objects of ${BYTES} bytes...\n`)
    const keys = Array.from(
      { length: OBJECTS },
      (_, i) => `items/bench/photos/p${String(i).padStart(5, '0')}/medium.jpg`,
    )
    for (let i = 0; i < keys.length; i += 50) {
      await Promise.all(
        keys.slice(i, i + 50).map((key) =>
          store.put(key, randomBytes(BYTES), {
            contentType: 'image/jpeg',
            cacheControl: config.files.cacheControl.public,
          }),
        ),
      )
    }
    const draw = zipf(OBJECTS, S, rng(SEED))
    const picks = Array.from({ length: REQUESTS }, draw)
    const urls = picks.map((k) => `${edge.url}/files/${keys[k]}`)
    const started = performance.now()
    const results = await requestThroughEdge(urls, { concurrency: CONCURRENCY })
    const seconds = (performance.now() - started) / 1000

    const ratio = (from: number, to: number) => {
      let hits = 0
      let misses = 0
      for (const r of results.slice(from, to)) {
        if (r.result === 'hit') hits++
        else if (r.result === 'miss') misses++
      }
      return { hits, misses, ratio: hits / Math.max(1, hits + misses) }
    }
    const all = ratio(0, REQUESTS)
    const warm = ratio(Math.floor(REQUESTS / 2), REQUESTS)
    const errors = results.filter((r) => r.result === 'error').length
    const distinct = new Set(picks).size
    const ceiling = 1 - distinct / REQUESTS
    const top10 = picks.filter((k) => k < Math.ceil(OBJECTS * 0.1)).length / REQUESTS
    const pct = (x: number) => `${(x * 100).toFixed(1)} %`
    process.stdout.write(
      [
        '',
        `Zipf s=${S} over ${OBJECTS} objects, ${REQUESTS} requests, ${CONCURRENCY} in flight, seed ${SEED} (top 10 % ` +
          `of objects get ${pct(top10)} of reads)`,
        `| measure | value |`,
        `| --- | --- |`,
        `| hit ratio, whole run (cold start) | ${pct(all.ratio)} (${all.hits} hits, ${all.misses} misses, ${errors} ` +
          `errors) |`,
        `| hit ratio, second half | ${pct(warm.ratio)} |`,
        `| ceiling for this run: 1 − distinct/requests | ${pct(ceiling)} (${distinct} distinct objects) |`,
        `| seed's figure / goal | 85 % / ≥ 95 % |`,
        `| throughput through the edge | ${(REQUESTS / seconds).toFixed(0)} req/s |`,
        '',
      ].join('\n'),
    )
  } finally {
    await edge.stop()
    await app.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
  process.exitCode = 1
})
