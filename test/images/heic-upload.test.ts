import { mkdtempSync, readdirSync, type Dirent } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import exifr from 'exifr'
import type { FastifyInstance } from 'fastify'
import sharp, { type Sharp } from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildHttpApp } from '../../src/http/app.js'
import { signToken } from '../../src/http/auth.js'
import { objectKeys, openTestStorage, type TestStorage } from '../support/storage.js'
import { multipart, type Part } from '../http/support/app.js'
import { colourDiff, displayP3ToSrgb, fixture } from './helpers.js'
import { claimingSize, gridTiles, itemExtents } from './heif-files.js'

/**
 * An iPhone photo (HEIC) uploaded the way the marketplace's clients upload any photo: multipart
 * POST to the HTTP service on the embedded default (disk store, SQLite, in-process queue), over a
 * real socket. What is checked is what a user of the API sees: the answer, the variants it lists
 * and the bytes each URL delivers; and for hostile HEICs, the problem code and that nothing was
 * left behind.
 */

// Temp files the service makes land here, and must be gone afterwards.
const TMP = mkdtempSync(join(tmpdir(), 'localex-heic-'))
process.env.TMPDIR = TMP

const IPHONE = fixture('heic-iphone-hevc-gps.heic')

interface Variant {
  variant: string
  format: string
  contentType: string
  width: number
  height: number
  size: number
  url: string
}

/**
 * The photo as a reference that shares no code with the service: libheif-js' own JavaScript API
 * (its `HeifDecoder`, which applies the container's transforms), Display P3 converted by hand.
 */
async function referenceDecode(heic: Buffer): Promise<Sharp> {
  interface Image {
    get_width(): number
    get_height(): number
    display(target: { data: Uint8ClampedArray; width: number; height: number }, done: (result: unknown) => void): void
  }
  const libheif = createRequire(import.meta.url)('libheif-js/wasm-bundle') as {
    HeifDecoder: new () => { decode(data: Buffer): Image[] }
  }
  const [image] = new libheif.HeifDecoder().decode(heic)
  if (!image) throw new Error('libheif-js found no image')
  const width = image.get_width()
  const height = image.get_height()
  const rgba = new Uint8ClampedArray(width * height * 4)
  await new Promise((resolve) => image.display({ data: rgba, width, height }, resolve))
  const rgb = Buffer.alloc(width * height * 3)
  for (let i = 0, o = 0; i < rgba.length; i += 4, o += 3) rgb.set(rgba.subarray(i, i + 3), o)
  return sharp(displayP3ToSrgb(rgb), { raw: { width, height, channels: 3 } })
}

function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)))
    .sort()
}

