/**
 * `promise`, or a rejection naming `what` if it is still pending after `timeoutMs`. A bound on a
 * wait, so that a hang fails with a name rather than at the test timeout; not a measure of speed
 * (timing figures belong in bench/).
 */
export async function bounded<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still waiting for ${what} after ${timeoutMs} ms`)), timeoutMs)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

export interface Outcome<T> {
  settled: boolean
  value?: T
  error?: unknown
}

/**
 * How `promise` stands after the event loop has turned a few times while the clock does not move
 * (under fake timers: no timer fires here). For "this ends on the abort, not when its timer runs
 * out" without measuring how long it took.
 */
export async function settledWithoutTime<T>(promise: Promise<T>, turns = 20): Promise<Outcome<T>> {
  const state: Outcome<T> = { settled: false }
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  )
  for (let i = 0; i < turns && !state.settled; i++) await new Promise((resolve) => setImmediate(resolve))
  return state
}
