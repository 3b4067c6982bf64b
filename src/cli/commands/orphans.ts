import { findOrphans } from '../../ops/orphans.js'
import { JSON_OPTION, type Command } from '../command.js'
import { EXIT_INTERRUPTED, openOps, parseDurationFlag, writeJson } from '../ops.js'
import { formatBytes, progressReporter } from '../progress.js'

export const orphansCommand: Command = {
  name: 'orphans',
  summary: 'Find objects without a database row and rows whose objects are missing (report; --delete to fix).',
  description: [
    'Walks the bucket page by page and checks the keys against the database in batches (bounded',
    'memory), then lists the folder of every `ready`/`processing` row to find objects it lacks.',
    'Objects and rows younger than --older-than are skipped. Keys outside the key layout are',
    'reported as foreign and never deleted. By default it only reports.',
    '  --mark    marks rows with missing objects: a missing original moves the file to `failed`',
    '            (error_reason OBJECTS_MISSING, kept for FAILED_RETENTION, audited); missing',
    '            variants only set error_reason (run `reprocess` to regenerate them).',
    '  --delete  deletes the orphan objects, and marks as --mark does.',
    'Rows are never deleted by this command. Safe to interrupt and run again. The worker runs a',
    'report-only sweep every ORPHANS_INTERVAL.',
  ].join('\n'),
  options: {
    delete: { type: 'boolean', description: 'Delete orphan objects and mark rows with missing objects.' },
    mark: { type: 'boolean', description: 'Mark rows with missing objects; delete nothing.' },
    prefix: {
      type: 'string',
      valueName: 'prefix',
      description: 'Only keys (and rows) under this prefix, e.g. items/ or temp/.',
    },
    'older-than': {
      type: 'string',
      valueName: 'duration',
      description: 'Skip objects and rows younger than this, e.g. 2h, 7d (default: UPLOAD_GRACE, 1h).',
    },
    json: JSON_OPTION,
  },
  async run({ env, values, stdout, stderr, signal }) {
    const olderThanMs = parseDurationFlag('older-than', values['older-than'])
    const ops = await openOps(env)
    const progress = progressReporter(stderr)
    try {
      const summary = await findOrphans(ops, {
        delete: Boolean(values.delete),
        mark: Boolean(values.mark),
        ...(typeof values.prefix === 'string' ? { prefix: values.prefix } : {}),
        olderThanMs,
        signal,
        onProgress: progress.onProgress,
      })
      progress.done()
      if (values.json) writeJson(stdout, summary)
      else {
        for (const o of summary.orphanObjects.slice(0, 50))
          stdout.write(`  orphan  ${o.reason.padEnd(15)} ${o.key} (${formatBytes(o.size)}, ${o.lastModified})\n`)
        for (const m of summary.missingObjects.slice(0, 50)) {
          stdout.write(
            `  missing ${m.severity.padEnd(15)} file ${m.fileId} (${m.status}${m.marked ? ', marked' : ''}): ` +
              `${m.missing.join(', ')}\n`,
          )
        }
        for (const k of summary.foreignKeys.slice(0, 20))
          stdout.write(`  foreign ${k} (outside the key layout; left alone)\n`)
        const b = summary.bucket
        const o = summary.orphans
        const reasons = o.objects ? ` ${JSON.stringify(o.byReason)}` : ''
        const deleted = summary.mode === 'delete' ? `, ${o.deleted} deleted` : ''
        const marked = summary.mode !== 'report' ? `, ${summary.rows.marked} marked` : ''
        const found = o.objects || summary.rows.missingOriginal || summary.rows.missingDerived
        const unchanged = summary.mode === 'report' && found
        stdout.write(
          `Scanned ${b.objects} objects (${formatBytes(b.bytes)}; ${b.recent} younger than ${summary.cutoff} ` +
            `skipped, ${b.foreign} foreign) and ${summary.rows.checked} rows.\n` +
            `Orphan objects: ${o.objects} (${formatBytes(o.bytes)})${reasons}${deleted}.\n` +
            `Rows with missing objects: ${summary.rows.missingOriginal} missing the original, ` +
            `${summary.rows.missingDerived} missing variants${marked}.\n` +
            (unchanged ? 'Nothing was changed; --delete removes the orphans and marks the rows.\n' : '') +
            `(${summary.durationMs} ms${summary.interrupted ? ', INTERRUPTED: run again' : ''})\n`,
        )
        for (const e of summary.errors.slice(0, 20))
          stderr.write(`  error ${e.phase} ${e.target}: ${e.code}: ${e.message}\n`)
      }
      return summary.interrupted ? EXIT_INTERRUPTED : summary.errors.length ? 1 : 0
    } finally {
      progress.done()
      await ops.close()
    }
  },
}
