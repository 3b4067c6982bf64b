import { afterEach, describe, expect, it, vi } from 'vitest'
import { backoffDelay, encodeKeyPath, mapLimit, sleep } from '../../src/lib/index.js'

describe('backoffDelay', () => {
  it('is full jitter under an exponential ceiling, capped', () => {
    const full = (attempt: number, random?: () => number) => backoffDelay(attempt, { baseMs: 100, maxMs: 5000, random })
    expect(full(1, () => 0)).toBe(0)
    expect(full(1, () => 0.999999)).toBe(100)
    expect(full(3, () => 0.999999)).toBe(400)
    expect(full(20, () => 0.999999)).toBe(5000)
    const spread = new Set(Array.from({ length: 50 }, () => full(4)))
    expect(spread.size).toBeGreaterThan(10)
    for (const d of spread) expect(d).toBeLessThanOrEqual(800)
  })

  it("without jitter is base, 2×base, 4×base, … uncapped by default (the queues' schedule)", () => {
    const none = (attempt: number) => backoffDelay(attempt, { baseMs: 30, jitter: 'none', random: () => 0 })
    expect([0, 1, 2, 3, 4, 12].map(none)).toEqual([30, 30, 60, 120, 240, 61_440])
    expect(backoffDelay(2, { baseMs: 2.5, jitter: 'none' })).toBe(5)
    expect(backoffDelay(3, { baseMs: 0.3, jitter: 'none' })).toBe(1)
    expect(backoffDelay(10, { baseMs: 100, maxMs: 1000, jitter: 'none' })).toBe(1000)
  })
})

describe('sleep', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('sleep rejects at once on an aborted signal', async () => {
    await expect(sleep(10_000, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORTED' })
  })

  it('resolves after the delay and detaches from the signal', async () => {
    vi.useFakeTimers()
    const controller = new AbortController()
    const remove = vi.spyOn(controller.signal, 'removeEventListener')
    let done = false
    const slept = sleep(1000, { signal: controller.signal }).then(() => (done = true))
    await vi.advanceTimersByTimeAsync(999)
    expect(done).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    await slept
    expect(done).toBe(true)
    expect(remove).toHaveBeenCalledWith('abort', expect.any(Function))
  })

  it('rejects with ABORTED, the reason as cause, when the signal aborts meanwhile', async () => {
    vi.useFakeTimers()
    const controller = new AbortController()
    const slept = sleep(60_000, { signal: controller.signal })
    controller.abort(new Error('shutting down'))
    await expect(slept).rejects.toMatchObject({ code: 'ABORTED', cause: new Error('shutting down') })
    expect(vi.getTimerCount()).toBe(0)
  })
})

describe('mapLimit', () => {
  /** A call per item that stays open until the test settles it. */
  function gated() {
    const running = new Set<number>()
    let peak = 0
    const gates = new Map<number, { resolve: () => void; reject: (error: unknown) => void }>()
    const fn = (item: number) =>
      new Promise<number>((resolve, reject) => {
        running.add(item)
        peak = Math.max(peak, running.size)
        gates.set(item, {
          resolve: () => (running.delete(item), resolve(item * 10)),
          reject: (error) => (running.delete(item), reject(error)),
        })
      })
    return { fn, running, gates, peak: () => peak }
  }
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

  it('keeps at most `limit` calls in flight and returns results in input order', async () => {
    const g = gated()
    const all = mapLimit([1, 2, 3, 4, 5], 2, g.fn)
    await turn()
    expect([...g.running]).toEqual([1, 2])
    g.gates.get(2)?.resolve()
    await turn()
    expect([...g.running]).toEqual([1, 3])
    for (const item of [1, 3, 4, 5]) {
      g.gates.get(item)?.resolve()
      await turn()
    }
    expect(await all).toEqual([10, 20, 30, 40, 50])
    expect(g.peak()).toBe(2)
  })

  it('starts nothing after a failure, waits for the running calls, then rethrows the failure', async () => {
    const g = gated()
    let settled = false
    const all = mapLimit([1, 2, 3, 4], 2, g.fn).finally(() => (settled = true))
    await turn()
    g.gates.get(1)?.reject(new Error('first'))
    await turn()
    expect([...g.running]).toEqual([2])
    expect(settled).toBe(false)
    g.gates.get(2)?.resolve()
    await expect(all).rejects.toThrow('first')
    expect(g.gates.has(3)).toBe(false)
  })

  it('stops starting calls once the signal aborts, then rejects with ABORTED', async () => {
    const g = gated()
    const controller = new AbortController()
    const all = mapLimit([1, 2, 3], 1, g.fn, { signal: controller.signal })
    await turn()
    controller.abort()
    g.gates.get(1)?.resolve()
    await expect(all).rejects.toMatchObject({ code: 'ABORTED' })
    expect(g.gates.has(2)).toBe(false)
  })

  it('runs one at a time when asked for fewer, and resolves at once for no items', async () => {
    expect(await mapLimit([1, 2], 0, async (n) => n)).toEqual([1, 2])
    expect(await mapLimit([], 4, async () => 1)).toEqual([])
  })
})

describe('encodeKeyPath', () => {
  it.each([
    ['a b/c%d', 'a%20b/c%25d'],
    ['verification/u1/passport/f1/Pässe scan.pdf', 'verification/u1/passport/f1/P%C3%A4sse%20scan.pdf'],
    ['items/x/photos/y/original.jpg', 'items/x/photos/y/original.jpg'],
    ['a?b#c&d=e+f', 'a%3Fb%23c%26d%3De%2Bf'],
  ])('encodes each segment of %s and keeps the slashes', (key, path) => {
    expect(encodeKeyPath(key)).toBe(path)
  })
})
