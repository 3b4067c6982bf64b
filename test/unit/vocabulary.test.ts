import { describe, expect, it } from 'vitest'
import type { Db } from '../../src/db/index.js'
import {
  DOCUMENT_TYPES,
  FORMATS,
  FORMAT_NAMES,
  IMAGE_INPUT_FORMATS,
  IMAGE_TYPES,
  INPUT_FORMATS,
  JOB_NAMES,
  OUTPUT_FORMATS,
  PURPOSES,
  STORED_FORMATS,
  isDocumentType,
  isJobName,
  isPurpose,
  isStoredFormat,
} from '../../src/domain/index.js'
import { outbox, type JobQueue, type OutboxHandlers } from '../../src/jobs/index.js'
import { PURPOSE_RULES } from '../../src/images/index.js'

describe('domain vocabulary', () => {
  it('guards accept the list and nothing else', () => {
    for (const purpose of PURPOSES) expect(isPurpose(purpose)).toBe(true)
    for (const type of DOCUMENT_TYPES) expect(isDocumentType(type)).toBe(true)
    for (const value of ['', 'Passport', 'reprocess', 'item_photo ', 42, null, undefined]) {
      expect(isPurpose(value)).toBe(false)
      expect(isDocumentType(value)).toBe(false)
      expect(isJobName(value)).toBe(false)
    }
    expect(isStoredFormat('gif')).toBe(false)
    expect(isStoredFormat('pdf')).toBe(true)
  })

  it('format lists are subsets of one table, so they cannot disagree on a content type or extension', () => {
    for (const list of [INPUT_FORMATS, IMAGE_INPUT_FORMATS, OUTPUT_FORMATS, STORED_FORMATS]) {
      for (const format of list) expect(FORMAT_NAMES).toContain(format)
    }
    expect(IMAGE_TYPES).toEqual([
      'image/jpeg',
      'image/png',
      'image/webp',
      'image/gif',
      'image/avif',
      'image/heic',
      'image/heif',
    ])
    expect(OUTPUT_FORMATS.map((f) => FORMATS[f].ext)).toEqual(['jpg', 'png', 'webp', 'avif'])
    for (const inputOnly of ['gif', 'heic', 'heif']) expect(STORED_FORMATS).not.toContain(inputOnly)
  })

  it("every purpose has its rule, and the job list is the payload map's", () => {
    expect(Object.keys(PURPOSE_RULES).sort()).toEqual([...PURPOSES].sort())
    expect(JOB_NAMES).toEqual(['variants', 'delete_objects', 'purge_cdn', 'warm_cdn'])
  })
})

// Compile-time checks (`tsc` runs over the tests): a payload that does not fit its job is an error.
// Never called.
export function payloadsAreTyped(db: Db, queue: JobQueue): void {
  void outbox.add(db, { kind: 'variants', payload: { fileId: 'f1' } })
  // @ts-expect-error delete_objects needs the prefix
  void outbox.add(db, { kind: 'delete_objects', payload: { fileId: 'f1' } })
  // @ts-expect-error purge_cdn takes paths, not a file id
  void outbox.add(db, { kind: 'purge_cdn', payload: { fileId: 'f1' } })
  // @ts-expect-error no such job
  void outbox.add(db, { kind: 'reprocess', payload: { fileId: 'f1' } })
  void queue.enqueue({ id: 'j1', name: 'warm_cdn', data: { fileId: 'f1' } })
  // @ts-expect-error warm_cdn takes a file id
  void queue.enqueue({ id: 'j1', name: 'warm_cdn', data: { paths: ['/a'] } })
  queue.work('purge_cdn', async (job) => void job.data.paths.map((p) => p.length))
  const handlers: OutboxHandlers = {
    // @ts-expect-error the variants payload has no paths
    variants: async (payload) => void payload.paths,
    delete_objects: async (payload) => void payload.prefix.length,
  }
  void handlers
}
