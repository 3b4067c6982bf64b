/**
 * The worker thread behind the WebAssembly HEIF decoder (heif-decoder.ts): libheif with libde265,
 * from the npm package libheif-js (LGPL-3.0), called through its C API. One request at a time; the
 * main thread owns every limit that needs a clock (it terminates this thread when a decode runs
 * too long) and this thread owns the ones that need the file (sizes, libheif's security limits).
 *
 * The package's JavaScript wrapper (`HeifDecoder`) is not used: it decodes without size checks,
 * logs to the console instead of failing, and exposes neither the ICC profile nor libheif's strict
 * decoding. The C functions are exported by the same build, so this file calls them directly and
 * lays out the few structs it touches by hand (wasm32: pointers and ints are 4 bytes, uint64_t is
 * 8-byte aligned). Offsets were read from libheif 1.23's headers and checked against the defaults
 * the library writes (see `checkLayouts`).
 */
import { createRequire } from 'node:module'
import { parentPort } from 'node:worker_threads'

/** What the main thread asks for. `input` is a copy this thread owns (transferred). */
export interface HeifRequest {
  readonly id: number
  readonly op: 'probe' | 'decode'
  readonly input: Uint8Array
  readonly maxPixels: number
  readonly maxSide: number
}

/** What the container says about the primary image, read without decoding it. */
export interface HeifHeaderFacts {
  /** Displayed size: after the rotation, mirror and crop properties that the decode applies. */
  readonly width: number
  readonly height: number
  readonly hasAlpha: boolean
  readonly bitDepth: number
  /** The embedded ICC profile (`colr` of type `prof` or `rICC`). */
  readonly icc?: Uint8Array
  /** Without an ICC profile: the nclx colour primaries (ITU-T H.273; 1 BT.709/sRGB, 12 Display P3). */
  readonly primaries?: number
}

export type HeifFailureKind = 'invalid' | 'unsupported' | 'dimensions'

export type HeifReply =
  | {
      readonly id: number
      readonly ok: true
      readonly header: HeifHeaderFacts
      readonly pixels?: ArrayBuffer
      readonly heapBytes: number
    }
  | {
      readonly id: number
      readonly ok: false
      readonly kind: HeifFailureKind
      readonly message: string
      readonly width?: number
      readonly height?: number
      readonly heapBytes: number
      /** The WebAssembly instance may be corrupt (a trap or abort inside libheif): replace this thread. */
      readonly fatal?: boolean
    }

/** The part of the emscripten module this file calls (raw C functions; pointers are numbers). */
interface Libheif {
  readonly HEAPU8: Uint8Array
  readonly HEAP32: Int32Array
  readonly HEAPU32: Uint32Array
  _malloc(size: number): number
  _free(ptr: number): void
  _heif_context_alloc(): number
  _heif_context_free(ctx: number): void
  _heif_context_get_security_limits(ctx: number): number
  _heif_context_read_from_memory_without_copy(
    err: number,
    ctx: number,
    data: number,
    size: number,
    options: number,
  ): void
  _heif_context_get_primary_image_handle(err: number, ctx: number, handleOut: number): void
  _heif_image_handle_release(handle: number): void
  _heif_image_handle_get_width(handle: number): number
  _heif_image_handle_get_height(handle: number): number
  _heif_image_handle_has_alpha_channel(handle: number): number
  _heif_image_handle_is_premultiplied_alpha(handle: number): number
  _heif_image_handle_get_luma_bits_per_pixel(handle: number): number
  _heif_image_handle_get_raw_color_profile_size(handle: number): number
  _heif_image_handle_get_raw_color_profile(err: number, handle: number, out: number): void
  _heif_image_handle_get_nclx_color_profile(err: number, handle: number, out: number): void
  _heif_nclx_color_profile_free(profile: number): void
  _heif_decoding_options_alloc(): number
  _heif_decoding_options_free(options: number): void
  _heif_decode_image(
    err: number,
    handle: number,
    imageOut: number,
    colorspace: number,
    chroma: number,
    options: number,
  ): void
  _heif_image_release(image: number): void
  _heif_image_get_width(image: number, channel: number): number
  _heif_image_get_height(image: number, channel: number): number
  _heif_image_get_plane_readonly(image: number, channel: number, strideOut: number): number
  _heif_image_get_decoding_warnings(image: number, first: number, out: number, max: number): number
}

