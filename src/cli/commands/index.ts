import type { Command } from '../command.js'
import { check } from './check.js'

/** Every command, in the order `--help` lists them. */
export const commands: readonly Command[] = [check]
