/**
 * Image pipeline benchmark: `npm run bench:images` (tsx). Prints tables of medians and ratios
 * against baselines measured in the same run, on real photos only:
 *
 *  1. synchronous part (validate + sanitised original + placeholder) vs decode + plain libjpeg-turbo encode;
 *  2. whole pipeline CPU and bytes vs a naive sharp pipeline, with PSNR/SSIM of every output;
 *  3. CPU vs ImageMagick `convert` and libvips' CLI producing the same outputs;
 *  4. photos/s on all cores and peak RSS with 8 photos in flight (in a child process);
 *  5. HEIC next to JPEG: the 12 MP photo as HEIC (made from the 12 MP JPEG) and the 8.5 MP iPhone
 *     photo, decoded by libheif in WebAssembly worker threads, against the same photo as JPEG.
 *
 * Environment: BENCH_RUNS (default 3) repetitions for medians; BENCH_QUICK=1 skips the 20 MP photo
 * and the CLI baselines; BENCH_ONLY=heic runs section 5 and the 12 MP rows (JPEG, HEIC) of
 * section 4 alone. The 20 MP photo comes from Debian's `lomiri-wallpapers-20.04` package
 * (`apt-get install lomiri-wallpapers-20.04`); without it that row is skipped with a hint.
 */
import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import sharp from 'sharp'
import { createImagePipeline, defaultHeifDecoder, type EncoderProfile, type Output } from '../src/images/index.js'
import { jpegClaiming, pixelFloodPng } from '../test/images/helpers.js'

const run = promisify(execFile)
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const QUICK = process.env.BENCH_QUICK === '1'
const HEIC_ONLY = process.env.BENCH_ONLY === 'heic'
const QUALITY = 85
const MAX_SIDE = 4000
const VARIANTS = [
  { name: 'thumbnail', size: 300 },
  { name: 'medium', size: 800 },
  { name: 'large', size: 1200 },
] as const

interface Photo {
  readonly label: string
  readonly path: string
}

const fixtureDir = fileURLToPath(new URL('../test/fixtures/images/', import.meta.url))
const WALLPAPER_20MP = '/usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg'
const PHOTOS: Photo[] = [
  {
    label: '12 MP phone photo 4032×3024, EXIF orientation 6',
    path: join(fixtureDir, 'jpeg-large-12mp-orientation-6.jpg'),
  },
  { label: '9 MP phone photo 4608×1976', path: join(fixtureDir, 'jpeg-gps-nokia-9mp-wide.jpg') },
  { label: '8 MP panorama 4096×2048', path: join(fixtureDir, 'jpeg-panorama-equirectangular.jpg') },
  { label: '20 MP photo 6028×3391 (lomiri-wallpapers-20.04)', path: WALLPAPER_20MP },
]
/** HEIC rows of section 5, each with the JPEG it is compared with (the same photo, where there is one). */
const HEICS: (Photo & { readonly jpeg?: string })[] = [
  {
    label: '12 MP HEIC 4032×3024, irot 270° (the 12 MP JPEG re-encoded by heif-enc)',
    path: join(fixtureDir, 'heic-large-12mp-irot-270.heic'),
    jpeg: join(fixtureDir, 'jpeg-large-12mp-orientation-6.jpg'),
  },
  {
    label: '8.5 MP iPhone 11 Pro Max HEIC 2566×3313, 42 tiles, Display P3',
    path: join(fixtureDir, 'heic-iphone-hevc-gps.heic'),
  },
]

// ---------------------------------------------------------------------------------------------
// Measuring

interface Sample {
  wallMs: number
  cpuMs: number
}

