import { readFile } from 'node:fs/promises'
import { Writable } from 'node:stream'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli } from '../../src/cli/main.js'
import type { Actor } from '../../src/files/types.js'
import { fixture } from '../support/fixtures.js'
import { objectKeys, openTestStorage, type TestStorage } from '../support/storage.js'

const alice: Actor = { id: 'alice', role: 'user' }

function sink(): Writable & { text: () => string } {
  const chunks: Buffer[] = []
  const stream = new Writable({ write: (chunk: Buffer, _enc, done) => (chunks.push(chunk), done()) }) as Writable & {
    text: () => string
  }
  stream.text = () => Buffer.concat(chunks).toString()
  return stream
}

describe('localex-storage reprocess (embedded: disk, SQLite, in-process queue)', () => {
  let t: TestStorage
  beforeAll(async () => {
    t = await openTestStorage('embedded')
  })
  afterAll(async () => {
    await t?.close()
  })

  it(
    'renders variants again with new settings: new sizes, formats no longer wanted deleted, other files ' + 'untouched',
    async () => {
      const png = await readFile(fixture('images/png-rgba-alpha.png'))
      const photo = await readFile(fixture('images/jpeg-exif-orientation-6-landscape.jpg'))
      const a = await t.files.uploadItemPhoto(alice, 'rp-1', { body: photo, wait: true })
      const b = await t.files.uploadItemPhoto(alice, 'rp-1', { body: png, wait: true })
      const doc = await t.files.uploadVerificationDocument(alice, 'passport', { body: photo, wait: true })
      const docKeys = await objectKeys(t, `verification/alice/`)
      // The CLI is another process's worth of storage on the same database and disk: keep this one's
      // relay from taking its jobs.
      await t.relay?.stop()

      const stdout = sink()
      const stderr = sink()
      const env = { ...t.env, IMAGE_WEBP: 'false', IMAGE_VARIANTS: 'thumbnail:200,medium:640' }
      const code = await runCli(['reprocess', '--entity', 'item', '--concurrency', '2', '--json'], {
        env,
        stdout,
        stderr,
      })
      expect(stderr.text()).toBe('')
      expect(code).toBe(0)
      expect(JSON.parse(stdout.text())).toMatchObject({
        selected: 2,
        ready: 2,
        failed: [],
        skipped: 0,
        interrupted: false,
      })

      for (const f of [a, b]) {
        const view = await t.files.getFile(alice, f.id)
        expect(view.status).toBe('ready')
        const ext = f.id === a.id ? 'jpg' : 'png'
        expect(await objectKeys(t, `items/rp-1/photos/${f.id}/`)).toEqual(
          [`medium.${ext}`, `original.${ext}`, `thumbnail.${ext}`].map((n) => `items/rp-1/photos/${f.id}/${n}`),
        )
        expect(view.variants.map((v) => v.variant).sort()).toEqual(['medium', 'original', 'thumbnail'])
        const thumb = await sharp(await t.store.getBuffer(`items/rp-1/photos/${f.id}/thumbnail.${ext}`)).metadata()
        expect(Math.max(thumb.width as number, thumb.height as number)).toBe(200)
      }
      expect(await objectKeys(t, `verification/alice/`)).toEqual(docKeys)
      expect((await t.files.getFile(alice, doc.id)).variants).toHaveLength(2)
    },
    60_000,
  )

  it('refuses a request without exactly one selection, with a usage error', async () => {
    const stdout = sink()
    await expect(runCli(['reprocess'], { env: t.env, stdout, stderr: sink() })).resolves.not.toBe(0)
    await expect(
      runCli(['reprocess', '--all', '--entity', 'item'], { env: t.env, stdout, stderr: sink() }),
    ).resolves.not.toBe(0)
    await expect(runCli(['reprocess', '--entity', 'basket'], { env: t.env, stdout, stderr: sink() })).resolves.not.toBe(
      0,
    )
  })
})
