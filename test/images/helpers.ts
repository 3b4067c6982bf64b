import { readFileSync } from 'node:fs'
import exifr from 'exifr'
import { deflateSync } from 'node:zlib'
import sharp, { type Sharp } from 'sharp'
import { expect } from 'vitest'
import { isLocalexError, type ErrorCode } from '../../src/errors/index.js'
import type { Output } from '../../src/images/index.js'

const FIXTURES = new URL('../fixtures/', import.meta.url)

export function fixture(name: string): Buffer {
  return readFileSync(new URL(name.includes('/') ? name : `images/${name}`, FIXTURES))
}

/** Awaits `promise` and asserts that it rejects with a LocalexError of `code`; returns the error. */
export async function expectCode(promise: Promise<unknown>, code: ErrorCode) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(isLocalexError(error), `expected LocalexError ${code}, got ${String(error)}`).toBe(true)
  expect(error).toMatchObject({ code })
  return error
}

/** A solid-colour PNG of the given size (fast: sharp's `create`). */
export function solidPng(width: number, height: number, alpha = false): Promise<Buffer> {
  return sharp({
    create: {
      width,
      height,
      channels: alpha ? 4 : 3,
      background: alpha ? { r: 200, g: 40, b: 40, alpha: 0.5 } : { r: 200, g: 40, b: 40 },
    },
  })
    .png()
    .toBuffer()
}

/** An animated GIF with `frames` frames of 8×8, each a different grey. */
export function animatedGif(frames: number): Promise<Buffer> {
  const raw = Buffer.alloc(8 * 8 * 3 * frames)
  for (let f = 0; f < frames; f++) raw.fill((f * 37) % 256, f * 192, (f + 1) * 192)
  return sharp(raw, { raw: { width: 8, height: 8 * frames, channels: 3, pageHeight: 8 } })
    .gif()
    .toBuffer()
}

function crc32(buf: Buffer): number {
  let c = ~0
  for (const byte of buf) {
    c ^= byte
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1
  }
  return ~c >>> 0
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(data.length, 0)
  head.write(type, 4, 'latin1')
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])))
  return Buffer.concat([head, data, crc])
}

/**
 * A valid pixel-flood PNG: `side`×`side`, 1-bit greyscale, every row filter 0 and all zeros, so
 * 30000×30000 (900 MP) compresses to about 100 KB. Never decode it.
 */