describe('iPhone photos (HEIC) over HTTP on the embedded default', () => {
  let t: TestStorage
  let app: FastifyInstance
  let base: string
  let alice: Record<string, string>

  const post = async (path: string, parts: Part[]) => {
    const form = multipart(parts)
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { ...alice, ...form.headers },
      body: form.payload,
    })
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      body: (await res.json()) as Record<string, unknown>,
    }
  }
  const photo = (data: Buffer, filename = 'IMG_5195.HEIC'): Part => ({
    name: 'file',
    filename,
    contentType: 'image/heic',
    data,
  })
  const leftovers = async () => {
    await t.drain()
    return { counts: await t.counts(), objects: await objectKeys(t, ''), files: filesUnder(TMP) }
  }

  beforeAll(async () => {
    const server = createServer()
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port
    await new Promise((r) => server.close(r))
    base = `http://127.0.0.1:${port}`
    t = await openTestStorage('embedded', { PUBLIC_BASE_URL: base, UPLOAD_RATE_LIMIT: '0' })
    app = buildHttpApp({ config: t.config, files: t.files, store: t.store, health: t.health, logger: false })
    await app.listen({ host: '127.0.0.1', port })
    alice = { authorization: `Bearer ${await signToken(t.config, { sub: 'alice', ttlSeconds: 600 })}` }
  })
  afterAll(async () => {
    await app?.close()
    await t?.close()
  })

  it('ends ready with upright, sRGB, GPS-free outputs of the right sizes', async () => {
    expect(((await exifr.gps(IPHONE)) as { latitude?: number } | undefined)?.latitude).toBeCloseTo(39.05, 1)
    const res = await post('/v1/items/item-heic/photos?wait=true', [photo(IPHONE)])
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    expect(res.body).toMatchObject({
      status: 'ready',
      width: 2566,
      height: 3313,
      originalName: 'IMG_5195.HEIC',
      contentType: 'image/jpeg',
    })

    const variants = res.body.variants as Variant[]
    const sizes = Object.fromEntries(variants.map((v) => [`${v.variant}.${v.format}`, `${v.width}x${v.height}`]))
    expect(sizes).toEqual({
      'original.jpeg': '2566x3313',
      'original.webp': '2566x3313',
      'thumbnail.jpeg': '232x300',
      'thumbnail.webp': '232x300',
      'medium.jpeg': '620x800',
      'medium.webp': '620x800',
      'large.jpeg': '929x1200',
      'large.webp': '929x1200',
    })
    const reference = await referenceDecode(IPHONE)
    const upright = await reference.clone().resize(929, 1200, { fit: 'fill' }).png().toBuffer()
    for (const v of variants) {
      const got = await fetch(v.url)
      expect(got.status, v.url).toBe(200)
      expect(got.headers.get('content-type')).toBe(v.contentType)
      const body = Buffer.from(await got.arrayBuffer())
      expect(body.length).toBe(v.size)
      const meta = await sharp(body).metadata()
      expect([meta.format, meta.width, meta.height, meta.space]).toEqual([v.format, v.width, v.height, 'srgb'])
      expect([meta.icc, meta.exif, meta.xmp, meta.orientation]).toEqual([undefined, undefined, undefined, undefined])
      if (v.format === 'jpeg')
        expect(await exifr.parse(body, { gps: true, tiff: true, xmp: true }).catch(() => undefined)).toBeFalsy()
      expect(body.includes('iPhone 11 Pro Max')).toBe(false)
      // Upright and in the photo's colours: the same picture as the independent reference.
      expect(await colourDiff(body, upright), `${v.variant}.${v.format}`).toBeLessThan(2)
    }
    const sideways = await sharp(upright).rotate(90).resize(929, 1200, { fit: 'fill' }).toBuffer()
    expect(await colourDiff(sideways, upright)).toBeGreaterThan(10) // the comparison can tell a turned photo
  })

  it('takes a HEIC as a private verification document, stored as JPEG', async () => {
    const res = await post('/v1/verification-documents', [{ name: 'type', data: 'id_card' }, photo(IPHONE, 'ID.heic')])
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    expect(res.body).toMatchObject({ accessLevel: 'private', documentType: 'id_card', url: null })
    await t.drain()
    const keys = await objectKeys(t, `verification/alice/id_card/${res.body.id as string}/`)
    expect(keys.map((k) => k.split('/').pop())).toEqual(['ID.jpg', 'thumbnail.jpg'])
  })

  it('refuses hostile HEICs with stable codes and leaves no object, row, job or temp file behind', async () => {
    const before = await leftovers()
    const tile = itemExtents(IPHONE, gridTiles(IPHONE)[20] as number)[0] as { offset: number }
    const brokenTile = Buffer.from(IPHONE)
    brokenTile.writeUInt32BE(0x7ffffff0, tile.offset)
    const cases: [string, Buffer, number, string][] = [
      ['a grid claiming 60000x60000', claimingSize(IPHONE, 60000, 60000), 422, 'DIMENSIONS_TOO_LARGE'],
      [
        'a grid whose tiles claim more than its header',
        claimingSize(IPHONE, 60000, 60000, { ispe: false }),
        422,
        'DIMENSIONS_TOO_LARGE',
      ],
      ['a HEIC cut in half', IPHONE.subarray(0, IPHONE.length >> 1), 422, 'INVALID_IMAGE'],
      ['a broken tile', brokenTile, 422, 'INVALID_IMAGE'],
    ]
    for (const [name, data, status, code] of cases) {
      const res = await post('/v1/items/item-hostile/photos?wait=true', [photo(data)])
      expect([res.status, res.body.code], `${name}: ${JSON.stringify(res.body)}`).toEqual([status, code])
      expect(res.type).toMatch(/^application\/problem\+json/)
      expect(JSON.stringify(res.body)).not.toMatch(/\/work\/|\/tmp\/|node:internal|\.ts:\d/)
    }
    expect(await leftovers()).toEqual(before)
    expect((await fetch(`${base}/readyz`)).status).toBe(200)
  })
})
