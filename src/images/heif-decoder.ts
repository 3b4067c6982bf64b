/**
 * HEIC/HEIF input (iPhone photos). sharp's prebuilt libvips reads HEIF headers but has no HEVC
 * decoder, so the pixels come from elsewhere, behind this port:
 *
 * - `HeifDecoder` is what the pipeline needs: the header (displayed size, alpha, colour profile)
 *   and the primary image decoded to 8-bit RGB(A), with the container's rotation, mirror and crop
 *   applied. Every failure is a LocalexError with a stable code.
 * - `createWasmHeifDecoder()` implements it with libheif + libde265 compiled to WebAssembly (npm
 *   `libheif-js`, LGPL-3.0), in worker threads: a 12 MP decode costs ~1.5 s of CPU, which must not
 *   run on the event loop. A libvips built with libheif could implement the same port with sharp.
 *
 * Limits: the size in the header is checked against IMAGE_MAX_INPUT_PIXELS/SIDE before any pixel is
 * decoded (and libheif is given the same pixel limit, for grids whose tiles claim more than the
 * header); a decode that runs longer than IMAGE_DECODE_TIMEOUT has its worker terminated. Both are
 * refused like any other image: DIMENSIONS_TOO_LARGE, INVALID_IMAGE.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { LocalexError } from '../errors/index.js'
import { checkDimensions } from './limits.js'
import type { HeifHeaderFacts, HeifReply, HeifRequest } from './heif-worker.js'

/** What the container says about the primary image (nothing decoded). */
export interface HeifHeader {
  /** Displayed size: after the rotation (`irot`), mirror (`imir`) and crop (`clap`) the decode applies. */
  readonly width: number
  readonly height: number
  readonly hasAlpha: boolean
  /** Luma bit depth (8, or 10 for HDR captures; decoded to 8 bits). */
  readonly bitDepth: number
  /** The embedded ICC profile (iPhones embed Display P3). */
  readonly icc?: Buffer
  /** Without an ICC profile, the nclx colour primaries (ITU-T H.273): 1 BT.709/sRGB, 12 Display P3. */
  readonly primaries?: number
}

/** The primary image as 8-bit interleaved pixels, upright, in the colour space its header names. */
export interface DecodedHeif extends HeifHeader {
  readonly data: Buffer
  readonly channels: 3 | 4
}

export interface HeifLimits {
  readonly maxInputPixels: number
  readonly maxInputSide: number
  /** Longest a decode (or a header read) may run once a worker has it. */
  readonly decodeTimeoutMs: number
}

export interface HeifDecodeOptions {
  readonly limits: HeifLimits
  readonly signal?: AbortSignal
}

/**
 * Decodes HEIC/HEIF. Both methods reject with DIMENSIONS_TOO_LARGE (header over the limits),
 * UNSUPPORTED_TYPE (a codec or feature the decoder lacks, e.g. AV1 or JPEG items), INVALID_IMAGE
 * (unparseable, truncated, a broken tile, or over the time limit) or ABORTED; never with anything else.
 */
export interface HeifDecoder {
  /** Reads the header of the primary image; decodes nothing. */
  probe(input: Buffer, options: HeifDecodeOptions): Promise<HeifHeader>
  /** Decodes the primary image, after checking its header against the limits. */
  decode(input: Buffer, options: HeifDecodeOptions): Promise<DecodedHeif>
  /** Stops the workers; calls made afterwards start new ones. */
  close(): Promise<void>
}

export interface WasmHeifDecoderOptions {
  /** Decodes run at once, one worker thread each. Default: the number of CPUs, at most 4. */
  readonly workers?: number
  /** A worker with nothing to do is stopped after this long (its WebAssembly memory is released). Default 30 s. */
  readonly idleMs?: number
  /**
   * WebAssembly memory never shrinks: a worker whose heap grew past this (after a large image) is
   * replaced once its decode is done. Default 256 MiB (a 12 MP photo needs about 80 MiB).
   */
  readonly recycleHeapBytes?: number
}

interface Job {
  readonly request: Omit<HeifRequest, 'id'>
  readonly limits: HeifLimits
  readonly signal?: AbortSignal
  readonly resolve: (reply: Extract<HeifReply, { ok: true }>) => void
  readonly reject: (error: LocalexError) => void
  onAbort?: () => void
}

