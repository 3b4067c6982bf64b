import { files as fileRows } from '../../db/index.js'
import { ENTITY_TYPES, type EntityType } from '../../domain/index.js'
import { LocalexError } from '../../errors/index.js'
import { assertSafeId } from '../../storage/keys.js'
import { JSON_OPTION, type Command } from '../command.js'
import { loadCommandConfig } from '../config.js'
import { EXIT_INTERRUPTED, writeJson } from '../ops.js'
import { progressReporter } from '../progress.js'

interface Summary {
  selected: number
  ready: number
  failed: { id: string; reason: string | null }[]
  skipped: number
  interrupted: boolean
  seconds: number
}

export const reprocess: Command = {
  name: 'reprocess',
  summary: 'Render the variants of ready files again from their stored originals (after a change of sizes or formats).',
  usage: '--all | --id <id> | --entity <item|profile|verification> [--concurrency n] [--json]',
  description:
    'Each file goes back to `processing` with a variants job in the outbox, exactly as after an\n' +
    'upload, and the command waits for it before starting more than --concurrency at once. The\n' +
    'jobs run on the configured queue: with REDIS_URL, on the running workers; without it, in this\n' +
    'process. Objects the new settings no longer produce are deleted; URLs of the others do not\n' +
    'change. Safe to interrupt (files in flight finish in the worker) and to run again.',
  options: {
    all: { type: 'boolean', description: 'Every ready file.' },
    id: { type: 'string', valueName: 'id', multiple: true, description: 'This file (repeatable).' },
    entity: {
      type: 'string',
      valueName: 'type',
      description: 'Every ready file of one entity type: item, profile or verification.',
    },
    concurrency: { type: 'string', valueName: 'n', default: '2', description: 'Files in flight at once.' },
    json: JSON_OPTION,
  },
  async run({ env, values, stdout, stderr, signal }) {
    const ids = (values.id as string[] | undefined) ?? []
    const entity = values.entity as string | undefined
    const chosen = [values.all === true, ids.length > 0, entity !== undefined].filter(Boolean).length
    if (chosen !== 1) throw new LocalexError('VALIDATION_FAILED', 'Give exactly one of --all, --id or --entity')
    if (entity !== undefined && !(ENTITY_TYPES as readonly string[]).includes(entity)) {
      throw new LocalexError('VALIDATION_FAILED', `--entity must be one of ${ENTITY_TYPES.join(', ')}`)
    }
    for (const id of ids) assertSafeId(id, '--id')
    const concurrency = Number(values.concurrency ?? 2)
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64)
      throw new LocalexError('VALIDATION_FAILED', '--concurrency must be an integer from 1 to 64')

    const config = loadCommandConfig(env)
    const { createStorage } = await import('../../app.js')
    // Without Redis the queue lives in this process, so this process must run the jobs.
    const storage = await createStorage(config, { workers: !config.queue.redisUrl })
    const started = performance.now()
    const summary: Summary = { selected: 0, ready: 0, failed: [], skipped: 0, interrupted: false, seconds: 0 }
    const filter = { statuses: ['ready'] as const, ...(entity ? { entityType: entity as EntityType } : {}) }
    const total = ids.length || (await fileRows.count(storage.db, filter))
    const progress = progressReporter(stderr)
    // --json output is for scripts: nothing on stderr but errors.
    const report =
      values.json === true
        ? () => undefined
        : () =>
            progress.onProgress({
              phase: 'reprocess',
              done: summary.ready + summary.failed.length + summary.skipped,
              total,
              detail: `${summary.failed.length} failed`,
            })

    const inFlight = new Set<Promise<void>>()
    const one = async (id: string) => {
      if (!(await storage.files.reprocess(id))) {
        summary.skipped++
        return
      }
      const view = await storage.files.waitUntilSettled(id, { timeoutMs: 10 * 60_000 })
      if (view.status === 'ready') summary.ready++
      else summary.failed.push({ id, reason: view.errorReason })
    }
    try {
      const source = ids.length ? ids : iterateIds(storage.db, filter)
      for await (const id of source) {
        if (signal.aborted) {
          summary.interrupted = true
          break
        }
        summary.selected++
        const task = one(id)
          .catch((error: unknown) => {
            summary.failed.push({ id, reason: error instanceof Error ? error.message : String(error) })
          })
          .finally(() => {
            inFlight.delete(task)
            report()
          })
        inFlight.add(task)
        if (inFlight.size >= concurrency) await Promise.race(inFlight)
      }
      await Promise.all(inFlight)
    } finally {
      await storage.close()
    }
    summary.seconds = Math.round((performance.now() - started) / 100) / 10
    progress.done()
    if (values.json === true) writeJson(stdout, summary)
    else {
      stdout.write(
        `Reprocessed ${summary.ready} of ${summary.selected} files in ${summary.seconds} s; ${summary.failed.length} ` +
          `failed, ${summary.skipped} skipped (not ` +
          `ready).${summary.interrupted ? ' Interrupted: run again to finish.' : ''}\n`,
      )
      for (const f of summary.failed) stdout.write(`  failed ${f.id}: ${f.reason ?? 'unknown'}\n`)
    }
    return summary.interrupted ? EXIT_INTERRUPTED : summary.failed.length ? 1 : 0
  },
}

async function* iterateIds(
  db: Parameters<typeof fileRows.iterate>[0],
  filter: Parameters<typeof fileRows.iterate>[1],
): AsyncGenerator<string> {
  for await (const row of fileRows.iterate(db, filter)) yield row.id
}
