import exifr from 'exifr'
import sharp, { type Sharp } from 'sharp'
import { beforeAll, describe, expect, it } from 'vitest'
import { loadImagesConfig } from '../../src/config/index.js'
import {
  createImagePipeline,
  defaultHeifDecoder,
  type HeifDecoder,
  type Output,
  type ProcessedImage,
} from '../../src/images/index.js'
import { colourDiff, displayP3ToSrgb, expectClean, expectCode, fixture, meanDiff } from './helpers.js'
import { claimingSize, gridTiles, itemExtents, primaryProperties, withTransforms } from './heif-files.js'

/**
 * HEIC/HEIF input (iPhone photos) through the image pipeline, with the real decoder (libheif in
 * WebAssembly worker threads): what comes out, which way up, in which colours, and how hostile
 * files built from the real iPhone photo are refused.
 */

const images = createImagePipeline()
// iPhone 11 Pro Max: 2566×3313 grid of 512 px tiles, Display P3, GPS
const IPHONE = fixture('heic-iphone-hevc-gps.heic')
const SMALL = fixture('heic-hevc-small.heic') // 128×128, one HEVC image, nclx colour
const LARGE = fixture('heic-large-12mp-irot-270.heic') // 4032×3024 stored, irot 3: the 12 MP JPEG fixture's photo

const names = (outputs: readonly Output[]) => outputs.map((o) => `${o.variant}.${o.ext}`)
const output = (result: ProcessedImage, name: string) =>
  result.outputs.find((o) => `${o.variant}.${o.ext}` === name) as Output

/** Counts the calls that reach the real decoder, to show what is refused before any decode. */
function countingDecoder(inner: HeifDecoder = defaultHeifDecoder()) {
  const calls = { probe: 0, decode: 0 }
  const decoder: HeifDecoder = {
    probe: (input, options) => (calls.probe++, inner.probe(input, options)),
    decode: (input, options) => (calls.decode++, inner.decode(input, options)),
    close: () => inner.close(),
  }
  return { decoder, calls }
}

describe('HEIC/HEIF: accepted by default', () => {
  it('ALLOWED_IMAGE_TYPES has image/heic and image/heif unless configured otherwise', () => {
    expect(loadImagesConfig().allowedTypes).toEqual(expect.arrayContaining(['image/heic', 'image/heif']))
  })

  it.each([
    [
      IPHONE,
      {
        format: 'heic',
        contentType: 'image/heic',
        width: 2566,
        height: 3313,
        orientation: 1,
        pages: 1,
        hasAlpha: false,
      },
    ],
    [SMALL, { format: 'heic', width: 128, height: 128 }],
    // Stored 4032×3024 and turned by irot: reported as displayed, like a JPEG with EXIF orientation 6.
    [LARGE, { format: 'heic', width: 3024, height: 4032, orientation: 1 }],
  ])('validate reads the header without decoding (%#)', async (input, expected) => {
    const { decoder, calls } = countingDecoder()
    const facts = await createImagePipeline({}, { heifDecoder: decoder }).validate(input)
    expect(facts).toMatchObject({ ...expected, bytes: input.length })
    expect(calls).toEqual({ probe: 1, decode: 0 })
  })
})