export function pixelFloodPng(side: number): Buffer {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(side, 0)
  ihdr.writeUInt32BE(side, 4)
  ihdr[8] = 1 // bit depth
  ihdr[9] = 0 // greyscale
  const raw = Buffer.alloc((1 + Math.ceil(side / 8)) * side) // zeros: filter byte 0 + black pixels
  return Buffer.concat([
    Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw, { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ])
}

/** A baseline JPEG whose frame header claims `width`×`height`; the scan is a few bytes of nothing. */
export function jpegClaiming(width: number, height: number): Buffer {
  const seg = (marker: number, body: number[]) => [
    0xff,
    marker,
    ((body.length + 2) >> 8) & 0xff,
    (body.length + 2) & 0xff,
    ...body,
  ]
  const dqt = seg(0xdb, [0x00, ...new Array<number>(64).fill(1)])
  const sof = seg(0xc0, [8, height >> 8, height & 0xff, width >> 8, width & 0xff, 1, 1, 0x11, 0])
  const dht = seg(0xc4, [0x00, 0, 1, ...new Array<number>(14).fill(0), 0])
  const sos = seg(0xda, [1, 1, 0x00, 0, 63, 0])
  return Buffer.from([0xff, 0xd8, ...dqt, ...sof, ...dht, ...sos, 0x00, 0x00, 0x00, 0xff, 0xd9])
}

/** Mean absolute difference of two images, compared as `w`×`h` greyscale. */
export async function meanDiff(a: Buffer, b: Buffer, w = 48, h = 32): Promise<number> {
  const grey = (x: Buffer) => sharp(x).resize(w, h, { fit: 'fill' }).greyscale().raw().toBuffer()
  const [pa, pb] = await Promise.all([grey(a), grey(b)])
  let sum = 0
  for (let i = 0; i < pa.length; i++) sum += Math.abs((pa[i] as number) - (pb[i] as number))
  return sum / pa.length
}

/**
 * Every metadata container found in an encoded image: JPEG APPn (except JFIF APP0) and COM segments,
 * PNG ancillary text/EXIF/ICC chunks, WebP EXIF/XMP/ICCP chunks, AVIF Exif/mime items.
 */
export function metadataContainers(data: Buffer): string[] {
  const found: string[] = []
  if (data[0] === 0xff && data[1] === 0xd8) {
    let at = 2
    while (at + 4 <= data.length && data[at] === 0xff) {
      const marker = data[at + 1] as number
      if (marker === 0xda) break
      const len = data.readUInt16BE(at + 2)
      if ((marker >= 0xe1 && marker <= 0xef) || marker === 0xfe) found.push(`jpeg:${marker.toString(16)}`)
      at += 2 + len
    }
  } else if (data.subarray(1, 4).toString('latin1') === 'PNG') {
    let at = 8
    while (at + 8 <= data.length) {
      const len = data.readUInt32BE(at)
      const type = data.toString('latin1', at + 4, at + 8)
      if (['eXIf', 'tEXt', 'iTXt', 'zTXt', 'iCCP', 'tIME'].includes(type)) found.push(`png:${type}`)
      at += 12 + len
    }
  } else if (data.toString('latin1', 8, 12) === 'WEBP') {
    let at = 12
    while (at + 8 <= data.length) {
      const type = data.toString('latin1', at, at + 4)
      const len = data.readUInt32LE(at + 4)
      if (['EXIF', 'XMP ', 'ICCP'].includes(type)) found.push(`webp:${type}`)
      at += 8 + len + (len & 1)
    }
  } else if (data.toString('latin1', 4, 8) === 'ftyp') {
    const text = data.toString('latin1')
    for (const needle of ['Exif', 'application/rdf+xml', 'prof'])
      if (text.includes(needle)) found.push(`avif:${needle}`)
  }
  return found
}

/** Asserts what a user would check on any output: sRGB, 8-bit, no metadata, sizes as reported. */
export async function expectClean(output: Output): Promise<void> {
  const meta = await sharp(output.data).metadata()
  expect(meta.format === 'heif' ? 'avif' : meta.format).toBe(output.format)
  expect({ width: meta.width, height: meta.height }).toEqual({ width: output.width, height: output.height })
  expect(output.size).toBe(output.data.length)
  expect(meta.space).toBe('srgb')
  expect(meta.depth).toBe('uchar')
  expect(meta.icc, `${output.variant}.${output.ext} has no ICC profile`).toBeUndefined()
  expect(meta.exif).toBeUndefined()
  expect(meta.xmp).toBeUndefined()
  expect(meta.iptc).toBeUndefined()
  expect(metadataContainers(output.data)).toEqual([])
  if (output.format !== 'webp') {
    const every = { tiff: true, exif: true, gps: true, xmp: true, iptc: true, icc: true, jfif: false, ihdr: false }
    const tags = await exifr.parse(output.data, every).catch(() => undefined)
    expect(tags ?? {}).toEqual({})
  }
}

/**
 * Mean absolute difference per channel value of two images, compared as 32×32 RGB. Each is decoded
 * whole first: JPEG's shrink-on-load would otherwise average differently from a raw input.
 */
export async function colourDiff(a: Buffer | Sharp, b: Buffer | Sharp): Promise<number> {
  const rgb = async (x: Buffer | Sharp) => {
    const image = Buffer.isBuffer(x) ? sharp(x) : x
    const { data, info } = await image.removeAlpha().raw().toBuffer({ resolveWithObject: true })
    const raw = { width: info.width, height: info.height, channels: 3 } as const
    return sharp(data, { raw }).resize(32, 32, { fit: 'fill' }).raw().toBuffer()
  }
  const [pa, pb] = await Promise.all([rgb(a), rgb(b)])
  return pa.reduce((sum, v, i) => sum + Math.abs(v - (pb[i] as number)), 0) / pa.length
}

/**
 * Display P3 to sRGB worked out by hand (both use the sRGB tone curve; linear P3 → linear sRGB is
 * one matrix, D65 to D65), as an independent reference for what libvips and lcms do with the profile.
 */
export function displayP3ToSrgb(rgb: Buffer): Buffer {
  const m = [1.2249401, -0.2249404, 0, -0.0420569, 1.0420571, 0, -0.0196376, -0.0786361, 1.0982735]
  const decode = (c: number) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4)
  const linear = Float64Array.from({ length: 256 }, (_, i) => decode(i / 255))
  const encode = (v: number) => {
    const c = Math.min(1, Math.max(0, v))
    return Math.round(255 * (c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055))
  }
  const out = Buffer.alloc(rgb.length)
  for (let i = 0; i < rgb.length; i += 3) {
    const at = (k: number) => linear[rgb[i + k] as number] as number
    const [r, g, b] = [at(0), at(1), at(2)]
    const row = (c: number) => (m[c * 3] as number) * r + (m[c * 3 + 1] as number) * g + (m[c * 3 + 2] as number) * b
    for (let c = 0; c < 3; c++) out[i + c] = encode(row(c))
  }
  return out
}
