import type { Command } from '../command.js'
import { check } from './check.js'
import { serve } from './serve.js'
import { token } from './token.js'

/** Every command, in the order `--help` lists them. */
export const commands: readonly Command[] = [serve, token, check]