describe('HEIC/HEIF: the iPhone photo through the whole pipeline', () => {
  let result: ProcessedImage
  beforeAll(async () => {
    result = await images.process(IPHONE)
  })

  it('gives the usual outputs at the usual sizes', () => {
    expect(names(result.outputs)).toEqual([
      'original.jpg',
      'original.webp',
      'thumbnail.jpg',
      'thumbnail.webp',
      'medium.jpg',
      'medium.webp',
      'large.jpg',
      'large.webp',
    ])
    const sizes = Object.fromEntries(result.outputs.map((o) => [`${o.variant}.${o.ext}`, [o.width, o.height]]))
    expect(sizes).toMatchObject({
      'original.jpg': [2566, 3313],
      'thumbnail.jpg': [232, 300],
      'medium.jpg': [620, 800],
      'large.jpg': [929, 1200],
    })
    expect(result.placeholder.thumbhash).toEqual(expect.any(String))
    expect(result.dominantColor).toMatch(/^#[0-9a-f]{6}$/)
  })

  it('strips every metadata block: the photo had GPS, no output has any EXIF, XMP or profile', async () => {
    const gps = (await exifr.gps(IPHONE)) as { latitude?: number } | undefined
    expect(gps?.latitude).toBeCloseTo(39.05, 1) // the input really carries a location
    for (const o of result.outputs) {
      await expectClean(o)
      if (o.format !== 'webp') expect(await exifr.gps(o.data).catch(() => undefined)).toBeFalsy()
      // The bytes of the input's EXIF block (camera make and model, lens) appear in no output.
      expect(o.data.includes('iPhone 11 Pro Max')).toBe(false)
    }
  })

  it('converts Display P3 to sRGB instead of reinterpreting the numbers', async () => {
    const limits = { maxInputPixels: 5e7, maxInputSide: 1e4, decodeTimeoutMs: 30_000 }
    const decoded = await defaultHeifDecoder().decode(IPHONE, { limits })
    expect(decoded.icc?.toString('latin1')).toContain('Display P3')
    const raw = (data: Buffer) => sharp(data, { raw: { width: decoded.width, height: decoded.height, channels: 3 } })
    const original = output(result, 'original.jpg').data
    const converted = await colourDiff(original, raw(displayP3ToSrgb(decoded.data)))
    const reinterpreted = await colourDiff(original, raw(decoded.data))
    expect(converted).toBeLessThan(0.5)
    expect(reinterpreted).toBeGreaterThan(4 * converted)
  })
})

describe('HEIC/HEIF: the container turns the photo, exactly once', () => {
  let upright: Buffer
  beforeAll(async () => {
    upright = (await images.prepareOriginal(SMALL)).original.data
  })

  // irot turns anticlockwise in quarter turns; imir 0 mirrors top-bottom, 1 left-right (libheif's and
  // Apple's reading of the axis). Transforms apply in the order the item lists them.
  it.each([
    [[{ irot: 1 }], (s: Sharp) => s.rotate(270)],
    [[{ irot: 2 }], (s: Sharp) => s.rotate(180)],
    [[{ irot: 3 }], (s: Sharp) => s.rotate(90)],
    [[{ imir: 0 }], (s: Sharp) => s.flip()],
    [[{ imir: 1 }], (s: Sharp) => s.flop()],
    // sharp mirrors before it rotates, whatever the call order: two passes for rotate-then-mirror.
    [[{ irot: 1 }, { imir: 0 }], async (s: Sharp) => sharp(await s.rotate(270).toBuffer()).flip()],
    [[{ irot: 3 }, { imir: 1 }], async (s: Sharp) => sharp(await s.rotate(90).toBuffer()).flop()],
  ] as const)(
    '%j matches the upright photo turned the same way, pixel for pixel (within JPEG noise)',
    async (transforms, turn) => {
      const { original } = await images.prepareOriginal(withTransforms(SMALL, transforms))
      const expected = await (await turn(sharp(upright))).toBuffer()
      expect(await meanDiff(original.data, expected)).toBeLessThan(3)
      expect(await meanDiff(original.data, upright)).toBeGreaterThan(15) // and it did turn
    },
  )

  it('a 12 MP HEIC turned by irot equals the 12 MP JPEG of the same photo turned by EXIF', async () => {
    expect(primaryProperties(LARGE, 'irot')).toHaveLength(1)
    const [heic, jpeg] = await Promise.all([
      images.prepareOriginal(LARGE),
      images.prepareOriginal(fixture('jpeg-large-12mp-orientation-6.jpg')),
    ])
    expect([heic.original.width, heic.original.height]).toEqual([jpeg.original.width, jpeg.original.height])
    expect([heic.original.width, heic.original.height]).toEqual([3000, 4000])
    expect(await meanDiff(heic.original.data, jpeg.original.data, 36, 48)).toBeLessThan(3)
    expect(
      await meanDiff(await sharp(heic.original.data).rotate(180).toBuffer(), jpeg.original.data, 36, 48),
    ).toBeGreaterThan(15)
  })
})

describe('HEIC/HEIF: hostile files are refused with stable codes, never a crash or a hang', () => {
  it('a grid claiming 60000×60000 is DIMENSIONS_TOO_LARGE from its header, before any decode', async () => {
    const { decoder, calls } = countingDecoder()
    const pipeline = createImagePipeline({}, { heifDecoder: decoder })
    const bomb = claimingSize(IPHONE, 60000, 60000)
    await expectCode(pipeline.validate(bomb), 'DIMENSIONS_TOO_LARGE')
    await expectCode(pipeline.prepareOriginal(bomb), 'DIMENSIONS_TOO_LARGE')
    await expectCode(pipeline.process(bomb), 'DIMENSIONS_TOO_LARGE')
    expect(calls.decode).toBe(0)
  })

  it('a grid over the pixel limit but within the side limit (9000×9000, 81 MP) is refused the same way', async () => {
    const error = await expectCode(images.validate(claimingSize(IPHONE, 9000, 9000)), 'DIMENSIONS_TOO_LARGE')
    expect(error).toMatchObject({ status: 422, details: { width: 9000, height: 9000, maxInputPixels: 50_000_000 } })
  })

  it('a grid whose tiles claim a canvas larger than its header is refused before a tile is decoded', async () => {
    const liar = claimingSize(IPHONE, 60000, 60000, { ispe: false })
    expect(await images.validate(liar)).toMatchObject({ width: 2566, height: 3313 }) // the header is honest
    await expectCode(images.prepareOriginal(liar), 'DIMENSIONS_TOO_LARGE')
  })

  it('the honest limits still pass: the same photo under limits just above its size', async () => {
    const tight = createImagePipeline({ maxInputPixels: 2566 * 3313, maxInputSide: 3313, maxSide: 400 })
    expect((await tight.prepareOriginal(IPHONE)).original).toMatchObject({ width: 310, height: 400 })
    await expectCode(createImagePipeline({ maxInputPixels: 2566 * 3313 - 1 }).validate(IPHONE), 'DIMENSIONS_TOO_LARGE')
  })

  it.each([
    ['cut in the middle of its tiles', (f: Buffer) => f.subarray(0, f.length >> 1)],
    ['cut 10 bytes short', (f: Buffer) => f.subarray(0, f.length - 10)],
    ['cut inside its header', (f: Buffer) => f.subarray(0, 2000)],
  ])('a truncated HEIC (%s) is INVALID_IMAGE', async (_, cut) => {
    const error = await expectCode(images.prepareOriginal(cut(IPHONE)), 'INVALID_IMAGE')
    expect(error).toMatchObject({ status: 422 })
  })

  describe('a broken tile', () => {
    const tile = (file: Buffer, n: number) =>
      itemExtents(file, gridTiles(file)[n] as number)[0] as { offset: number; length: number }

    it.each([
      [
        'whose length prefix points past its data',
        (f: Buffer, t: { offset: number }) => f.writeUInt32BE(0x7ffffff0, t.offset),
      ],
      [
        'whose slice header is garbage',
        (f: Buffer, t: { offset: number }) => {
          for (let i = 4; i < 40; i++) f[t.offset + i] = (i * 37) & 255
        },
      ],
      [
        'whose data was zeroed',
        (f: Buffer, t: { offset: number; length: number }) => f.fill(0, t.offset, t.offset + t.length),
      ],
    ])('(one of 42, %s) is INVALID_IMAGE', async (_, damage) => {
      expect(gridTiles(IPHONE)).toHaveLength(42)
      const broken = Buffer.from(IPHONE)
      damage(broken, tile(broken, 20))
      await expectCode(images.prepareOriginal(broken), 'INVALID_IMAGE')
    })
  })

  it('an ftyp that says heic followed by junk is INVALID_IMAGE', async () => {
    const junk = Buffer.concat([IPHONE.subarray(0, 24), Buffer.alloc(4096, 0x41)])
    await expectCode(images.validate(junk), 'INVALID_IMAGE')
  })

  it('a generic HEIF whose image is AV1 (no avif brand) is UNSUPPORTED_TYPE: only HEVC is decoded', async () => {
    const avif = Buffer.from(fixture('avif-photo-icc-exif-xmp.avif'))
    const ftyp = avif.readUInt32BE(0)
    avif.write('mif1', 8, 'latin1')
    for (let at = 16; at < ftyp; at += 4) avif.write('mif1', at, 'latin1')
    await expectCode(images.prepareOriginal(avif), 'UNSUPPORTED_TYPE')
  })

  it('a decode that outlives IMAGE_DECODE_TIMEOUT is stopped: INVALID_IMAGE, and the next decode works', async () => {
    const impatient = createImagePipeline({ decodeTimeoutMs: 50 }) // the iPhone photo takes over a second
    const error = await expectCode(impatient.prepareOriginal(IPHONE), 'INVALID_IMAGE')
    expect(error).toMatchObject({ details: { limit: 'decodeTimeout', decodeTimeoutMs: 50 } })
    expect((await images.prepareOriginal(SMALL)).original).toMatchObject({ width: 128, height: 128 })
  })

  it('an upload aborted while its HEIC decodes is ABORTED, and the decoder carries on', async () => {
    const controller = new AbortController()
    const inner = defaultHeifDecoder()
    // The client goes away the moment the decode has been handed to a worker.
    const decoder: HeifDecoder = {
      ...inner,
      decode: (input, options) => {
        const decoding = inner.decode(input, options)
        controller.abort(new Error('client went away'))
        return decoding
      },
    }
    await expectCode(
      createImagePipeline({}, { heifDecoder: decoder }).prepareOriginal(IPHONE, { signal: controller.signal }),
      'ABORTED',
    )
    expect((await images.prepareOriginal(SMALL)).original).toMatchObject({ width: 128, height: 128 })
  })
})

describe('HEIC/HEIF for verification documents', () => {
  it('are accepted (a phone photographs the ID card) and stored as a JPEG document: full chroma, no WebP', async () => {
    const result = await images.process(SMALL, { purpose: 'document' })
    expect(names(result.outputs)).toEqual(['original.jpg', 'thumbnail.jpg'])
    for (const o of result.outputs) await expectClean(o)
    expect((await sharp(output(result, 'original.jpg').data).metadata()).chromaSubsampling).toBe('4:4:4')
  })

  it('follow ALLOWED_IMAGE_TYPES: without image/heic they are refused everywhere, with a hint', async () => {
    const noHeic = createImagePipeline({ allowedTypes: ['image/jpeg', 'image/png'] })
    for (const purpose of ['item_photo', 'document'] as const) {
      const error = await expectCode(noHeic.validate(IPHONE, { purpose }), 'UNSUPPORTED_TYPE')
      expect(error).toMatchObject({ message: expect.stringMatching(/export the photo as JPEG/) })
    }
  })
})
