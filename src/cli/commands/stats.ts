import { LocalexError } from '../../errors/index.js'
import { probeCdnHitRatio } from '../../files/index.js'
import { storageStats } from '../../ops/stats.js'
import { JSON_OPTION, type Command } from '../command.js'
import { EXIT_INTERRUPTED, openOps, parseCountFlag, writeJson } from '../ops.js'
import { formatBytes, progressReporter, table } from '../progress.js'

export const statsCommand: Command = {
  name: 'stats',
  summary: 'Storage statistics from the database: files and bytes per type, variant, status and user; monthly cost.',
  description: [
    'Counts files and bytes per entity type, per variant and format, originals vs derived, files by',
    'status, the heaviest users, and the monthly storage cost at STORAGE_PRICE_PER_GB_MONTH (GB =',
    '2^30 bytes). Only files whose objects are stored (uploading, processing, ready) count towards',
    'bytes and cost. Computed from the database; --verify also walks the bucket and compares its',
    'bytes per prefix with the database; --cdn requests every object of the 50 most recent public',
    "files through CDN_URL and reports the edge's hit ratio from X-Cache/Age (a probe also fills",
    'the cache). Read-only.',
  ].join('\n'),
  options: {
    'by-user': {
      type: 'string',
      valueName: 'N',
      description: 'List the N users with the most stored bytes (default: 10).',
    },
    verify: { type: 'boolean', description: 'Walk the bucket and compare its totals with the database.' },
    cdn: { type: 'boolean', description: 'Probe the CDN hit ratio now (GETs through CDN_URL).' },
    price: {
      type: 'string',
      valueName: 'usd',
      description: 'Price per GB-month for the estimate (default: STORAGE_PRICE_PER_GB_MONTH, 0.023).',
    },
    json: JSON_OPTION,
  },
  async run({ env, values, stdout, stderr, signal }) {
    const byUser = parseCountFlag('by-user', values['by-user'], 10)
    const price = values.price === undefined ? undefined : Number(values.price)
    if (price !== undefined && !(Number.isFinite(price) && price >= 0))
      throw new LocalexError(
        'VALIDATION_FAILED',
        `--price: expected a non-negative number (got "${String(values.price)}")`,
      )
    const ops = await openOps(env)
    const progress = progressReporter(stderr)
    try {
      const cdn = values.cdn ? await probeCdnHitRatio(ops, { signal }) : undefined
      const s = await storageStats(ops, {
        byUser,
        verify: Boolean(values.verify),
        ...(price !== undefined ? { pricePerGbMonth: price } : {}),
        ...(cdn ? { cdnHitRatio: cdn.hitRatio } : {}),
        signal,
        onProgress: progress.onProgress,
      })
      progress.done()
      if (values.json) {
        writeJson(stdout, cdn ? { ...s, cdn } : s)
        return s.verify?.interrupted ? EXIT_INTERRUPTED : 0
      }
      const t = s.totals
      stdout.write(
        `Stored: ${t.files} files, ${formatBytes(t.storedBytes)} (originals ${formatBytes(t.originalBytes)}, derived ` +
          `${formatBytes(t.derivedBytes)}; uploaded ${formatBytes(t.uploadedBytes)})\n`,
      )
      stdout.write(
        `Estimated cost: $${s.cost.monthly.toFixed(2)}/month (${s.cost.gb.toFixed(3)} GB at ` +
          `$${s.cost.pricePerGbMonth}/GB-month)` +
          (s.cdnHitRatio !== null ? `; CDN hit ratio ${(s.cdnHitRatio * 100).toFixed(1)}%` : '') +
          '\n\n',
      )
      if (cdn)
        stdout.write(
          cdn.cdnUrl
            ? `CDN probe of ${cdn.cdnUrl}: ${cdn.urls} URLs of ${cdn.files} files, ${cdn.hits} hits, ${cdn.misses} ` +
                `misses, ${cdn.passes} passes, ${cdn.unknown} without a cache verdict, ${cdn.errors} errors\n\n`
            : 'CDN probe: no CDN_URL configured, nothing to probe\n\n',
        )
      stdout.write(
        'By entity type:\n' +
          table(
            ['type', 'files', 'stored', 'originals', 'derived'],
            s.byEntity.map((e) => [
              e.entityType,
              e.files,
              formatBytes(e.storedBytes),
              formatBytes(e.originalBytes),
              formatBytes(e.derivedBytes),
            ]),
          ),
      )
      stdout.write(
        '\nBy status:\n' +
          table(
            ['type', 'status', 'files', 'bytes listed'],
            s.byStatus.map((r) => [r.entityType, r.status, r.files, formatBytes(r.bytes)]),
          ),
      )
      stdout.write(
        '\nBy variant and format:\n' +
          table(
            ['type', 'variant', 'format', 'objects', 'bytes'],
            s.byVariant.map((g) => [g.entityType, g.variant, g.format, g.objects, formatBytes(g.bytes)]),
          ),
      )
      if (s.topUsers.length)
        stdout.write(
          `\nTop ${s.topUsers.length} users:\n` +
            table(
              ['user', 'files', 'stored'],
              s.topUsers.map((u) => [u.ownerId, u.files, formatBytes(u.bytes)]),
            ),
        )
      if (s.verify) {
        stdout.write(
          '\nBucket vs database:\n' +
            table(
              ['type', 'db objects', 'bucket objects', 'db bytes', 'bucket bytes', 'difference'],
              s.verify.comparison.map((c) => [
                c.entityType,
                c.dbObjects,
                c.bucketObjects,
                c.dbBytes,
                c.bucketBytes,
                c.diffBytes,
              ]),
            ),
        )
        for (const [kind, b] of Object.entries(s.verify.bucket))
          if (kind === 'temp' || kind === 'other')
            stdout.write(`  ${kind}: ${b.objects} objects, ${formatBytes(b.bytes)} (no rows)\n`)
        stdout.write(
          s.verify.matches
            ? 'Bucket and database agree.\n'
            : `Bucket and database differ${s.verify.interrupted ? ' (walk INTERRUPTED)' : ''}: run \`orphans\` to ` +
                `see which objects or rows.\n`,
        )
      }
      return s.verify?.interrupted ? EXIT_INTERRUPTED : 0
    } finally {
      progress.done()
      await ops.close()
    }
  },
}
