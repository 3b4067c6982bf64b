import { fileURLToPath } from 'node:url'

/** Path of a test fixture (copied from the shared corpus with its licence; see test/fixtures/LICENSES.md). */
export function fixture(relative: string): string {
  return fileURLToPath(new URL(`../fixtures/${relative}`, import.meta.url))
}
