/**
 * Small helpers shared across layers, each written once. Depends on nothing but `errors`, so any
 * layer may use it.
 */
export { abortedError, throwIfAborted } from './abort.js'
export { backoffDelay, type BackoffOptions } from './backoff.js'
export { encodeKeyPath } from './key-path.js'
export { mapLimit, type MapLimitOptions } from './limit.js'
export { sleep, type SleepOptions } from './sleep.js'
