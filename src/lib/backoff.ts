export interface BackoffOptions {
  /** Delay before the first retry (its upper bound, with jitter); doubles with each attempt. */
  baseMs: number
  /** Cap of any single delay. Default: none. */
  maxMs?: number
  /**
   * `full` (default): uniform in [0, ceiling], the "full jitter" of the AWS architecture blog's
   * "Exponential Backoff And Jitter", so clients that failed together do not retry together.
   * `none`: the ceiling itself, rounded (base, 2×base, 4×base, …): BullMQ's `exponential`, which
   * the in-process queue must match so both queues retry on the same schedule.
   */
  jitter?: 'full' | 'none'
  /** Source of randomness in [0, 1); injectable for tests. */
  random?: () => number
}

/** Delay before retry number `attempt` (1 after the first failure): ceiling min(max, base × 2^(attempt-1)). */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const { baseMs, maxMs = Number.POSITIVE_INFINITY, jitter = 'full', random = Math.random } = options
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1))
  return jitter === 'none' ? Math.round(ceiling) : Math.floor(random() * (ceiling + 1))
}