interface Slot {
  worker?: Worker
  /** Resolves once the worker has loaded libheif. */
  ready?: Promise<Worker>
  job?: Job
  timer?: NodeJS.Timeout
  idle?: NodeJS.Timeout
}

let shared: HeifDecoder | undefined

/** The process-wide decoder the image pipeline uses unless given another. */
export function defaultHeifDecoder(): HeifDecoder {
  shared ??= createWasmHeifDecoder()
  return shared
}

export function createWasmHeifDecoder(options: WasmHeifDecoderOptions = {}): HeifDecoder {
  const size = Math.max(1, options.workers ?? Math.min(4, availableParallelism()))
  const idleMs = options.idleMs ?? 30_000
  const recycleHeapBytes = options.recycleHeapBytes ?? 256 * 1024 * 1024
  const slots: Slot[] = Array.from({ length: size }, () => ({}))
  const queue: Job[] = []
  let nextId = 1

  function run(op: HeifRequest['op'], input: Buffer, { limits, signal }: HeifDecodeOptions) {
    return new Promise<Extract<HeifReply, { ok: true }>>((resolve, reject) => {
      if (signal?.aborted) return reject(aborted(signal))
      // The worker gets its own copy (transferred, so copied once): the caller's Buffer may be a
      // view into a larger pool, which a structured clone would copy whole.
      const copy = new Uint8Array(input.length)
      copy.set(input)
      const job: Job = {
        request: { op, input: copy, maxPixels: limits.maxInputPixels, maxSide: limits.maxInputSide },
        limits,
        resolve,
        reject,
        ...(signal ? { signal } : {}),
      }
      if (signal) {
        job.onAbort = () => {
          const queued = queue.indexOf(job)
          if (queued >= 0) {
            queue.splice(queued, 1)
            return reject(aborted(signal))
          }
          const slot = slots.find((s) => s.job === job)
          if (!slot) return
          stop(slot) // a decode in WebAssembly cannot be interrupted any other way
          finish(slot, job, aborted(signal))
        }
        signal.addEventListener('abort', job.onAbort, { once: true })
      }
      queue.push(job)
      pump()
    })
  }

  function pump(): void {
    for (const slot of slots) {
      if (slot.job || queue.length === 0) continue
      const job = queue.shift() as Job
      slot.job = job
      clearTimeout(slot.idle)
      void start(slot, job)
    }
  }

  async function start(slot: Slot, job: Job): Promise<void> {
    let worker: Worker
    try {
      worker = await (slot.ready ??= spawn(slot))
    } catch (cause) {
      return finish(slot, job, new LocalexError('INTERNAL', 'The HEIF decoder could not be started', { cause }))
    }
    if (slot.job !== job) return // aborted while the worker was starting
    worker.ref()
    const request: HeifRequest = { id: nextId++, ...job.request }
    slot.timer = setTimeout(() => {
      stop(slot)
      const seconds = job.limits.decodeTimeoutMs / 1000
      finish(
        slot,
        job,
        new LocalexError('INVALID_IMAGE', `Image took longer than ${seconds} s to decode`, {
          details: { limit: 'decodeTimeout', decodeTimeoutMs: job.limits.decodeTimeoutMs },
        }),
      )
    }, job.limits.decodeTimeoutMs)
    worker.postMessage(request, [request.input.buffer as ArrayBuffer])
  }

  function spawn(slot: Slot): Promise<Worker> {
    return new Promise<Worker>((resolve, reject) => {
      // Referenced while it works (a caller awaits it), unreferenced when idle (finish()).
      const worker = startWorker()
      slot.worker = worker
      let ready = false
      worker.on('message', (message: HeifReply | { ready: true }) => {
        if ('ready' in message) {
          ready = true
          return resolve(worker)
        }
        onReply(slot, worker, message)
      })
      // A worker that fails to start rejects `ready` (start() answers INTERNAL); one that dies later
      // died on the image it was decoding.
      worker.once('error', (error) => {
        if (!ready) reject(error)
        onExit(slot, worker, ready, error)
      })
      worker.once('exit', () => {
        if (!ready) reject(new Error('the HEIF worker exited while starting'))
        onExit(slot, worker, ready)
      })
    })
  }

  function onReply(slot: Slot, worker: Worker, reply: HeifReply): void {
    const job = slot.job
    if (slot.worker !== worker || !job) return
    if ((!reply.ok && reply.fatal) || reply.heapBytes > recycleHeapBytes) stop(slot)
    if (reply.ok) finish(slot, job, undefined, reply)
    else finish(slot, job, failure(reply, job.limits))
  }

  /** The worker died (a crash inside WebAssembly, out of memory) or was stopped. */
  function onExit(slot: Slot, worker: Worker, started: boolean, error?: Error): void {
    if (slot.worker !== worker) return
    const job = slot.job
    slot.worker = undefined
    slot.ready = undefined
    if (job && started)
      finish(slot, job, new LocalexError('INVALID_IMAGE', 'The HEIF decoder failed on this image', { cause: error }))
  }

  function finish(slot: Slot, job: Job, error?: LocalexError, reply?: Extract<HeifReply, { ok: true }>): void {
    if (slot.job !== job) return
    clearTimeout(slot.timer)
    slot.job = undefined
    if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort)
    if (error) job.reject(error)
    else job.resolve(reply as Extract<HeifReply, { ok: true }>)
    const worker = slot.worker
    if (worker) {
      worker.unref()
      slot.idle = setTimeout(() => stop(slot), idleMs).unref()
    }
    pump()
  }

  /** Terminates a slot's worker; its job (if any) is settled by whoever called this. */
  function stop(slot: Slot): void {
    const worker = slot.worker
    clearTimeout(slot.idle)
    slot.worker = undefined
    slot.ready = undefined
    if (worker) void worker.terminate()
  }

  return {
    async probe(input, options) {
      const reply = await run('probe', input, options)
      return header(reply.header)
    },

    async decode(input, options) {
      const reply = await run('decode', input, options)
      if (!reply.pixels) throw new LocalexError('INTERNAL', 'The HEIF decoder returned no pixels')
      return { ...header(reply.header), data: Buffer.from(reply.pixels), channels: reply.header.hasAlpha ? 4 : 3 }
    },

    async close() {
      for (const job of queue.splice(0)) job.reject(new LocalexError('ABORTED', 'The HEIF decoder was closed'))
      for (const slot of slots) {
        const job = slot.job
        stop(slot)
        if (job) finish(slot, job, new LocalexError('ABORTED', 'The HEIF decoder was closed'))
        clearTimeout(slot.idle)
      }
    },
  }
}

