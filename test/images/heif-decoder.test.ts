import { afterAll, describe, expect, it } from 'vitest'
import { createWasmHeifDecoder } from '../../src/images/index.js'
import { expectCode, fixture } from './helpers.js'

/**
 * The WebAssembly HEIF decoder port on its own: its worker pool queues, recovers and stops as its
 * contract says, and decoding never holds the event loop.
 */

const IPHONE = fixture('heic-iphone-hevc-gps.heic')
const SMALL = fixture('heic-hevc-small.heic')
const limits = { maxInputPixels: 50_000_000, maxInputSide: 10_000, decodeTimeoutMs: 30_000 }

describe('createWasmHeifDecoder', () => {
  const decoder = createWasmHeifDecoder({ workers: 1 })
  afterAll(() => decoder.close())

  it('decodes to packed 8-bit RGB with the header it checked, the ICC profile alongside', async () => {
    const decoded = await decoder.decode(IPHONE, { limits })
    expect(decoded).toMatchObject({ width: 2566, height: 3313, channels: 3, hasAlpha: false, bitDepth: 8 })
    expect(decoded.data.length).toBe(2566 * 3313 * 3)
    expect(decoded.icc?.length).toBe(548)
    expect(await decoder.probe(SMALL, { limits })).toMatchObject({
      width: 128,
      height: 128,
      primaries: expect.any(Number),
    })
  })

  it('queues more decodes than it has workers and answers each', async () => {
    const results = await Promise.all([SMALL, IPHONE, SMALL, SMALL].map((input) => decoder.decode(input, { limits })))
    expect(results.map((r) => `${r.width}x${r.height}`)).toEqual(['128x128', '2566x3313', '128x128', '128x128'])
  })

  it('keeps the event loop turning while a decode runs in its worker', async () => {
    let turns = 0
    const timer = setInterval(() => turns++, 1)
    await decoder.decode(IPHONE, { limits })
    clearInterval(timer)
    // On the event loop the interval could not have fired until the decode returned.
    expect(turns).toBeGreaterThan(3)
  })

  it('refuses queued work when closed, and starts again when used afterwards', async () => {
    const busy = decoder.decode(IPHONE, { limits })
    const queued = decoder.decode(SMALL, { limits })
    await decoder.close()
    await expectCode(busy, 'ABORTED')
    await expectCode(queued, 'ABORTED')
    expect(await decoder.decode(SMALL, { limits })).toMatchObject({ width: 128 })
  })

  it('replaces a worker whose memory grew past the recycling threshold, without the caller noticing', async () => {
    const thrifty = createWasmHeifDecoder({ workers: 1, recycleHeapBytes: 1 })
    try {
      for (let i = 0; i < 3; i++) expect(await thrifty.decode(SMALL, { limits })).toMatchObject({ width: 128 })
    } finally {
      await thrifty.close()
    }
  })

  it('a signal that already fired is ABORTED without touching a worker', async () => {
    await expectCode(decoder.decode(SMALL, { limits, signal: AbortSignal.abort() }), 'ABORTED')
  })
})