async function measure<T>(fn: () => Promise<T>): Promise<Sample & { value: T }> {
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const value = await fn()
  const cpu = process.cpuUsage(cpu0)
  return { wallMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, value }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/**
 * Medians of several functions measured round-robin (A, B, C, A, B, C, …), so that load from other
 * processes on a shared machine falls on all of them alike.
 */
async function interleaved<T>(
  runs: number,
  fns: (() => Promise<T>)[],
): Promise<{ wallMs: number; cpuMs: number; value: T }[]> {
  const values = [] as T[]
  for (const fn of fns) values.push(await fn()) // warm-up, and the outputs to compare
  const samples: Sample[][] = fns.map(() => [])
  for (let i = 0; i < runs; i++) {
    for (const [k, fn] of fns.entries()) (samples[k] as Sample[]).push(await measure(fn))
  }
  return samples.map((list, k) => ({
    wallMs: median(list.map((s) => s.wallMs)),
    cpuMs: median(list.map((s) => s.cpuMs)),
    value: values[k] as T,
  }))
}

/** Runs a command under /usr/bin/time; returns its user+system CPU in ms and max RSS in KiB. */
async function timed(cmd: string, args: string[]): Promise<{ cpuMs: number; maxRssKb: number }> {
  const { stderr } = await run('/usr/bin/time', ['-f', 'TIME %U %S %M', cmd, ...args], { maxBuffer: 1 << 24 })
  const line =
    stderr
      .split('\n')
      .reverse()
      .find((l) => l.startsWith('TIME ')) ?? ''
  const [, user = '0', system = '0', rss = '0'] = line.split(' ')
  return { cpuMs: (Number(user) + Number(system)) * 1000, maxRssKb: Number(rss) }
}

// ---------------------------------------------------------------------------------------------
// Pipelines being compared

interface Encoded {
  readonly key: string
  readonly width: number
  readonly height: number
  readonly data: Buffer
}

const fit = { fit: 'inside', withoutEnlargement: true } as const

/** The naive pipeline of the issue: every output from the upload, mozjpeg, WebP at default effort, Promise.all. */
async function naive(input: Buffer): Promise<Encoded[]> {
  const jobs = [{ name: 'original', size: MAX_SIDE }, ...VARIANTS].flatMap(({ name, size }) => {
    const base = () => sharp(input).rotate().resize(size, size, fit)
    return [
      base()
        .jpeg({ quality: QUALITY, mozjpeg: true })
        .toBuffer({ resolveWithObject: true })
        .then((r) => ({ key: `${name}.jpg`, ...r })),
      base()
        .webp({ quality: QUALITY })
        .toBuffer({ resolveWithObject: true })
        .then((r) => ({ key: `${name}.webp`, ...r })),
    ]
  })
  return (await Promise.all(jobs)).map((r) => ({
    key: r.key,
    width: r.info.width,
    height: r.info.height,
    data: r.data,
  }))
}

function fromOutputs(outputs: readonly Output[]): Encoded[] {
  return outputs.map((o) => ({ key: `${o.variant}.${o.ext}`, width: o.width, height: o.height, data: o.data }))
}

const pipelines: Record<EncoderProfile, ReturnType<typeof createImagePipeline>> = {
  compact: createImagePipeline({}, { encoderProfile: 'compact' }),
  fast: createImagePipeline({}, { encoderProfile: 'fast' }),
}

/**
 * Production path: the synchronous sanitised original, then the queued job renders the optimised
 * original (which replaces it) and everything else from it.
 */
async function ours(input: Buffer, profile: EncoderProfile): Promise<Encoded[]> {
  const p = pipelines[profile]
  const prepared = await p.prepareOriginal(input)
  return fromOutputs(await p.renderVariants(prepared.original.data))
}

const CONVERT = existsSync('/usr/bin/convert') ? '/usr/bin/convert' : 'convert'

/** ImageMagick as its users run it: one convert per output, `-define jpeg:size=` hints, two at a time. */
async function imagemagick(path: string, dir: string): Promise<{ cpuMs: number; outputs: Encoded[] }> {
  const jobs = [{ name: 'original', size: MAX_SIDE }, ...VARIANTS].flatMap(({ name, size }) =>
    (['jpg', 'webp'] as const).map((ext) => ({
      out: join(dir, `im-${name}.${ext}`),
      key: `${name}.${ext}`,
      args: [
        '-define',
        `jpeg:size=${size * 2}x${size * 2}`,
        path,
        '-auto-orient',
        '-colorspace',
        'sRGB',
        '-resize',
        `${size}x${size}>`,
        '-strip',
        '-quality',
        String(QUALITY),
        ...(ext === 'jpg' ? ['-interlace', 'Plane', '-sampling-factor', '4:2:0'] : []),
      ],
    })),
  )
  return cliBatch(
    CONVERT,
    jobs.map((j) => ({ ...j, args: [...j.args, j.out] })),
  )
}

/** libvips' own CLI doing the same: one vipsthumbnail per output (shrink-on-load, auto-rotate). */
async function vipsCli(path: string, dir: string): Promise<{ cpuMs: number; outputs: Encoded[] }> {
  const jobs = [{ name: 'original', size: MAX_SIDE }, ...VARIANTS].flatMap(({ name, size }) =>
    (['jpg', 'webp'] as const).map((ext) => {
      const out = join(dir, `vips-${name}.${ext}`)
      const opts = ext === 'jpg' ? `[Q=${QUALITY},interlace,optimize_coding,strip]` : `[Q=${QUALITY},strip]`
      return { out, key: `${name}.${ext}`, args: [path, '--size', `${size}x${size}>`, '-o', out + opts] }
    }),
  )
  return cliBatch('vipsthumbnail', jobs)
}

async function cliBatch(
  cmd: string,
  jobs: { out: string; key: string; args: string[] }[],
): Promise<{ cpuMs: number; outputs: Encoded[] }> {
  let cpuMs = 0
  const queue = [...jobs]
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      // Not `cpuMs += await …`: that reads cpuMs before the await, so the two workers' sums overwrote
      // each other and the CLI baselines came out low (by 50 % in one run).
      const { cpuMs: spent } = await timed(cmd, job.args)
      cpuMs += spent
    }
  }
  await Promise.all([worker(), worker()])
  const outputs: Encoded[] = []
  for (const job of jobs) {
    const data = readFileSync(job.out)
    const meta = await sharp(data).metadata()
    outputs.push({ key: job.key, width: meta.width, height: meta.height, data })
  }
  return { cpuMs, outputs }
}

