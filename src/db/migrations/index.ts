import type { Migration } from 'kysely'
import * as initial from './0001_initial.js'

/**
 * Every migration, by name; names sort in the order they run. Imported statically (no folder
 * scan) so the list survives bundling and works the same from `src/` under tsx and from `dist/`.
 */
export const MIGRATIONS: Readonly<Record<string, Migration>> = Object.freeze({
  '0001_initial': initial,
})