// libheif's enums and struct offsets (wasm32).
const COLORSPACE_RGB = 1
const CHROMA_INTERLEAVED_RGB = 10
const CHROMA_INTERLEAVED_RGBA = 11
const CHANNEL_INTERLEAVED = 10
/**
 * heif_decoding_options: uint8 version, uint8 ignore_transformations, 4 pointers, uint8
 * convert_hdr_to_8bit, uint8 strict_decoding.
 */
const OPTIONS_STRICT_DECODING = 21
/** heif_security_limits: uint8 version; uint64 max_image_size_pixels at 8; … uint64 max_total_memory at 64 (v2). */
const LIMITS_MAX_IMAGE_PIXELS = 8
const LIMITS_MAX_TOTAL_MEMORY = 64
/** heif_color_profile_nclx: uint8 version; enum color_primaries at 4. */
const NCLX_PRIMARIES = 4
const ERROR_CODE = { unsupportedFiletype: 3, unsupportedFeature: 4 } as const
const SUBCODE = {
  securityLimitExceeded: 1000,
  unsupportedCodec: 3000,
  unsupportedImageType: 3001,
  unsupportedBitDepth: 4000,
  noMatchingDecoder: 6003,
} as const
/**
 * libheif's own memory budget per image, per allowed pixel: decoded RGBA (4 bytes) and the YCbCr
 * planes (up to 6 bytes at 16 bits) with room for a conversion step. Checked by libheif before it
 * allocates, so a file cannot make this thread allocate more than ~16 bytes × IMAGE_MAX_INPUT_PIXELS.
 */
const MEMORY_BYTES_PER_PIXEL = 16

class HeifFailure extends Error {
  constructor(
    readonly kind: HeifFailureKind,
    message: string,
    readonly size?: { width: number; height: number },
  ) {
    super(message)
  }
}

// libheif-js is CommonJS; `wasm-bundle` embeds the .wasm, so nothing is read from disk at run time.
const lib = createRequire(import.meta.url)('libheif-js/wasm-bundle') as Libheif
checkLayouts()
/** Out-parameters of every call, allocated once: a heif_error (int code, int subcode, char* message) and two more. */
const scratch = lib._malloc(64)
const ERR = scratch
const OUT = scratch + 16
const STRIDE = scratch + 20

parentPort?.on('message', (request: HeifRequest) => {
  let reply: HeifReply
  const transfer: ArrayBuffer[] = []
  try {
    const { header, pixels } = handle(request)
    if (pixels) transfer.push(pixels)
    reply = { id: request.id, ok: true, header, ...(pixels ? { pixels } : {}), heapBytes: lib.HEAPU8.length }
    if (header.icc) transfer.push(header.icc.buffer as ArrayBuffer)
  } catch (error) {
    if (error instanceof HeifFailure) {
      reply = {
        id: request.id,
        ok: false,
        kind: error.kind,
        message: error.message,
        ...error.size,
        heapBytes: lib.HEAPU8.length,
      }
    } else {
      // A WebAssembly trap or an emscripten abort: libheif met something it could not handle. The
      // file gets INVALID_IMAGE; the instance may be in any state, so the main thread replaces us.
      const message = error instanceof Error ? error.message : String(error)
      reply = {
        id: request.id,
        ok: false,
        kind: 'invalid',
        message: `the HEIF decoder failed (${message})`,
        heapBytes: lib.HEAPU8.length,
        fatal: true,
      }
    }
  }
  parentPort?.postMessage(reply, transfer)
})
parentPort?.postMessage({ ready: true })

