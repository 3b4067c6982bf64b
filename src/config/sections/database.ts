import { join, resolve } from 'node:path'
import { z } from 'zod'
import { bool, defineSection, duration, int } from '../env.js'
import { general } from './general.js'

export const database = defineSection({
  title: 'Database and queue',
  summary: '`config.db` and `config.queue`: the metadata database and the job queue.',
  variables: {
    DATABASE_URL: {
      schema: z
        .string()
        .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL')
        .optional(),
      default: '— (SQLite)',
      doc: 'PostgreSQL connection URL. Unset: SQLite at `SQLITE_PATH`.',
      secret: true,
    },
    SQLITE_PATH: {
      schema: z.string().min(1).optional(),
      default: '`$DATA_DIR/meta.sqlite`',
      doc: 'SQLite file of the embedded default.',
    },
    DATABASE_POOL_MAX: { schema: int(1, 200).default(10), default: '10', doc: 'PostgreSQL pool size.' },
    MIGRATE_ON_START: {
      schema: bool.default(true),
      default: 'true',
      doc: 'Run pending migrations when the service or worker starts.',
    },
    REDIS_URL: {
      schema: z
        .string()
        .regex(/^rediss?:\/\//, 'expected a redis:// URL')
        .optional(),
      default: '— (in-process)',
      doc: 'Redis for BullMQ. Unset: an in-process queue.',
      secret: true,
    },
    QUEUE_PREFIX: { schema: z.string().min(1).default('localex'), default: 'localex', doc: 'BullMQ key prefix.' },
    WORKER_CONCURRENCY: { schema: int(1, 64).default(2), default: '2', doc: 'Jobs one worker process runs at once.' },
    JOB_ATTEMPTS: {
      schema: int(1, 50).default(5),
      default: '5',
      doc: 'Attempts per job before the file is marked failed.',
    },
    JOB_BACKOFF_MS: {
      schema: duration.default('1s'),
      default: '1s',
      doc: 'First retry delay of a job; doubles each attempt.',
    },
    JOB_LOCK_DURATION: {
      schema: duration.default('30s'),
      default: '30s',
      doc:
        "BullMQ: how long a job stays locked to a worker without a renewal; a killed worker's job is redelivered " +
        'after about this long.',
    },
    JOB_STALLED_INTERVAL: {
      schema: duration.default('30s'),
      default: '30s',
      doc: 'BullMQ: how often workers look for jobs whose worker vanished.',
    },
    SERVE_WORKERS: {
      schema: int(0, 64).optional(),
      default: '1 in-process, 0 with `REDIS_URL`',
      doc: 'Workers the `serve` process runs itself.',
    },
  },
  uses: { DATA_DIR: general.variables.DATA_DIR },
  build: (v) => ({
    db: {
      url: v.DATABASE_URL,
      sqlitePath: resolve(v.SQLITE_PATH ?? join(resolve(v.DATA_DIR), 'meta.sqlite')),
      poolMax: v.DATABASE_POOL_MAX,
      migrateOnStart: v.MIGRATE_ON_START,
    },
    queue: {
      redisUrl: v.REDIS_URL,
      prefix: v.QUEUE_PREFIX,
      concurrency: v.WORKER_CONCURRENCY,
      attempts: v.JOB_ATTEMPTS,
      backoffMs: v.JOB_BACKOFF_MS,
      serveWorkers: v.SERVE_WORKERS ?? (v.REDIS_URL ? 0 : 1),
      lockDurationMs: v.JOB_LOCK_DURATION,
      stalledIntervalMs: v.JOB_STALLED_INTERVAL,
    },
  }),
})
