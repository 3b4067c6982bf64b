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
