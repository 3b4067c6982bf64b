import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

// The README's embedding example must keep running as the API evolves.
it("examples/embed.ts runs: uploads, lists 8 variants, refuses a stranger's delete, deletes", async () => {
  const script = fileURLToPath(new URL('../../examples/embed.ts', import.meta.url))
  const env: Record<string, string | undefined> = { ...process.env }
  for (const name of ['S3_BUCKET', 'DATABASE_URL', 'REDIS_URL', 'STORAGE_DRIVER']) delete env[name]
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script], { env, timeout: 90_000 })
  const lines = stdout.trim().split('\n')
  expect(lines[0]).toMatch(/^uploaded \S+: processing, 1800×1200/)
  expect(
    lines.filter((l) => /^(original|thumbnail|medium|large)\s+(jpeg|webp)\s+\d+×\d+\s+\d+ B\s+http/.test(l)),
  ).toHaveLength(8)
  expect(lines.at(-2)).toBe('bob may not delete it: FORBIDDEN')
  expect(lines.at(-1)).toBe('deleted; item-42 has 0 photos')
}, 120_000)