// ---------------------------------------------------------------------------------------------
// Quality: PSNR and SSIM on greyscale pixels

async function grey(data: Buffer, width: number, height: number): Promise<Buffer> {
  return sharp(data).resize(width, height, { fit: 'fill' }).greyscale().raw().toBuffer()
}

function psnr(a: Buffer, b: Buffer): number {
  let se = 0
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] as number) - (b[i] as number)
    se += d * d
  }
  const mse = se / a.length
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse)
}

/** Mean SSIM over non-overlapping 8×8 windows (the classic constants for 8-bit). */
function ssim(a: Buffer, b: Buffer, width: number, height: number): number {
  const c1 = (0.01 * 255) ** 2
  const c2 = (0.03 * 255) ** 2
  let total = 0
  let windows = 0
  for (let y = 0; y + 8 <= height; y += 8) {
    for (let x = 0; x + 8 <= width; x += 8) {
      let sa = 0,
        sb = 0,
        saa = 0,
        sbb = 0,
        sab = 0
      for (let j = 0; j < 8; j++) {
        for (let i = 0; i < 8; i++) {
          const k = (y + j) * width + x + i
          const va = a[k] as number
          const vb = b[k] as number
          sa += va
          sb += vb
          saa += va * va
          sbb += vb * vb
          sab += va * vb
        }
      }
      const ma = sa / 64,
        mb = sb / 64
      const va = saa / 64 - ma * ma,
        vb = sbb / 64 - mb * mb,
        cov = sab / 64 - ma * mb
      total += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
      windows++
    }
  }
  return windows ? total / windows : 1
}

// ---------------------------------------------------------------------------------------------
// Child process mode: throughput and peak RSS, isolated from the parent's heap.

async function child(path: string, inFlight: number, total: number): Promise<void> {
  const input = readFileSync(path)
  const p = createImagePipeline()
  const one = async () => {
    const prepared = await p.prepareOriginal(input)
    await p.renderVariants(prepared.original.data)
  }
  await one() // warm-up
  let next = 0
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next++ < total) await one()
    }),
  )
  const wallMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  process.stdout.write(
    JSON.stringify({
      wallMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      photosPerSec: (total * 1000) / wallMs,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
    }) + '\n',
  )
}

async function inChild(
  path: string,
  inFlight: number,
  total: number,
): Promise<{ wallMs: number; cpuMs: number; photosPerSec: number; maxRssMb: number }> {
  const self = fileURLToPath(import.meta.url)
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', self, '--child', path, String(inFlight), String(total)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()))
    proc.on('error', reject)
    proc.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}'))
        : reject(new Error(`child exited with ${code}`)),
    )
  })
}

// ---------------------------------------------------------------------------------------------
// Report

