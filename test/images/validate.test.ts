import { Readable } from 'node:stream'
import { beforeAll, describe, expect, it } from 'vitest'
import { createImagePipeline, sniffType } from '../../src/images/index.js'
import { mapSharpError } from '../../src/images/validate.js'
import sharp from 'sharp'
import { animatedGif, expectCode, fixture, jpegClaiming, pixelFloodPng, solidPng } from './helpers.js'

const images = createImagePipeline()

describe('sniffType: the bytes decide', () => {
  it.each([
    ['jpeg-exif-orientation-1-landscape.jpg', 'jpeg'],
    ['png-rgba-alpha.png', 'png'],
    ['webp-lossy.webp', 'webp'],
    ['webp-animated-loop-3.webp', 'webp'],
    ['gif-static.gif', 'gif'],
    ['avif-photo-icc-exif-xmp.avif', 'avif'],
    ['avif-animated.avif', 'avif-sequence'],
    ['heic-hevc-small.heic', 'heic'],
    ['heic-iphone-hevc-gps.heic', 'heic'],
    ['svg-w3c-embedded-data-uri-images.svg', 'svg'],
    ['tiff-lzw.tif', 'tiff'],
    ['bmp-unsupported.bmp', 'bmp'],
    ['jxl-unsupported-1x1.jxl', 'jxl'],
    ['docs/pdf-1-page-libreoffice.pdf', 'pdf'],
  ])('%s is %s', (name, kind) => {
    expect(sniffType(fixture(name)).kind).toBe(kind)
  })

  it('names crafted headers: JXL codestream, HEIF brands, HTML, XML, GIF87a, unknown', () => {
    const ftyp = (major: string, ...compat: string[]) => {
      const box = Buffer.alloc(16 + compat.length * 4)
      box.writeUInt32BE(box.length, 0)
      box.write('ftyp', 4, 'latin1')
      box.write(major, 8, 'latin1')
      compat.forEach((c, i) => box.write(c, 16 + i * 4, 'latin1'))
      return box
    }
    expect(sniffType(Buffer.from([0xff, 0x0a, 0xfa, 0x00])).kind).toBe('jxl')
    expect(sniffType(ftyp('mif1', 'mif1', 'heic')).kind).toBe('heic')
    expect(sniffType(ftyp('msf1', 'msf1', 'hevc')).kind).toBe('heic')
    expect(sniffType(ftyp('heix', 'mif1')).kind).toBe('heic')
    expect(sniffType(ftyp('mif1', 'mif1', 'miaf')).kind).toBe('heif')
    expect(sniffType(ftyp('mif1', 'mif1', 'avif')).kind).toBe('avif')
    expect(sniffType(Buffer.from('\ufeff  <!DOCTYPE html><html><script>alert(1)</script>')).kind).toBe('html')
    expect(sniffType(Buffer.from('<?xml version="1.0"?><note/>')).kind).toBe('xml')
    expect(sniffType(Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>')).kind).toBe('svg')
    expect(sniffType(Buffer.from('GIF87a\x01\x00\x01\x00', 'latin1')).kind).toBe('gif')
    expect(sniffType(Buffer.from('just some text')).kind).toBe('unknown')
  })

  it('ignores what a name or Content-Type would claim: a PNG called .jpg is a PNG', async () => {
    const facts = await images.validate(fixture('png-palette.png'))
    expect(facts).toMatchObject({ format: 'png', contentType: 'image/png' })
  })
})

describe('validate: accepted inputs and their facts', () => {
  it('reports displayed dimensions after EXIF orientation, bytes and sha256', async () => {
    const input = fixture('jpeg-exif-orientation-6-landscape.jpg')
    const facts = await images.validate(input)
    expect(facts).toMatchObject({
      format: 'jpeg',
      contentType: 'image/jpeg',
      width: 1800,
      height: 1200,
      orientation: 6,
      pages: 1,
      hasAlpha: false,
      bytes: input.length,
    })
    expect(facts.sha256).toMatch(/^[0-9a-f]{64}$/)
  })

  it('treats an invalid Orientation=0 as 1', async () => {
    expect(await images.validate(fixture('jpeg-exif-orientation-0-invalid-landscape.jpg'))).toMatchObject({
      orientation: 1,
      width: 1800,
      height: 1200,
    })
  })

  it.each([
    ['png-rgba-alpha.png', { format: 'png', hasAlpha: true }],
    ['webp-lossless-alpha.webp', { format: 'webp', hasAlpha: true }],
    ['gif-animated-loop-3.gif', { format: 'gif', pages: 10, width: 370, height: 285 }],
    ['webp-animated-loop-3.webp', { format: 'webp', pages: 10 }],
    ['avif-photo-icc-exif-xmp.avif', { format: 'avif', width: 403, height: 302 }],
    ['jpeg-arithmetic-coding.jpg', { format: 'jpeg', width: 227, height: 149 }],
  ])('accepts %s', async (name, expected) => {
    expect(await images.validate(fixture(name))).toMatchObject(expected)
  })

  it('reads a stream without a Content-Length', async () => {
    const input = fixture('gif-static.gif')
    const facts = await images.validate(Readable.from([input.subarray(0, 100), input.subarray(100)]))
    expect(facts).toMatchObject({ format: 'gif', bytes: input.length })
  })
})

describe('validate: refusals with stable codes', () => {
  it.each([
    'svg-w3c-embedded-data-uri-images.svg',
    'bmp-unsupported.bmp',
    'jxl-unsupported-1x1.jxl',
    'tiff-lzw.tif',
    'docs/pdf-1-page-libreoffice.pdf',
  ])('%s → UNSUPPORTED_TYPE (415)', async (name) => {
    const error = await expectCode(images.validate(fixture(name)), 'UNSUPPORTED_TYPE')
    expect(error).toMatchObject({ status: 415 })
  })

  it('refuses HTML and an unknown blob as UNSUPPORTED_TYPE', async () => {
    await expectCode(
      images.validate(Buffer.from('<html><body><script>alert(1)</script></body></html>')),
      'UNSUPPORTED_TYPE',
    )
    await expectCode(
      images.validate(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])),
      'UNSUPPORTED_TYPE',
    )
  })

  it.each(['jpeg-truncated-progressive.jpg', 'jpeg-corrupt-junk-before-marker.jpg'])(
    '%s → INVALID_IMAGE (422) before decoding',
    async (name) => {
      const error = await expectCode(images.validate(fixture(name)), 'INVALID_IMAGE')
      expect(error).toMatchObject({ status: 422 })
    },
  )

  it('refuses the 12-bit JPEG and the animated AVIF with a clear 4xx, never a 500', async () => {
    for (const name of ['jpeg-12bit-precision.jpg', 'avif-animated.avif']) {
      const error = await expectCode(images.validate(fixture(name)), 'UNSUPPORTED_TYPE')
      expect(error).toMatchObject({ status: 415 })
      await expectCode(images.process(fixture(name)), 'UNSUPPORTED_TYPE')
    }
  })

  it('refuses zero bytes as EMPTY_FILE, from a buffer and from a stream', async () => {
    await expectCode(images.validate(Buffer.alloc(0)), 'EMPTY_FILE')
    await expectCode(images.validate(Readable.from([])), 'EMPTY_FILE')
  })

  it('applies the purpose: documents take JPEG/PNG/PDF only; photos never take PDF', async () => {
    await expectCode(images.validate(fixture('webp-lossy.webp'), { purpose: 'document' }), 'UNSUPPORTED_TYPE')
    await expectCode(images.validate(fixture('gif-static.gif'), { purpose: 'document' }), 'UNSUPPORTED_TYPE')
    expect(await images.validate(fixture('jpeg-grayscale.jpg'), { purpose: 'document' })).toMatchObject({
      format: 'jpeg',
    })
    expect(await images.validate(fixture('docs/pdf-4-pages-pdflatex.pdf'), { purpose: 'document' })).toMatchObject({
      format: 'pdf',
      contentType: 'application/pdf',
      pages: 4,
    })
    await expectCode(
      images.validate(fixture('docs/pdf-encrypted-password.pdf'), { purpose: 'document' }),
      'INVALID_PDF',
    )
    await expectCode(
      images.validate(fixture('docs/pdf-1-page-libreoffice.pdf'), { purpose: 'profile_photo' }),
      'UNSUPPORTED_TYPE',
    )
  })

  it('honours allowedTypes from the config', async () => {
    const jpegOnly = createImagePipeline({ allowedTypes: ['image/jpeg'] })
    await expectCode(jpegOnly.validate(fixture('png-palette.png')), 'UNSUPPORTED_TYPE')
    expect(await jpegOnly.validate(fixture('jpeg-grayscale.jpg'))).toMatchObject({ format: 'jpeg' })
  })
})

