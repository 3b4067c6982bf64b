#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (`npm start` builds first).
import { existsSync } from 'node:fs'

const entry = new URL('../dist/cli/run.js', import.meta.url)
if (!existsSync(entry)) {
  process.stderr.write('localex-storage: dist/ is missing. Run `npm run build` first.\n')
  process.exit(1)
}
await import(entry.href)