const ms = (v: number) => `${v.toFixed(0)} ms`
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`
const kb = (v: number) => `${(v / 1024).toFixed(0)} KiB`

function table(head: string[], rows: (string | number)[][]): void {
  const cells = [head, ...rows.map((r) => r.map(String))]
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ')} |`
  console.log(line(head))
  console.log(`|${widths.map((w, i) => (i === 0 ? ':' : '') + '-'.repeat(w + 1) + (i === 0 ? '' : ':')).join('|')}|`)
  for (const r of cells.slice(1)) console.log(line(r))
  console.log('')
}

async function main(): Promise<void> {
  const photos = PHOTOS.filter((p) => {
    if (existsSync(p.path)) return !(QUICK && p.path === WALLPAPER_20MP)
    console.log(
      `(skipped: ${p.label}: ${p.path} is missing; install it with \`apt-get install lomiri-wallpapers-20.04\`)\n`,
    )
    return false
  })
  const [main12] = photos
  if (!main12) throw new Error('no benchmark photos found')
  console.log(
    `# Image pipeline benchmark\n\nsharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}, ` +
      `sharp.concurrency() = ${sharp.concurrency()}, ${cpus().length} CPUs, ` +
      `load average at start ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}, ${RUNS} runs (median), node ${process.version}\n`,
  )
  if (HEIC_ONLY) {
    await heicSection()
    await throughput([main12, HEICS[0] as Photo])
    return
  }

  // 1. Synchronous part
  console.log(
    '## 1. Synchronous part: validate + sanitised original + placeholder (p50, measured round-robin with the ' +
      'baselines)\n',
  )
  console.log('The sanitised original does not depend on the encoder profile: both profiles store the same one.\n')
  const syncRows: (string | number)[][] = []
  // Short and noisy (page faults on fresh 36 MB buffers cost 10–100 ms here, by luck): many rounds.
  const syncRuns = Math.max(11, RUNS * 4 + 1)
  for (const photo of photos) {
    const input = readFileSync(photo.path)
    const size = async (p: Promise<{ original: Output }>) => (await p).original.size
    const [plain, plainDefault, sanitised] = (await interleaved<number>(syncRuns, [
      async () => (await sharp(input, { ignoreIcc: true }).jpeg({ quality: QUALITY }).toBuffer()).length,
      async () => (await sharp(input).jpeg({ quality: QUALITY }).toBuffer()).length,
      () => size(pipelines.compact.prepareOriginal(input)),
    ])) as [Sample & { value: number }, Sample & { value: number }, Sample & { value: number }]
    syncRows.push([
      photo.label,
      `${ms(plain.wallMs)} / ${ms(plain.cpuMs)}`,
      `${ms(plainDefault.wallMs)} / ${ms(plainDefault.cpuMs)}`,
      `${ms(sanitised.wallMs)} / ${ms(sanitised.cpuMs)}`,
      ratio(sanitised.wallMs, plain.wallMs),
      ratio(sanitised.wallMs, plainDefault.wallMs),
      kb(sanitised.value),
    ])
  }
  table(
    [
      'photo',
      'decode + plain encode (wall / CPU)',
      'same, sharp ICC default',
      'ours: prepareOriginal',
      'wall ratio',
      'vs ICC default',
      'sanitised original',
    ],
    syncRows,
  )

  // 2. Whole pipeline vs naive
  console.log('## 2. Whole pipeline (8 outputs) vs the naive pipeline: CPU, bytes, quality\n')
  const pipeRows: (string | number)[][] = []
  const qualityRows: (string | number)[][] = []
  const cliRows: (string | number)[][] = []
  for (const photo of photos) {
    const input = readFileSync(photo.path)
    const runs = RUNS
    const [n, c, f, p] = (await interleaved<Encoded[]>(runs, [
      () => naive(input),
      () => ours(input, 'compact'),
      () => ours(input, 'fast'),
      async () => fromOutputs((await pipelines.compact.process(input)).outputs),
    ])) as [
      Sample & { value: Encoded[] },
      Sample & { value: Encoded[] },
      Sample & { value: Encoded[] },
      Sample & { value: Encoded[] },
    ]
    const bytes = (list: Encoded[]) => list.reduce((s, e) => s + e.data.length, 0)
    pipeRows.push([
      photo.label,
      ms(n.cpuMs),
      ms(c.cpuMs),
      ratio(c.cpuMs, n.cpuMs),
      ms(f.cpuMs),
      ratio(f.cpuMs, n.cpuMs),
      ms(p.cpuMs),
      ratio(p.cpuMs, n.cpuMs),
      kb(bytes(n.value)),
      `${kb(bytes(c.value))} (${((bytes(c.value) / bytes(n.value) - 1) * 100).toFixed(1)} %)`,
      `${kb(bytes(f.value))} (${((bytes(f.value) / bytes(n.value) - 1) * 100).toFixed(1)} %)`,
    ])
    if (photo === main12) {
      // Quality of each output: PSNR against the pristine source at the same size, SSIM against naive.
      for (const ref of n.value) {
        const mine = c.value.find((e) => e.key === ref.key)
        const once = p.value.find((e) => e.key === ref.key)
        if (!mine || !once) continue
        const source = await sharp(input)
          .rotate()
          .resize(ref.width, ref.height, { fit: 'fill' })
          .greyscale()
          .raw()
          .toBuffer()
        const gn = await grey(ref.data, ref.width, ref.height)
        const gc = await grey(mine.data, ref.width, ref.height)
        const gp = await grey(once.data, ref.width, ref.height)
        qualityRows.push([
          ref.key,
          `${ref.width}×${ref.height}`,
          kb(ref.data.length),
          kb(mine.data.length),
          kb(once.data.length),
          psnr(gn, source).toFixed(2),
          psnr(gc, source).toFixed(2),
          psnr(gp, source).toFixed(2),
          ssim(gc, gn, ref.width, ref.height).toFixed(4),
          ssim(gp, gn, ref.width, ref.height).toFixed(4),
        ])
      }
    }
    if (!QUICK && (photo === main12 || photo.path === WALLPAPER_20MP)) {
      const dir = mkdtempSync(join(tmpdir(), 'localex-bench-'))
      try {
        const im = await imagemagick(photo.path, dir)
        const vips = await vipsCli(photo.path, dir)
        cliRows.push([
          photo.label,
          ms(c.cpuMs),
          ms(im.cpuMs),
          ratio(c.cpuMs, im.cpuMs),
          ms(n.cpuMs),
          ratio(n.cpuMs, im.cpuMs),
          ms(vips.cpuMs),
          ratio(c.cpuMs, vips.cpuMs),
          kb(bytes(im.outputs)),
          kb(bytes(vips.outputs)),
        ])
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    }
  }
  table(
    [
      'photo',
      'naive CPU',
      'split compact',
      'ratio',
      'split fast',
      'ratio',
      'process() compact',
      'ratio',
      'naive bytes',
      'split compact bytes',
      'split fast bytes',
    ],
    pipeRows,
  )
  console.log(
    `Per output, ${main12.label}: bytes; PSNR (dB, greyscale) against the source resized to the same size; SSIM ` +
      `against the naive output. "split" = prepareOriginal + renderVariants(stored sanitised original), the upload ` +
      `path; "process" = process() (one decode of the upload).\n`,
  )
  table(
    [
      'output',
      'size',
      'naive',
      'split',
      'process',
      'PSNR naive',
      'PSNR split',
      'PSNR process',
      'SSIM split/naive',
      'SSIM process/naive',
    ],
    qualityRows,
  )

  if (cliRows.length) {
    console.log(
      '## 3. CPU vs ImageMagick (one `convert` per output, jpeg:size hints) and libvips CLI (one `vipsthumbnail` per ' +
        'output)\n',
    )
    table(
      [
        'photo',
        'ours compact',
        'ImageMagick',
        'ours/IM',
        'naive sharp',
        'naive/IM',
        'vipsthumbnail',
        'ours/vips',
        'IM bytes',
        'vips bytes',
      ],
      cliRows,
    )
  }

  await heicSection()
  await throughput([...photos.filter((p) => p === main12 || p.path === WALLPAPER_20MP), HEICS[0] as Photo])
}

/** 4. Throughput and peak RSS in a fresh process. */
async function throughput(list: Photo[]): Promise<void> {
  console.log('## 4. Throughput on all cores and peak RSS (fresh process, split path, 8 photos in flight)\n')
  const tpRows: (string | number)[][] = []
  for (const photo of list) {
    const r = await inChild(photo.path, 8, 16)
    tpRows.push([
      photo.label,
      `${(statSync(photo.path).size / 1e6).toFixed(1)} MB`,
      r.photosPerSec.toFixed(2),
      ms(r.cpuMs / 16),
      `${r.maxRssMb.toFixed(0)} MiB`,
    ])
  }
  table(['photo', 'input', 'photos/s', 'CPU per photo', 'peak RSS'], tpRows)

  // 5. Hostile headers: refused from the header, so in about the time of reading it
  console.log('## 5. Time to refuse hostile headers with DIMENSIONS_TOO_LARGE (p50; the tests check the refusal)\n')
  const hostile = [
    { label: 'pixel-flood PNG 30000×30000 (~100 KB)', data: pixelFloodPng(30000) },
    { label: 'JPEG claiming 65000×65000', data: jpegClaiming(65000, 65000) },
  ]
  const refuse = async (call: () => Promise<unknown>) => {
    const accepted = await call().then(
      () => true,
      () => false,
    )
    if (accepted) throw new Error('a hostile input was accepted')
  }
  // Warm-up: module loading and the first libvips call are not what is measured.
  await refuse(() => pipelines.compact.validate(hostile[0]?.data ?? Buffer.alloc(0)))
  const hostileRows: (string | number)[][] = []
  for (const { label, data } of hostile) {
    const [validated, processed] = (await interleaved<void>(Math.max(11, RUNS * 4 + 1), [
      () => refuse(() => pipelines.compact.validate(data)),
      () => refuse(() => pipelines.compact.process(data)),
    ])) as [Sample & { value: void }, Sample & { value: void }]
    hostileRows.push([label, `${validated.wallMs.toFixed(2)} ms`, `${processed.wallMs.toFixed(2)} ms`])
  }
  table(['input', 'validate()', 'process()'], hostileRows)
  console.log(
    `load average at end ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  )
}

/**
 * 5. HEIC next to JPEG. CPU is the whole process's (process.cpuUsage counts worker threads), so the
 * HEIC rows include the decode in the worker and the copy of its pixels; wall time is what the
 * caller waits. Decode alone: libheif (HEIC) against libjpeg-turbo through sharp (JPEG), both to raw
 * RGB, without resizing.
 */
async function heicSection(): Promise<void> {
  console.log('## 5. HEIC next to JPEG (libheif + libde265 in WebAssembly worker threads)\n')
  const heif = defaultHeifDecoder()
  const limits = { maxInputPixels: 50_000_000, maxInputSide: 10_000, decodeTimeoutMs: 60_000 }
  const rows: (string | number)[][] = []
  const wallCpu = (s: Sample) => `${ms(s.wallMs)} / ${ms(s.cpuMs)}`
  for (const photo of HEICS) {
    const entries: [string, Buffer][] = [[photo.label, readFileSync(photo.path)]]
    if (photo.jpeg) {
      const mb = (statSync(photo.jpeg).size / 1e6).toFixed(1)
      entries.push([`same photo as JPEG (${mb} MB)`, readFileSync(photo.jpeg)])
    }
    const fns = entries.flatMap(([, input]) => {
      const heic = input.toString('latin1', 4, 8) === 'ftyp'
      return [
        async () =>
          heic ? (await heif.decode(input, { limits })).data.length : (await sharp(input).raw().toBuffer()).length,
        async () => (await pipelines.compact.prepareOriginal(input)).original.size,
        async () => (await ours(input, 'compact')).length,
      ]
    })
    const samples = await interleaved<number>(RUNS, fns)
    entries.forEach(([label, input], i) => {
      const [decode, sync, whole] = samples.slice(i * 3, i * 3 + 3) as Sample[]
      if (!decode || !sync || !whole) return
      rows.push([label, `${(input.length / 1e6).toFixed(1)} MB`, wallCpu(decode), wallCpu(sync), ms(whole.cpuMs)])
    })
  }
  const head = ['input', 'bytes', 'decode only (wall / CPU)', 'prepareOriginal (wall / CPU)']
  head.push('whole split pipeline CPU')
  table(head, rows)
}

if (process.argv[2] === '--child') {
  await child(process.argv[3] as string, Number(process.argv[4]), Number(process.argv[5]))
} else {
  await main()
}
