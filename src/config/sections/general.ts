import { resolve } from 'node:path'
import { z } from 'zod'
import { defineSection, url } from '../env.js'

export const general = defineSection({
  title: 'General',
  summary: '`config.dataDir` and `config.logLevel`. `NODE_ENV` and `PUBLIC_BASE_URL` are read by the sections below.',
  variables: {
    NODE_ENV: {
      schema: z.string().optional(),
      default: '—',
      doc: '`production` marks a real deployment: development sign-in can never be on (`DEV_TOKENS=true` is refused).',
    },
    DATA_DIR: {
      schema: z.string().min(1).default('./var'),
      default: './var',
      doc: 'Where the embedded default keeps its files (disk store, SQLite, generated secrets).',
    },
    LOG_LEVEL: {
      schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      default: 'info',
      doc: 'Log level of the service and the worker.',
    },
    PUBLIC_BASE_URL: {
      schema: url.optional(),
      default: '`http://localhost:$PORT`',
      doc: "The service's own public address; delivery URLs of the embedded default start with it.",
    },
  },
  build: (v) => ({ dataDir: resolve(v.DATA_DIR), logLevel: v.LOG_LEVEL }),
})
