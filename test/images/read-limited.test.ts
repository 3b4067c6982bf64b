import { PassThrough, Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { readLimited } from '../../src/images/index.js'
import { expectCode } from './helpers.js'

describe('readLimited', () => {
  it('returns exactly maxBytes when exactly maxBytes arrive', async () => {
    const data = Buffer.alloc(1000, 7)
    const out = await readLimited(Readable.from([data.subarray(0, 300), data.subarray(300)]), 1000)
    expect(out.equals(data)).toBe(true)
  })

  it('refuses one byte over with FILE_TOO_LARGE and destroys the source', async () => {
    const source = Readable.from([Buffer.alloc(600), Buffer.alloc(401)])
    const error = await expectCode(readLimited(source, 1000), 'FILE_TOO_LARGE')
    expect(error).toMatchObject({ status: 413 })
    expect(source.destroyed).toBe(true)
  })

  it('stops at the chunk that crosses the limit: nothing after it is read', async () => {
    let produced = 0
    const source = new Readable({
      read() {
        // An endless upload of 64 KiB chunks.
        produced += 65536
        this.push(Buffer.alloc(65536))
      },
    })
    await expectCode(readLimited(source, 1_000_000), 'FILE_TOO_LARGE')
    expect(source.destroyed).toBe(true)
    // The limit is crossed by the 16th chunk; a few more may sit in the stream's own read-ahead buffer.
    expect(produced).toBeLessThan(1_000_000 + 4 * 65536)
  })

  it('refuses an empty stream with EMPTY_FILE', async () => {
    await expectCode(readLimited(Readable.from([]), 10), 'EMPTY_FILE')
  })

  it('rejects with ABORTED when the signal fires, and destroys the source', async () => {
    const source = new PassThrough()
    const controller = new AbortController()
    const pending = readLimited(source, 1000, controller.signal)
    source.write(Buffer.alloc(10))
    controller.abort()
    await expectCode(pending, 'ABORTED')
    expect(source.destroyed).toBe(true)
    await expectCode(readLimited(Readable.from([Buffer.alloc(1)]), 10, AbortSignal.abort()), 'ABORTED')
  })

  it('passes the source error through', async () => {
    const source = new PassThrough()
    const pending = readLimited(source, 1000)
    source.destroy(new Error('connection reset'))
    await expect(pending).rejects.toThrow('connection reset')
  })
})
