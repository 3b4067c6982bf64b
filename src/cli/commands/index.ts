import type { Command } from '../command.js'
import { check } from './check.js'
import { reprocess } from './reprocess.js'
import { serve } from './serve.js'
import { token } from './token.js'
import { worker } from './worker.js'

/** Every command, in the order `--help` lists them. */
export const commands: readonly Command[] = [serve, worker, token, check, reprocess]
