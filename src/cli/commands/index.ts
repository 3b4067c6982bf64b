import type { Command } from '../command.js'
import { check } from './check.js'
import { cleanupCommand } from './cleanup.js'
import { migrate } from './migrate.js'
import { orphansCommand } from './orphans.js'
import { reprocess } from './reprocess.js'
import { serve } from './serve.js'
import { setupBucketCommand } from './setup-bucket.js'
import { statsCommand } from './stats.js'
import { token } from './token.js'
import { worker } from './worker.js'

/** Every command, in the order `--help` lists them. */
export const commands: readonly Command[] = [
  serve,
  worker,
  token,
  check,
  reprocess,
  migrate,
  setupBucketCommand,
  cleanupCommand,
  orphansCommand,
  statsCommand,
]
