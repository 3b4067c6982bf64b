import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from '../../src/cli/main.js'
import { createTestDatabase, type TestDatabase } from '../support/db.js'
import { capture } from './helpers.js'

describe('localex-storage migrate', () => {
  const opened: TestDatabase[] = []
  afterAll(async () => {
    for (const d of opened) await d.destroy()
  })

  for (const dialect of ['postgres', 'sqlite'] as const) {
    it(`${dialect}: --status lists pending migrations without applying them; migrate applies them once`, async () => {
      const d = await createTestDatabase(dialect, { migrate: false })
      opened.push(d)
      const env = {
        DATA_DIR: d.dir,
        LOG_LEVEL: 'silent',
        ...(d.url ? { DATABASE_URL: d.url } : { SQLITE_PATH: d.config.db.sqlitePath }),
      }
      const status = capture()
      expect(await runCli(['migrate', '--status', '--json'], { env, stdout: status.stream })).toBe(0)
      const before = JSON.parse(status.text()) as { applied: unknown[]; pending: string[] }
      expect(before.applied).toEqual([])
      expect(before.pending).toContain('0001_initial')

      const run = capture()
      expect(await runCli(['migrate', '--json'], { env, stdout: run.stream })).toBe(0)
      const after = JSON.parse(run.text()) as { applied: Array<{ name: string; status: string }>; pending: string[] }
      expect(after.applied.map((m) => m.name)).toEqual(before.pending)
      expect(after.applied.every((m) => m.status === 'Success')).toBe(true)
      expect(after.pending).toEqual([])

      const again = capture()
      expect(await runCli(['migrate'], { env, stdout: again.stream })).toBe(0)
      expect(again.text()).toMatch(/Applied 0 migrations; 0 pending\.\n$/)
    })
  }
})
