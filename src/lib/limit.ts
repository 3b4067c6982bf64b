import { throwIfAborted } from './abort.js'

export interface MapLimitOptions {
  /** Once aborted, no new call starts; after the running ones settle, ABORTED is thrown. */
  signal?: AbortSignal | undefined
}

/**
 * Runs `fn` over `items` with at most `limit` calls in flight (at least one), started in the order
 * of `items`; resolves with the results in that order. After the first failure no new call starts;
 * the running ones are awaited (no work is left behind the caller), then that failure is rethrown.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  options: MapLimitOptions = {},
): Promise<R[]> {
  const { signal } = options
  const results = new Array<R>(items.length)
  let next = 0
  let failure: { error: unknown } | undefined
  const lane = async () => {
    while (failure === undefined && next < items.length && !signal?.aborted) {
      const index = next++
      try {
        results[index] = await fn(items[index] as T, index)
      } catch (error) {
        failure ??= { error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, lane))
  if (failure) throw failure.error
  throwIfAborted(signal)
  return results
}
