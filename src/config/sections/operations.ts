import { z } from 'zod'
import { bool, defineSection, duration, int, list } from '../env.js'

const days = (def: number) => int(0, 3650).default(def)

export const operations = defineSection({
  title: 'Operations',
  summary: '`config.ops`: what `setup-bucket` configures, and how often the worker runs the maintenance commands.',
  variables: {
    BUCKET_BLOCK_PUBLIC_ACCESS: {
      schema: bool.default(true),
      default: 'true',
      doc: '`setup-bucket`: block every form of public access (the CDN reads through origin access).',
    },
    BUCKET_ENCRYPTION: {
      schema: z.enum(['AES256', 'none']).default('AES256'),
      default: 'AES256',
      doc: '`setup-bucket`: default encryption (`AES256` is SSE-S3; `none` leaves it unset).',
    },
    BUCKET_VERSIONING: {
      schema: bool.default(true),
      default: 'true',
      doc: '`setup-bucket`: turn versioning on (noncurrent versions then expire after `LIFECYCLE_NONCURRENT_DAYS`).',
    },
    BUCKET_CORS_ORIGINS: {
      schema: list.default('*'),
      default: '*',
      doc: '`setup-bucket`: origins allowed to upload directly from a browser (comma-separated; empty: no CORS rule).',
    },
    LIFECYCLE_TEMP_DAYS: {
      schema: days(1),
      default: '1',
      doc: 'Lifecycle rule: expire `temp/` objects after this many days (0: no rule).',
    },
    LIFECYCLE_MULTIPART_DAYS: {
      schema: days(1),
      default: '1',
      doc: 'Lifecycle rule: abort incomplete multipart uploads after this many days (0: no rule).',
    },
    LIFECYCLE_NONCURRENT_DAYS: {
      schema: days(30),
      default: '30',
      doc: 'Lifecycle rule: expire noncurrent versions after this many days (0: no rule).',
    },
    LIFECYCLE_TRANSITION_DAYS: {
      schema: days(30),
      default: '30',
      doc:
        'Lifecycle rule: move stored files (`items/`, `profiles/`, `verification/`) to `LIFECYCLE_TRANSITION_CLASS` ' +
        'after this many days (0: no transition).',
    },
    LIFECYCLE_TRANSITION_CLASS: {
      schema: z.enum(['INTELLIGENT_TIERING', 'STANDARD_IA', 'ONEZONE_IA']).default('INTELLIGENT_TIERING'),
      default: 'INTELLIGENT_TIERING',
      doc: 'Storage class of the first transition.',
    },
    LIFECYCLE_ARCHIVE_DAYS: {
      schema: days(365),
      default: '365',
      doc:
        'Lifecycle rule: move stored files to `LIFECYCLE_ARCHIVE_CLASS` after this many days (0: no archive ' +
        'transition).',
    },
    LIFECYCLE_ARCHIVE_CLASS: {
      schema: z.enum(['GLACIER_IR', 'GLACIER', 'DEEP_ARCHIVE']).default('GLACIER_IR'),
      default: 'GLACIER_IR',
      doc:
        'Archive storage class. The default keeps millisecond reads, so archived photos are still served; ' +
        '`GLACIER`/`DEEP_ARCHIVE` need a restore before any read.',
    },
    CLEANUP_INTERVAL: {
      schema: duration.default('1h'),
      default: '1h',
      doc: 'How often the worker runs `cleanup` (0: never).',
    },
    ORPHANS_INTERVAL: {
      schema: duration.default('1d'),
      default: '1d',
      doc: 'How often the worker runs a report-only `orphans` sweep (0: never).',
    },
  },
  build(v, problem) {
    const { LIFECYCLE_TRANSITION_DAYS: transition, LIFECYCLE_ARCHIVE_DAYS: archive } = v
    if (transition > 0 && archive > 0 && archive <= transition) {
      problem('LIFECYCLE_ARCHIVE_DAYS: expected more days than LIFECYCLE_TRANSITION_DAYS')
    }
    return {
      ops: {
        bucket: {
          blockPublicAccess: v.BUCKET_BLOCK_PUBLIC_ACCESS,
          encryption: v.BUCKET_ENCRYPTION,
          versioning: v.BUCKET_VERSIONING,
          corsOrigins: v.BUCKET_CORS_ORIGINS,
        },
        /** Days; 0 means no such rule. */
        lifecycle: {
          tempDays: v.LIFECYCLE_TEMP_DAYS,
          multipartDays: v.LIFECYCLE_MULTIPART_DAYS,
          noncurrentDays: v.LIFECYCLE_NONCURRENT_DAYS,
          transitionDays: v.LIFECYCLE_TRANSITION_DAYS,
          transitionClass: v.LIFECYCLE_TRANSITION_CLASS,
          archiveDays: v.LIFECYCLE_ARCHIVE_DAYS,
          archiveClass: v.LIFECYCLE_ARCHIVE_CLASS,
        },
        /** Milliseconds; 0 means not scheduled. */
        schedule: { cleanupEveryMs: v.CLEANUP_INTERVAL, orphansEveryMs: v.ORPHANS_INTERVAL },
      },
    }
  },
})