function handle(request: HeifRequest): { header: HeifHeaderFacts; pixels?: ArrayBuffer } {
  const ctx = lib._heif_context_alloc()
  if (!ctx) throw new HeifFailure('invalid', 'could not allocate a HEIF context')
  const data = lib._malloc(request.input.length)
  let handle = 0
  try {
    setLimits(ctx, request.maxPixels)
    lib.HEAPU8.set(request.input, data)
    lib._heif_context_read_from_memory_without_copy(ERR, ctx, data, request.input.length, 0)
    check('reading the file')
    lib._heif_context_get_primary_image_handle(ERR, ctx, OUT)
    check('finding the primary image')
    handle = lib.HEAPU32[OUT >> 2] as number
    const header = readHeader(handle)
    // The size check comes before any pixel is decoded: a grid claiming 60000×60000 costs microseconds.
    const { width, height } = header
    if (width < 1 || height < 1) throw new HeifFailure('invalid', 'the image has no pixels')
    if (width > request.maxSide || height > request.maxSide || width * height > request.maxPixels) {
      throw new HeifFailure('dimensions', `the image is ${width}x${height}`, { width, height })
    }
    if (request.op === 'probe') return { header }
    return { header, pixels: decodePixels(handle, header) }
  } finally {
    if (handle) lib._heif_image_handle_release(handle)
    lib._heif_context_free(ctx)
    lib._free(data)
  }
}

function setLimits(ctx: number, maxPixels: number): void {
  const limits = lib._heif_context_get_security_limits(ctx)
  writeU64(limits + LIMITS_MAX_IMAGE_PIXELS, maxPixels)
  writeU64(limits + LIMITS_MAX_TOTAL_MEMORY, maxPixels * MEMORY_BYTES_PER_PIXEL)
}

function readHeader(handle: number): HeifHeaderFacts {
  const facts = {
    width: lib._heif_image_handle_get_width(handle),
    height: lib._heif_image_handle_get_height(handle),
    hasAlpha: lib._heif_image_handle_has_alpha_channel(handle) !== 0,
    bitDepth: lib._heif_image_handle_get_luma_bits_per_pixel(handle),
  }
  const iccSize = lib._heif_image_handle_get_raw_color_profile_size(handle)
  if (iccSize > 0) {
    const out = lib._malloc(iccSize)
    try {
      lib._heif_image_handle_get_raw_color_profile(ERR, handle, out)
      check('reading the ICC profile')
      return { ...facts, icc: lib.HEAPU8.slice(out, out + iccSize) }
    } finally {
      lib._free(out)
    }
  }
  lib._heif_image_handle_get_nclx_color_profile(ERR, handle, OUT)
  if (lib.HEAP32[ERR >> 2] !== 0) return facts // no colour information: sRGB is the HEIF default
  const nclx = lib.HEAPU32[OUT >> 2] as number
  const primaries = lib.HEAP32[(nclx + NCLX_PRIMARIES) >> 2] as number
  lib._heif_nclx_color_profile_free(nclx)
  return { ...facts, primaries }
}

/** Decodes the primary image to 8-bit interleaved RGB(A), transforms applied, rows packed. */
function decodePixels(handle: number, header: HeifHeaderFacts): ArrayBuffer {
  const options = lib._heif_decoding_options_alloc()
  let image = 0
  try {
    // Strict decoding: a tile that is missing, truncated or that libde265 reports as broken fails
    // the decode instead of being painted grey with a warning.
    lib.HEAPU8[options + OPTIONS_STRICT_DECODING] = 1
    const channels = header.hasAlpha ? 4 : 3
    lib._heif_decode_image(
      ERR,
      handle,
      OUT,
      COLORSPACE_RGB,
      header.hasAlpha ? CHROMA_INTERLEAVED_RGBA : CHROMA_INTERLEAVED_RGB,
      options,
    )
    check('decoding the image')
    image = lib.HEAPU32[OUT >> 2] as number
    // Strict decoding turns warnings into errors, but a decoder plugin may still only warn.
    const warnings = lib._heif_image_get_decoding_warnings(image, 0, 0, 0)
    if (warnings > 0)
      throw new HeifFailure('invalid', `the image decoded with ${warnings} warning(s); a tile is broken`)
    const width = lib._heif_image_get_width(image, CHANNEL_INTERLEAVED)
    const height = lib._heif_image_get_height(image, CHANNEL_INTERLEAVED)
    if (width !== header.width || height !== header.height) {
      throw new HeifFailure(
        'invalid',
        `the image decoded to ${width}x${height}, not the ${header.width}x${header.height} its header declares`,
      )
    }
    const plane = lib._heif_image_get_plane_readonly(image, CHANNEL_INTERLEAVED, STRIDE)
    const stride = lib.HEAP32[STRIDE >> 2] as number
    const row = width * channels
    if (!plane || stride < row) throw new HeifFailure('invalid', 'the decoder returned no pixels')
    const out = new Uint8Array(row * height)
    const heap = lib.HEAPU8
    for (let y = 0; y < height; y++) out.set(heap.subarray(plane + y * stride, plane + y * stride + row), y * row)
    if (channels === 4 && lib._heif_image_handle_is_premultiplied_alpha(handle)) unpremultiply(out)
    return out.buffer
  } finally {
    if (image) lib._heif_image_release(image)
    lib._heif_decoding_options_free(options)
  }
}

