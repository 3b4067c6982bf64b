import { describe, expect, it, vi } from 'vitest'
import { LocalexError } from '../../src/errors/index.js'
import { attemptsOf, isTransientError, withRetry } from '../../src/storage/retry.js'
import { settledWithoutTime } from '../support/wait.js'

const sdkError = (name: string, status?: number) =>
  Object.assign(new Error(name), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}) })
const netError = (code: string) => Object.assign(new Error(`connect ${code}`), { code })

describe('isTransientError', () => {
  it.each([
    ['SlowDown 503', sdkError('SlowDown', 503)],
    ['429', sdkError('TooManyRequests', 429)],
    ['500', sdkError('InternalError', 500)],
    ['502 without a name we know', sdkError('BadGateway', 502)],
    ['ECONNRESET', netError('ECONNRESET')],
    ['ECONNREFUSED', netError('ECONNREFUSED')],
    ['ETIMEDOUT', netError('ETIMEDOUT')],
    ['EPIPE', netError('EPIPE')],
    ['socket hang up', new Error('socket hang up')],
    ['TimeoutError', sdkError('TimeoutError')],
    ['wrapped reset', new Error('request failed', { cause: netError('ECONNRESET') })],
  ])('retries %s', (_label, error) => {
    expect(isTransientError(error)).toBe(true)
  })

  it.each([
    ['403', sdkError('AccessDenied', 403)],
    ['404', sdkError('NoSuchKey', 404)],
    ['412', sdkError('PreconditionFailed', 412)],
    ['400 even when named like throttling', sdkError('SlowDown', 400)],
    ['abort', sdkError('AbortError')],
    ['ABORTED', new LocalexError('ABORTED')],
    ['a plain bug', new TypeError('x is not a function')],
    ['not an error', 'boom'],
  ])('never retries %s', (_label, error) => {
    expect(isTransientError(error)).toBe(false)
  })
})

describe('withRetry', () => {
  const fast = { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 2 }

  it('retries transient failures until one succeeds', async () => {
    const seen: number[] = []
    const result = await withRetry(async (attempt) => {
      seen.push(attempt)
      if (attempt < 3) throw netError('ECONNRESET')
      return 'ok'
    }, fast)
    expect(result).toBe('ok')
    expect(seen).toEqual([1, 2, 3])
  })

  it('stops after maxAttempts and records how many were made', async () => {
    let calls = 0
    const error = await withRetry(async () => {
      calls++
      throw sdkError('SlowDown', 503)
    }, fast).catch((e: unknown) => e)
    expect(calls).toBe(4)
    expect(attemptsOf(error)).toBe(4)
    expect((error as Error).name).toBe('SlowDown')
  })

  it('does not retry a 4xx', async () => {
    let calls = 0
    await expect(
      withRetry(async () => {
        calls++
        throw sdkError('AccessDenied', 403)
      }, fast),
    ).rejects.toMatchObject({ name: 'AccessDenied' })
    expect(calls).toBe(1)
  })

  it('aborts during the backoff sleep, without another attempt', async () => {
    // The clock stands still: the 10 s backoff can only end by the abort.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const controller = new AbortController()
      let calls = 0
      const run = withRetry(
        async () => {
          calls++
          throw netError('ECONNREFUSED')
        },
        { maxAttempts: 5, baseDelayMs: 10_000, maxDelayMs: 10_000, signal: controller.signal, random: () => 1 },
      )
      expect((await settledWithoutTime(run)).settled).toBe(false)
      controller.abort()
      const after = await settledWithoutTime(run)
      expect(after.settled).toBe(true)
      expect(after.error).toMatchObject({ code: 'ABORTED' })
      expect(calls).toBe(1)
    } finally {
      vi.useRealTimers()
    }
  })

  it('reports each retry with its delay', async () => {
    const delays: number[] = []
    await withRetry(
      async (attempt) => {
        if (attempt < 3) throw netError('EPIPE')
      },
      { ...fast, onRetry: ({ delayMs }) => delays.push(delayMs) },
    )
    expect(delays).toHaveLength(2)
  })
})