describe('validate: limits, exactly at and one over', () => {
  it('bytes: a buffer of exactly maxBytes passes, one byte more is FILE_TOO_LARGE (413)', async () => {
    const input = fixture('gif-static.gif')
    expect(await createImagePipeline({ maxBytes: input.length }).validate(input)).toMatchObject({ bytes: input.length })
    const error = await expectCode(
      createImagePipeline({ maxBytes: input.length - 1 }).validate(input),
      'FILE_TOO_LARGE',
    )
    expect(error).toMatchObject({ status: 413 })
  })

  it('bytes: the same limits hold for streams', async () => {
    const input = fixture('gif-static.gif')
    const chunks = () => Readable.from([input.subarray(0, 4096), input.subarray(4096)])
    expect(await createImagePipeline({ maxBytes: input.length }).validate(chunks())).toMatchObject({
      bytes: input.length,
    })
    await expectCode(createImagePipeline({ maxBytes: input.length - 1 }).validate(chunks()), 'FILE_TOO_LARGE')
  })

  it('input side: exactly maxInputSide passes, one more is DIMENSIONS_TOO_LARGE (422)', async () => {
    const pipeline = createImagePipeline({ maxInputSide: 64 })
    expect(await pipeline.validate(await solidPng(64, 10))).toMatchObject({ width: 64, height: 10 })
    expect(await pipeline.validate(await solidPng(10, 64))).toMatchObject({ width: 10, height: 64 })
    const error = await expectCode(pipeline.validate(await solidPng(65, 10)), 'DIMENSIONS_TOO_LARGE')
    expect(error).toMatchObject({ status: 422 })
    await expectCode(pipeline.validate(await solidPng(10, 65)), 'DIMENSIONS_TOO_LARGE')
  })

  it('input pixels: exactly maxInputPixels passes, one more is DIMENSIONS_TOO_LARGE', async () => {
    const pipeline = createImagePipeline({ maxInputPixels: 1000 })
    expect(await pipeline.validate(await solidPng(40, 25))).toMatchObject({ width: 40, height: 25 })
    await expectCode(pipeline.validate(await solidPng(7, 143)), 'DIMENSIONS_TOO_LARGE') // 1001 pixels
  })

  it('frames: exactly maxFrames passes, one more is TOO_MANY_FRAMES (422)', async () => {
    const pipeline = createImagePipeline({ maxFrames: 3 })
    expect(await pipeline.validate(await animatedGif(3))).toMatchObject({ pages: 3 })
    const error = await expectCode(pipeline.validate(await animatedGif(4)), 'TOO_MANY_FRAMES')
    expect(error).toMatchObject({ status: 422 })
    await expectCode(
      createImagePipeline({ maxFrames: 9 }).validate(fixture('gif-animated-loop-3.gif')),
      'TOO_MANY_FRAMES',
    )
  })

  it("oversize 'reject' refuses what 'downscale' would shrink: at maxSide passes, one over is refused", async () => {
    const strict = createImagePipeline({ oversize: 'reject', maxSide: 50 })
    expect(await strict.validate(await solidPng(50, 20))).toMatchObject({ width: 50 })
    await expectCode(strict.validate(await solidPng(51, 20)), 'DIMENSIONS_TOO_LARGE')
  })

  it('a 12 MP phone photo (4032×3024) is within the default limits', async () => {
    expect(await images.validate(fixture('jpeg-large-12mp-orientation-6.jpg'))).toMatchObject({
      width: 3024,
      height: 4032,
      orientation: 6,
    })
  })
})