/** Throws the heif_error in ERR, if any, as a HeifFailure of the kind a client can act on. */
function check(doing: string): void {
  const code = lib.HEAP32[ERR >> 2] as number
  if (code === 0) return
  const subcode = lib.HEAP32[(ERR + 4) >> 2] as number
  const text = cString(lib.HEAPU32[(ERR + 8) >> 2] as number).split('\n')[0] ?? ''
  const message = `${doing}: ${text}`.slice(0, 200)
  if (subcode === SUBCODE.securityLimitExceeded) {
    const size = /image size (\d+)x(\d+)/i.exec(text)
    if (size) throw new HeifFailure('dimensions', message, { width: Number(size[1]), height: Number(size[2]) })
  }
  if (
    code === ERROR_CODE.unsupportedFiletype ||
    code === ERROR_CODE.unsupportedFeature ||
    (
      [
        SUBCODE.unsupportedCodec,
        SUBCODE.unsupportedImageType,
        SUBCODE.unsupportedBitDepth,
        SUBCODE.noMatchingDecoder,
      ] as number[]
    ).includes(subcode)
  ) {
    throw new HeifFailure('unsupported', message)
  }
  throw new HeifFailure('invalid', message)
}

function cString(ptr: number): string {
  if (!ptr) return ''
  const heap = lib.HEAPU8
  let end = ptr
  while (heap[end] !== 0 && end - ptr < 1024) end++
  return Buffer.from(heap.subarray(ptr, end)).toString('utf8')
}

function writeU64(at: number, value: number): void {
  lib.HEAPU32[at >> 2] = value % 2 ** 32
  lib.HEAPU32[(at >> 2) + 1] = Math.floor(value / 2 ** 32)
}

function readU64(at: number): number {
  return (lib.HEAPU32[at >> 2] as number) + (lib.HEAPU32[(at >> 2) + 1] as number) * 2 ** 32
}

function unpremultiply(rgba: Uint8Array): void {
  for (let i = 0; i < rgba.length; i += 4) {
    const a = rgba[i + 3] as number
    if (a === 0 || a === 255) continue
    for (let c = 0; c < 3; c++) rgba[i + c] = Math.min(255, Math.round(((rgba[i + c] as number) * 255) / a))
  }
}

/**
 * The struct offsets above are hand-written; a libheif-js upgrade that moved a field must fail
 * here, at start, rather than write into the wrong field. libheif's defaults identify the fields.
 */
function checkLayouts(): void {
  const ctx = lib._heif_context_alloc()
  const options = lib._heif_decoding_options_alloc()
  try {
    const limits = lib._heif_context_get_security_limits(ctx)
    const ok =
      (lib.HEAPU8[limits] as number) >= 2 &&
      readU64(limits + LIMITS_MAX_IMAGE_PIXELS) === 32768 * 32768 &&
      readU64(limits + LIMITS_MAX_TOTAL_MEMORY) === 4 * 1024 ** 3 &&
      (lib.HEAPU8[options] as number) >= 3 &&
      lib.HEAPU8[options + OPTIONS_STRICT_DECODING] === 0 &&
      // color_conversion_options (version 1; chroma algorithms 2 and 2) follow decoder_id at 24.
      lib.HEAPU8[options + 28] === 1 &&
      lib.HEAP32[(options + 32) >> 2] === 2
    if (!ok) throw new Error('libheif-js struct layouts differ from the ones heif-worker.ts was written for')
  } finally {
    lib._heif_decoding_options_free(options)
    lib._heif_context_free(ctx)
  }
}
