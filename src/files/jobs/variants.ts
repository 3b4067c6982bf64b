import { ORIGINAL_VARIANT, type FileRecord, type JobPayload, type StoredObject } from '../../domain/index.js'
import { LocalexError, isLocalexError } from '../../errors/index.js'
import { readLimited, type Output } from '../../images/index.js'
import { contentDisposition } from '../../storage/content-disposition.js'
import { errorFields, type FilesDeps } from '../deps.js'
import { failureReason } from '../lifecycle.js'
import { ORIGINAL_STAGE, deletePrefix, storedObject } from '../objects.js'
import { originalObject } from '../view.js'

/** What the queue tells the variants job about its delivery. */
export interface VariantsJobRun {
  attempt: number
  /** The last attempt: a failure now fails the file instead of being retried. */
  final: boolean
  signal?: AbortSignal
}

/**
 * Writes the variants of a `processing` file from its stored original, then marks it `ready`
 * (guarded: only from `processing`). Runs at least once: keys are deterministic, so a redelivery
 * rewrites the same objects, and a file deleted or failed meanwhile ends with nothing left of it.
 */
export async function runVariantsJob(
  deps: FilesDeps,
  payload: JobPayload<'variants'>,
  job: VariantsJobRun,
): Promise<void> {
  const file = await deps.repo.getFile(payload.fileId)
  if (!file || file.status === 'ready') return
  if (file.status !== 'processing') {
    // Deleted or failed meanwhile: make sure nothing this job might have written survives.
    if (isGone(file)) await deletePrefix(deps.store, file.keyPrefix)
    return
  }
  const original = originalObject(file.objects)
  if (!original) throw new LocalexError('INTERNAL', `File ${file.id} has no original`)
  try {
    await render(deps, file, original, job)
  } catch (error) {
    // A permanent refusal (the image cannot be decoded) fails at once; the rest is retried.
    if (job.final || (isLocalexError(error) && !error.retryable && error.status < 500)) {
      const changed = await deps.repo.markFailed(file.id, failureReason(error), ['processing'])
      if (changed) await deletePrefix(deps.store, file.keyPrefix)
      return
    }
    throw error
  }
}

async function render(deps: FilesDeps, file: FileRecord, original: StoredObject, job: VariantsJobRun): Promise<void> {
  const started = performance.now()
  const io = job.signal ? { signal: job.signal } : {}
  // One GET for the bytes and the metadata that says what they are (the object may be replaced
  // by a concurrent duplicate between two requests).
  const { body, metadata } = await deps.store.getStream(original.key, io)
  const source = await readLimited(body, Number.MAX_SAFE_INTEGER, job.signal)
  // Only the sanitised original of an upload is re-encoded; an optimised one (a reprocess, or a
  // redelivery after the replacement below) is used as it is, so no generation is lost twice.
  const reencodeOriginal = metadata[ORIGINAL_STAGE] === 'sanitised'
  const outputs = await deps.images.renderVariants(source, { purpose: file.purpose, reencodeOriginal, ...io })
  deps.observe('variants', (performance.now() - started) / 1000)
  // Deleted, failed, or finished by a duplicate delivery while we rendered: write nothing.
  const current = await deps.repo.getFile(file.id)
  if (current?.status !== 'processing') {
    if (isGone(current)) await deletePrefix(deps.store, file.keyPrefix, job.signal)
    return
  }
  const objects = await writeOutputs(deps, file, original, outputs, reencodeOriginal, io)
  const won = await deps.repo.markReady(file.id, objects)
  if (!won) {
    // Deleted or failed while we worked (the delete's own sweep may have run before our puts),
    // or a duplicate delivery finished first (then the objects are the file's own: keep them).
    if (isGone(await deps.repo.getFile(file.id))) await deletePrefix(deps.store, file.keyPrefix, job.signal)
    return
  }
  await deleteUnlisted(deps, file, objects)
  if (deps.queueWarm && file.accessLevel === 'public') await queueWarming(deps, deps.queueWarm, file)
  deps.notify()
}

/** Puts every output under its deterministic key; resolves the file's complete object list. */
async function writeOutputs(
  deps: FilesDeps,
  file: FileRecord,
  original: StoredObject,
  outputs: readonly Output[],
  reencodeOriginal: boolean,
  io: { signal?: AbortSignal },
): Promise<StoredObject[]> {
  const { cacheControl: cache } = deps.config.files
  const cacheControl = file.accessLevel === 'public' ? cache.public : cache.document
  const keyOf = (output: Output) => `${file.keyPrefix}${output.variant}.${output.ext}`
  // The original's main format is its own key (documents keep their file name); copies in other
  // formats sit beside it under `original.<ext>`.
  const optimised = reencodeOriginal
    ? outputs.find((o) => o.variant === ORIGINAL_VARIANT && o.format === original.format)
    : undefined
  const written: StoredObject[] = []
  // Deterministic keys: a redelivered job overwrites the same objects with the same bytes.
  for (const output of outputs) {
    if (output === optimised) continue
    await deps.store.put(keyOf(output), output.data, { contentType: output.contentType, cacheControl, ...io })
    written.push(storedObject(output, keyOf(output)))
  }
  // The optimised original replaces the sanitised one last, when everything derived from the
  // sanitised one is written: a job that dies before this line is redone from the same source.
  if (optimised) {
    await deps.store.put(original.key, optimised.data, {
      contentType: optimised.contentType,
      cacheControl,
      metadata: { [ORIGINAL_STAGE]: 'optimised' },
      ...(file.entityType === 'verification'
        ? { contentDisposition: contentDisposition(file.originalName, 'attachment') }
        : {}),
      ...io,
    })
  }
  const first = optimised ? storedObject(optimised, original.key) : original
  return [first, ...written.filter((o) => o.key !== original.key)]
}

/** A reprocess with other settings (say WebP now off) leaves objects the file no longer lists. */
async function deleteUnlisted(deps: FilesDeps, file: FileRecord, objects: readonly StoredObject[]): Promise<void> {
  const kept = new Set(objects.map((o) => o.key))
  const stale = file.objects.filter((o) => !kept.has(o.key)).map((o) => o.key)
  if (stale.length === 0) return
  // Continuing is right either way: the file is ready and lists only what exists. An object left
  // here is one the `orphans` sweep reports as `not_listed` (and removes with --delete).
  const context = { fileId: file.id, prefix: file.keyPrefix, operation: 'delete_unlisted' }
  try {
    const result = await deps.store.deleteMany(stale)
    if (result.failed.length) {
      const failed = result.failed.slice(0, 10).map((f) => f.key)
      deps.logger.warn({ ...context, failed, code: result.failed[0]?.code }, 'unlisted objects were not deleted')
    }
  } catch (error) {
    const fields = { ...context, keys: stale.slice(0, 10), ...errorFields(error) }
    deps.logger.warn(fields, 'unlisted objects were not deleted')
  }
}

async function queueWarming(
  deps: FilesDeps,
  queueWarm: (fileId: string) => Promise<void>,
  file: FileRecord,
): Promise<void> {
  try {
    await queueWarm(file.id)
  } catch (error) {
    // Warming is an optimisation: a file whose warming could not be queued is simply fetched by
    // its first reader.
    const fields = { fileId: file.id, operation: 'queue_warm_cdn', ...errorFields(error) }
    deps.logger.warn(fields, 'could not queue CDN warming')
  }
}

/** Deleted, failed, or purged: whatever is under its folder must go. */
function isGone(file: FileRecord | null): boolean {
  return !file || file.status === 'deleted' || file.status === 'failed'
}
