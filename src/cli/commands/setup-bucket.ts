import { setupBucket } from '../../ops/setup-bucket.js'
import { JSON_OPTION, type Command } from '../command.js'
import { EXIT_INTERRUPTED, openOps, writeJson } from '../ops.js'
import { progressReporter } from '../progress.js'

export const setupBucketCommand: Command = {
  name: 'setup-bucket',
  summary: 'Create and configure the bucket: public access block, encryption, versioning, CORS, lifecycle rules.',
  description: [
    'Creates the bucket if it is missing, then applies (each a full PUT of the wanted state, so it is',
    'safe to run again): block all public access (BUCKET_BLOCK_PUBLIC_ACCESS), default SSE-S3',
    'encryption (BUCKET_ENCRYPTION), versioning (BUCKET_VERSIONING), CORS for direct browser uploads',
    '(BUCKET_CORS_ORIGINS) and lifecycle rules: expire temp/ (LIFECYCLE_TEMP_DAYS), abort incomplete',
    'multipart uploads (LIFECYCLE_MULTIPART_DAYS), expire noncurrent versions',
    '(LIFECYCLE_NONCURRENT_DAYS), move stored files to LIFECYCLE_TRANSITION_CLASS and then',
    'LIFECYCLE_ARCHIVE_CLASS. A feature the store refuses (Ceph RGW lacks some) is reported as',
    'refused and the rest is still applied; lifecycle rules are tried one by one. Never deletes',
    'objects, never touches bucket policies or ACLs. Exits 0 when everything the store supports is',
    'applied. With the disk driver it only creates the root folder.',
  ].join('\n'),
  options: {
    'dry-run': { type: 'boolean', description: 'Print the exact requests it would send; change nothing.' },
    json: JSON_OPTION,
  },
  async run({ env, values, stdout, stderr, signal }) {
    const ops = await openOps(env)
    const progress = progressReporter(stderr)
    try {
      const summary = await setupBucket(ops, {
        dryRun: Boolean(values['dry-run']),
        signal,
        onProgress: progress.onProgress,
      })
      progress.done()
      if (values.json) {
        writeJson(stdout, summary)
        return 0
      }
      stdout.write(
        `${summary.dryRun ? 'Would configure' : 'Configured'} ` +
          `${summary.driver === 's3' ? `bucket ${summary.bucket}` : summary.bucket}:\n`,
      )
      for (const step of summary.steps) {
        stdout.write(
          `  ${step.status.padEnd(8)} ` +
            `${step.feature}${step.code ? ` (${step.code})` : ''}${step.detail ? `: ${step.detail}` : ''}\n`,
        )
        if (summary.dryRun && step.request)
          stdout.write(JSON.stringify(step.request, null, 2).replace(/^/gm, '      ') + '\n')
      }
      if (summary.refused.length) {
        stdout.write(
          `\nThe store refused: ${summary.refused.join(', ')}. Everything else was applied; configure those features ` +
            `on the store itself if it has them.\n`,
        )
      }
      return 0
    } catch (error) {
      progress.done()
      if (signal.aborted) return EXIT_INTERRUPTED
      throw error
    } finally {
      await ops.close()
    }
  },
}
