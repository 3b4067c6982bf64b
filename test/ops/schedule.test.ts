import { Queue } from 'bullmq'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startSchedules, type ScheduleOptions } from '../../src/ops/schedule.js'
import { silentLogger } from '../../src/jobs/index.js'
import { BACKENDS, openTestStorage, type TestStorage } from '../support/storage.js'

type Report = Parameters<NonNullable<ScheduleOptions['onReport']>>[0]

async function until(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 25))
  }
}

for (const backend of BACKENDS) {
  describe(`startSchedules on ${backend}`, () => {
    let t: TestStorage
    const orphanKey = 'items/item-z/photos/no-such-file/original.jpg'
    beforeAll(async () => {
      // No grace: the planted orphan is old enough at once.
      t = await openTestStorage(backend, { UPLOAD_GRACE: '0s' })
      await t.store.put(orphanKey, Buffer.from('x'), { contentType: 'image/jpeg' })
      await new Promise((r) => setTimeout(r, 1100))
    })
    afterAll(async () => {
      await t?.close()
    })

    it(
      `runs cleanup and a report-only orphan sweep periodically ` +
        `(${backend === 'production' ? 'BullMQ job schedulers' : 'timers'})`,
      async () => {
        const reports: Report[] = []
        const scheduler = await startSchedules(t, {
          cleanupEveryMs: 300,
          orphansEveryMs: 300,
          logger: silentLogger,
          onReport: (r) => reports.push(r),
        })
        try {
          expect(scheduler.kind).toBe(backend === 'production' ? 'bullmq' : 'timer')
          expect(scheduler.scheduled).toEqual(['cleanup', 'orphans'])
          await until(
            () =>
              reports.filter((r) => r.task === 'cleanup').length >= 2 &&
              reports.filter((r) => r.task === 'orphans').length >= 2,
          )
        } finally {
          await scheduler.remove()
        }
        const sweep = reports.find((r) => r.task === 'orphans')
        expect(sweep?.task === 'orphans' && sweep.summary.mode).toBe('report')
        expect(sweep?.task === 'orphans' && sweep.summary.orphanObjects.map((o) => o.key)).toEqual([orphanKey])
        // Report-only: the orphan is still there.
        expect(await t.store.exists(orphanKey)).toBe(true)
        const after = reports.length
        await new Promise((r) => setTimeout(r, 700))
        expect(reports.length).toBe(after)
      },
    )

    it('a period of 0 schedules nothing', async () => {
      const scheduler = await startSchedules(t, { cleanupEveryMs: 0, orphansEveryMs: 0, logger: silentLogger })
      expect(scheduler.scheduled).toEqual([])
      await scheduler.remove()
    })

    if (backend === 'production') {
      it('two workers share one schedule: each period runs once, not once per worker', async () => {
        // What the shared schedule leaves in Redis: one scheduler, and one job per period it fired.
        const connection = new Redis(t.config.queue.redisUrl ?? '', { maxRetriesPerRequest: null })
        const schedules = new Queue('schedules', { connection, prefix: t.config.queue.prefix })
        const cleanupJobs = async () =>
          (await schedules.getJobs(['completed'])).filter((job) => job.name === 'cleanup').map((job) => job.id)
        const earlier = new Set(await cleanupJobs())
        let runs = 0
        const onReport = () => void (runs += 1)
        const options: ScheduleOptions = { cleanupEveryMs: 400, orphansEveryMs: 0, logger: silentLogger, onReport }
        const a = await startSchedules(t, options)
        const b = await startSchedules(t, options)
        try {
          try {
            await until(() => runs >= 3)
            expect(await schedules.getJobSchedulersCount()).toBe(1)
          } finally {
            await b.close()
            await a.remove()
          }
          // Each run was one period's job, taken by one of the two workers: never one run per worker.
          const periods = (await cleanupJobs()).filter((id) => !earlier.has(id))
          expect(new Set(periods).size).toBe(periods.length)
          expect(runs).toBe(periods.length)
        } finally {
          await schedules.close()
          connection.disconnect()
        }
      })
    }
  })
}
