import { cleanup } from '../../ops/cleanup.js'
import { JSON_OPTION, type Command } from '../command.js'
import { EXIT_INTERRUPTED, openOps, parseDurationFlag, writeJson } from '../ops.js'
import { progressReporter } from '../progress.js'

export const cleanupCommand: Command = {
  name: 'cleanup',
  summary: 'Remove expired direct uploads, abandoned uploads, old failed and deleted files, stale multipart uploads.',
  description: [
    'Removes, with their objects: direct uploads past their expiry; `uploading` rows older than the',
    'grace period (a crashed upload); `failed` files older than FAILED_RETENTION; soft-deleted files',
    'older than DELETED_RETENTION; and (S3) multipart uploads started before the grace period and',
    'never completed. Nothing younger than the grace period is ever touched. Each removal is guarded',
    "by the row's status (a concurrent upload wins) and written to the audit log as `purge`. Never",
    "touches `ready` or `processing` files, and never deletes an object outside a removed row's own",
    'folder. Safe to interrupt (Ctrl-C) and run again. The worker runs it every CLEANUP_INTERVAL.',
  ].join('\n'),
  options: {
    'dry-run': { type: 'boolean', description: 'List what would be removed; change nothing.' },
    'older-than': {
      type: 'string',
      valueName: 'duration',
      description: 'Grace period: leave anything younger alone, e.g. 30m, 2h, 7d (default: UPLOAD_GRACE, 1h).',
    },
    json: JSON_OPTION,
  },
  async run({ env, values, stdout, stderr, signal }) {
    const olderThanMs = parseDurationFlag('older-than', values['older-than'])
    const ops = await openOps(env)
    const progress = progressReporter(stderr)
    try {
      const summary = await cleanup(ops, {
        dryRun: Boolean(values['dry-run']),
        olderThanMs,
        signal,
        onProgress: progress.onProgress,
      })
      progress.done()
      if (values.json) writeJson(stdout, summary)
      else {
        const c = summary.counts
        const verb = summary.dryRun ? 'Would remove' : 'Removed'
        for (const item of summary.items.slice(0, 50))
          stdout.write(`  ${item.kind.padEnd(16)} ${item.id}${item.objects ? ` (${item.objects} objects)` : ''}\n`)
        if (summary.items.length > 50)
          stdout.write(`  … and ${summary.items.length - 50} more (--json lists up to 1000)\n`)
        stdout.write(
          `${verb}: ${c.tempUploads} expired direct uploads, ${c.staleUploading} abandoned uploads, ${c.failed} ` +
            `failed files, ` +
            `${c.deleted} deleted files, ${c.multipartUploads} incomplete multipart uploads; ${c.objects} objects. ` +
            `(${summary.durationMs} ms${summary.interrupted ? ', INTERRUPTED: run again to finish' : ''})\n`,
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
