import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { outboxRows } from '../../src/db/index.js'
import { LocalexError } from '../../src/errors/index.js'
import { createFileManager, type FilesLogger } from '../../src/files/manager.js'
import { createDbFileRepository } from '../../src/files/repository-db.js'
import type { FileRepository } from '../../src/files/repository.js'
import type { Actor } from '../../src/files/types.js'
import type { ObjectStore } from '../../src/storage/types.js'
import { fixture } from '../support/fixtures.js'
import { objectKeys, openTestStorage, type TestStorage } from '../support/storage.js'

const alice: Actor = { id: 'alice', role: 'user' }

interface LogLine {
  level: string
  fields: Record<string, unknown>
  message: string
}

/** A logger that keeps what it is told. */
function recordingLogger(): FilesLogger & { lines: LogLine[] } {
  const lines: LogLine[] = []
  return {
    lines,
    warn: (fields, message) => void lines.push({ level: 'warn', fields, message }),
    error: (fields, message) => void lines.push({ level: 'error', fields, message }),
  }
}

/** `target` with some methods replaced (the real object keeps its own `this`). */
function overriding<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(object, property) {
      if (property in overrides) return overrides[property as keyof T]
      const value = Reflect.get(object, property, object) as unknown
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(object) : value
    },
  })
}

const storeDown = () => Promise.reject(new LocalexError('STORE_ERROR', 'store down (test)'))

/**
 * Where the files layer continues past a failure (best-effort cleanup whose guarantee is elsewhere),
 * it says so in the log with the file, the key and the operation; the failure that matters still
 * reaches the caller.
 */
describe('files: failures it continues past are logged, never swallowed (embedded)', () => {
  let t: TestStorage
  let photo: Buffer
  beforeAll(async () => {
    t = await openTestStorage('embedded', {}, { workers: false })
    photo = await readFile(fixture('images/png-rgba-alpha.png'))
  })
  afterAll(async () => {
    await t?.close()
  })

  interface Faults {
    store?: Partial<ObjectStore>
    repo?: Partial<FileRepository>
    queueWarm?: () => Promise<void>
  }
  const manager = (options: Faults) => {
    const logger = recordingLogger()
    const files = createFileManager({
      config: t.config,
      images: t.images,
      cdn: t.cdn,
      store: overriding(t.store, options.store ?? {}),
      repo: overriding(createDbFileRepository(t.db), options.repo ?? {}),
      logger,
      ...(options.queueWarm ? { queueWarm: options.queueWarm } : {}),
    })
    return { files, logger }
  }

  it('a failed original put is rolled back; a failing rollback step is logged, the put error thrown', async () => {
    const { files, logger } = manager({ store: { put: storeDown, delete: storeDown } })
    const error = await files.uploadItemPhoto(alice, 'item-log-1', { body: photo }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'STORE_ERROR', message: 'store down (test)' })
    const [file] = await files.listItemPhotos('item-log-1')
    expect(file).toBeUndefined()
    expect(logger.lines).toEqual([
      {
        level: 'warn',
        fields: expect.objectContaining({ operation: 'delete_original', code: 'STORE_ERROR', cause: 'STORE_ERROR' }),
        message: expect.any(String),
      },
    ])
    const fileId = logger.lines[0]?.fields.fileId as string
    expect(logger.lines[0]?.fields.key).toBe(`items/item-log-1/photos/${fileId}/original.png`)
    const failed = await t.files.getFile(alice, fileId)
    expect(failed).toMatchObject({ status: 'failed', errorReason: 'STORE_ERROR: store down (test)' })
  })

  it('when even marking the file failed fails, that is logged as an error and left to cleanup', async () => {
    const markFailed = () => Promise.reject(new LocalexError('DATABASE_UNAVAILABLE', 'database down (test)'))
    const { files, logger } = manager({ store: { put: storeDown }, repo: { markFailed } })
    const error = await files.uploadItemPhoto(alice, 'item-log-2', { body: photo }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'STORE_ERROR' })
    expect(logger.lines).toEqual([
      {
        level: 'error',
        fields: expect.objectContaining({
          operation: 'mark_failed',
          code: 'DATABASE_UNAVAILABLE',
          cause: 'STORE_ERROR',
        }),
        message: expect.any(String),
      },
    ])
    const fileId = logger.lines[0]?.fields.fileId as string
    // Still `uploading`: cleanup removes it with its objects once the grace period has passed.
    expect(await t.files.waitUntilSettled(fileId, { timeoutMs: 0 })).toMatchObject({ status: 'uploading' })
  })

  it('a delete whose immediate object removal fails succeeds, logs, and leaves it to the queued job', async () => {
    const stored = await t.files.uploadItemPhoto(alice, 'item-log-3', { body: photo })
    const prefix = `items/item-log-3/photos/${stored.id}/`
    const { files, logger } = manager({ store: { deleteMany: storeDown } })
    await files.deleteFile(alice, stored.id)
    expect(logger.lines).toEqual([
      {
        level: 'warn',
        fields: expect.objectContaining({
          fileId: stored.id,
          prefix,
          operation: 'delete_objects',
          code: 'STORE_ERROR',
        }),
        message: expect.any(String),
      },
    ])
    expect(await objectKeys(t, prefix)).not.toEqual([])
    const [job] = await outboxRows.list(t.db, { kind: 'delete_objects', fileId: stored.id })
    expect(job?.payload).toEqual({ fileId: stored.id, prefix })
    await t.jobs.runDeleteObjectsJob({ fileId: stored.id, prefix }, {})
    expect(await objectKeys(t, prefix)).toEqual([])
  })

  it('a CDN warming that cannot be queued is logged; the file is ready all the same', async () => {
    const queueWarm = () => Promise.reject(new LocalexError('DATABASE_UNAVAILABLE', 'down (test)'))
    const { files, logger } = manager({ queueWarm })
    const stored = await files.uploadItemPhoto(alice, 'item-log-4', { body: photo })
    await files.runVariantsJob({ fileId: stored.id }, { attempt: 1, final: false })
    expect((await files.getFile(alice, stored.id)).status).toBe('ready')
    expect(logger.lines).toEqual([
      {
        level: 'warn',
        fields: expect.objectContaining({
          fileId: stored.id,
          operation: 'queue_warm_cdn',
          code: 'DATABASE_UNAVAILABLE',
        }),
        message: expect.any(String),
      },
    ])
  })
})