describe('decompression bombs are refused from the header, fast', () => {
  let flood: Buffer
  let bigJpeg: Buffer
  beforeAll(() => {
    flood = pixelFloodPng(30000)
    bigJpeg = jpegClaiming(65000, 65000)
  })

  it('the crafted inputs are what they claim (checked with sharp, limits off, header only)', async () => {
    expect(flood.length).toBeLessThan(150_000)
    expect(await sharp(flood, { limitInputPixels: false }).metadata()).toMatchObject({
      width: 30000,
      height: 30000,
      format: 'png',
    })
    expect(await sharp(bigJpeg, { limitInputPixels: false }).metadata()).toMatchObject({
      width: 65000,
      height: 65000,
      format: 'jpeg',
    })
  })

  // Refused from the header, before any pixel is decoded: inputs with no pixel data a decoder could
  // read (the flood cut after its IHDR chunk; the JPEG's scan is empty) get the same answer, where a
  // decode would fail. How fast that is: `npm run bench:images`.
  const floodHeader = () => flood.subarray(0, 8 + 25)

  it('a 30000×30000 pixel-flood PNG, a JPEG claiming 65000×65000: DIMENSIONS_TOO_LARGE from the header', async () => {
    for (const input of [flood, floodHeader(), bigJpeg]) {
      for (const call of [() => images.validate(input), () => images.process(input)]) {
        await expectCode(call(), 'DIMENSIONS_TOO_LARGE')
      }
    }
  })

  it('with the side limit raised, the pixel limit still refuses the flood before any decode', async () => {
    const wide = createImagePipeline({ maxInputSide: 100_000 })
    await expectCode(wide.process(flood), 'DIMENSIONS_TOO_LARGE')
    await expectCode(wide.process(floodHeader()), 'DIMENSIONS_TOO_LARGE')
  })

  it("maps sharp's own pixel-limit error to DIMENSIONS_TOO_LARGE (not a 500)", async () => {
    const cause = await sharp(flood, { limitInputPixels: 1000 })
      .raw()
      .toBuffer()
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    expect(cause).toBeInstanceOf(Error)
    expect(mapSharpError(cause)).toMatchObject({ code: 'DIMENSIONS_TOO_LARGE', status: 422 })
  })
})