function header(facts: HeifHeaderFacts): HeifHeader {
  const { icc, ...rest } = facts
  return { ...rest, ...(icc ? { icc: Buffer.from(icc.buffer, icc.byteOffset, icc.byteLength) } : {}) }
}

function failure(reply: Extract<HeifReply, { ok: false }>, limits: HeifLimits): LocalexError {
  const message = `HEIC/HEIF: ${reply.message}`
  switch (reply.kind) {
    case 'dimensions':
      try {
        checkDimensions(reply.width ?? 0, reply.height ?? 0, limits)
      } catch (error) {
        if (error instanceof LocalexError) return error
      }
      return new LocalexError('DIMENSIONS_TOO_LARGE', message, {
        details: { maxInputPixels: limits.maxInputPixels, maxInputSide: limits.maxInputSide },
      })
    case 'unsupported':
      return new LocalexError('UNSUPPORTED_TYPE', `${message}; export the photo as JPEG`, {
        details: { detected: 'heif' },
      })
    default:
      return new LocalexError('INVALID_IMAGE', `Image data is broken or truncated (${message})`, {
        details: { detected: 'heif' },
      })
  }
}

function aborted(signal: AbortSignal): LocalexError {
  return new LocalexError('ABORTED', 'Image decoding was aborted', { cause: signal.reason })
}

/**
 * The worker module sits next to this one: `.js` in the build. Run from source (tests, `tsx`), it
 * is TypeScript, which a worker cannot load by itself; it is then loaded through tsx's API.
 */
function startWorker(): Worker {
  const url = new URL(import.meta.url.endsWith('.ts') ? './heif-worker.ts' : './heif-worker.js', import.meta.url)
  if (!url.pathname.endsWith('.ts')) return new Worker(url)
  const tsx = import.meta.resolve('tsx/esm/api')
  const [api, worker] = [JSON.stringify(tsx), JSON.stringify(url.href)]
  const source = `import(${api}).then(({ tsImport }) => tsImport(${worker}, ${worker}))`
  return new Worker(source, { eval: true })
}
