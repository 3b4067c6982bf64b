/**
 * The example page (web/) in a real browser: Debian's Chromium driven by playwright-core, against
 * the real service (embedded default: disk store, SQLite, in-process queue) in a temp DATA_DIR.
 * Uploads real photos through the page and checks what a person would see: progress, the
 * placeholder, then every variant rendered at its size; the API's errors next to the files;
 * reorder, delete, the profile photo, and who may open a private document. A screenshot of the
 * page is left in test-output/web/.
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildWeb } from '../../scripts/build-web.js'
import { createStorage, type Storage } from '../../src/app.js'
import { ensureGeneratedSecrets, loadConfig } from '../../src/config/index.js'
import { buildHttpApp } from '../../src/http/app.js'
import { fixture } from '../support/fixtures.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const OUTPUT = fileURLToPath(new URL('../../test-output/web/', import.meta.url))
const MAX_FILE_SIZE = 1024 * 1024

/** Photos under the 1 MiB limit of this test, and what their originals should measure. */
const PHOTOS = {
  landscape: fixture('images/jpeg-exif-orientation-6-landscape.jpg'), // 350 KB JPEG stored rotated (EXIF orientation 6)
  p3: fixture('images/jpeg-icc-display-p3-iphone.jpg'), // 50 KB JPEG with a Display P3 profile
  alpha: fixture('images/png-rgba-alpha.png'), // 125 KB PNG with transparency
}
const OVERSIZED = fixture('images/jpeg-panorama-equirectangular.jpg') // 2.0 MB > MAX_FILE_SIZE
const WRONG_TYPE = fixture('images/bmp-unsupported.bmp')
const DOCUMENT = fixture('images/jpeg-grayscale.jpg')

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      )
    })
  })
}

describe('example page in Chromium', () => {
  it("has Debian's Chromium to drive (`apt-get install chromium`; .ci/run installs it)", () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing`).toBe(true)
  })

  let dir: string
  let storage: Storage
  let app: FastifyInstance
  let context: BrowserContext
  let page: Page
  let base: string
  const pageErrors: string[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'localex-web-e2e-'))
    const port = await freePort()
    base = `http://127.0.0.1:${port}`
    // The embedded default, as `npm start` runs it: the JWT secret is generated, so development
    // sign-in is on.
    const env = {
      DATA_DIR: join(dir, 'var'),
      HOST: '127.0.0.1',
      PORT: String(port),
      PUBLIC_BASE_URL: base,
      MAX_FILE_SIZE: String(MAX_FILE_SIZE),
      LOG_LEVEL: 'silent',
    }
    ensureGeneratedSecrets(env)
    const config = loadConfig(env)
    expect(config.auth.devTokens).toBe(true)
    const [webRoot, created] = await Promise.all([
      buildWeb(join(dir, 'web')),
      createStorage(config, {
        logger: { warn: () => undefined, error: (fields, message) => console.error(message, fields) },
      }),
    ])
    storage = created
    app = buildHttpApp({
      config,
      files: storage.files,
      store: storage.store,
      health: storage.health,
      logger: false,
      web: webRoot,
    })
    await app.listen({ host: '127.0.0.1', port })

    context = await chromium.launchPersistentContext(join(dir, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
      viewport: { width: 1280, height: 900 },
    })
    page = context.pages()[0] ?? (await context.newPage())
    page.on('pageerror', (error) => pageErrors.push(error.message))
    page.on('console', (message) => {
      // Chromium logs every 4xx it receives; the page is expected to meet a few.
      if (message.type() === 'error' && !/status of 4\d\d/.test(message.text())) pageErrors.push(message.text())
    })
    await page.goto(`${base}/`)
    await page.waitForSelector('body[data-ready]')
  }, 60_000)

  afterAll(async () => {
    await context?.close()
    await app?.close()
    await storage?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  /** Photos of the item, in order, as the API lists them. */
  async function apiPhotos(): Promise<Array<{ id: string; status: string }>> {
    const res = await fetch(`${base}/v1/items/demo-item/photos`)
    return ((await res.json()) as { photos: Array<{ id: string; status: string }> }).photos
  }

  it('signs in with a development token', async () => {
    await page.fill('#user-id', 'alice')
    await page.click('#sign-in button[type=submit]')
    await expect.poll(() => page.textContent('#whoami')).toBe('Signed in as alice')
  })

  it(
    'uploads photos (direct and multipart) with a progress bar each, shows the placeholder, then every ' + 'variant',
    async () => {
      // Watch the page as a person would: progress percentages and placeholders as they appear.
      await page.evaluate(() => {
        const seen = { progress: [] as string[], placeholders: [] as string[] }
        ;(window as unknown as { seen: typeof seen }).seen = seen
        new MutationObserver(() => {
          for (const state of document.querySelectorAll('.upload .state')) {
            const text = state.textContent ?? ''
            if (text.endsWith('%')) seen.progress.push(`${state.closest('.upload')?.getAttribute('data-name')}:${text}`)
          }
          for (const img of document.querySelectorAll<HTMLImageElement>('img.placeholder'))
            seen.placeholders.push(img.src.slice(0, 22))
        }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true })
      })
      await page.setInputFiles('#photo-input', [PHOTOS.landscape, PHOTOS.p3]) // auto: direct upload to /uploads/direct
      await page.waitForSelector(
        '.upload[data-name="jpeg-icc-display-p3-iphone.jpg"][data-state]:not([data-state="uploading"])',
      )
      await page.selectOption('#upload-mode', 'multipart')
      await page.setInputFiles('#photo-input', [PHOTOS.alpha])
      await page.waitForSelector('.upload[data-name="png-rgba-alpha.png"][data-state]:not([data-state="uploading"])')
      await page.waitForFunction(
        () => document.querySelectorAll('li.photo[data-status="ready"]').length === 3,
        undefined,
        { timeout: 30_000 },
      )

      const seen = await page.evaluate(
        () => (window as unknown as { seen: { progress: string[]; placeholders: string[] } }).seen,
      )
      for (const name of [
        'jpeg-exif-orientation-6-landscape.jpg',
        'jpeg-icc-display-p3-iphone.jpg',
        'png-rgba-alpha.png',
      ]) {
        expect(seen.progress, name).toContain(`${name}:100 %`)
      }
      expect(seen.placeholders.length).toBeGreaterThan(0)
      expect(seen.placeholders.every((src) => src.startsWith('data:image/png;base64'))).toBe(true)
      // Every bar full; no error.
      const bars = await page.$$eval('.upload progress', (els) =>
        els.map((p) => [(p as HTMLProgressElement).value, (p as HTMLProgressElement).max]),
      )
      expect(bars).toHaveLength(3)
      for (const [value, max] of bars) expect(value).toBe(max)
      expect(await page.$$('.upload .error')).toHaveLength(0)
      await expect
        .poll(() => page.$$eval('#upload-queue .upload', (rows) => rows.map((r) => r.getAttribute('data-state'))))
        .toEqual(['ready', 'ready', 'ready'])

      // Each card: a <picture> whose <img> rendered a WebP variant. The images are lazy: bring each
      // into view and wait until it is decoded (decode() rejects for a broken image).
      await page.$$eval('li.photo picture img', (imgs) =>
        Promise.all(
          imgs.map((img) => {
            img.scrollIntoView()
            return (img as HTMLImageElement).decode()
          }),
        ),
      )
      const cards = await page.$$eval('li.photo', (lis) =>
        lis.map((li) => {
          const img = li.querySelector<HTMLImageElement>('picture img')
          const rows = [...li.querySelectorAll<HTMLTableRowElement>('tr.variant')].map((tr) => ({
            variant: tr.dataset.variant,
            format: tr.dataset.format,
            width: Number(tr.dataset.width),
            height: Number(tr.dataset.height),
            bytes: Number(tr.dataset.bytes),
            url: tr.querySelector('a')?.href ?? '',
          }))
          return {
            name: li.querySelector('figcaption strong')?.textContent,
            sources: li.querySelectorAll('picture source[type="image/webp"]').length,
            img: img
              ? {
                  complete: img.complete,
                  naturalWidth: img.naturalWidth,
                  naturalHeight: img.naturalHeight,
                  currentSrc: img.currentSrc,
                  width: img.width,
                }
              : null,
            rows,
          }
        }),
      )
      expect(cards).toHaveLength(3)
      for (const card of cards) {
        expect(card.sources, card.name ?? '').toBe(1)
        expect(card.img?.complete).toBe(true)
        expect(card.img?.naturalWidth).toBeGreaterThan(0)
        // The browser chose one of the WebP variants (naturalWidth is density-corrected to the
        // `sizes` slot with `w` descriptors, so the real pixel sizes are checked below).
        const webpVariants = card.rows.filter((r) => r.format === 'webp' && r.variant !== 'original').map((r) => r.url)
        expect(webpVariants).toContain(card.img?.currentSrc)
        // thumbnail 300, medium 800, large 1200 (longest side, never upscaled), each in WebP and in
        // JPEG (PNG when the photo has transparency).
        const fallback = card.name === 'png-rgba-alpha.png' ? 'png' : 'jpeg'
        for (const [variant, side] of [
          ['thumbnail', 300],
          ['medium', 800],
          ['large', 1200],
        ] as const) {
          for (const format of [fallback, 'webp']) {
            const row = card.rows.find((r) => r.variant === variant && r.format === format)
            expect(row, `${card.name} ${variant} ${format}`).toBeDefined()
            expect(Math.max(row!.width, row!.height)).toBeLessThanOrEqual(side)
            expect(row!.bytes).toBeGreaterThan(0)
          }
        }
      }
      // Every variant opens in the browser at exactly the size the API reports.
      const rows = cards.flatMap((c) => c.rows)
      const measured = await page.evaluate(
        (urls) =>
          Promise.all(
            urls.map(
              (url) =>
                new Promise<[number, number]>((resolve) => {
                  const img = new Image()
                  img.onload = () => resolve([img.naturalWidth, img.naturalHeight])
                  img.onerror = () => resolve([0, 0])
                  img.src = url
                }),
            ),
          ),
        rows.map((r) => r.url),
      )
      expect(measured).toEqual(rows.map((r) => [r.width, r.height]))
      // The photo stored rotated (EXIF orientation 6) is shown upright: landscape, as its name says.
      const rotated = cards.find((c) => c.name === 'jpeg-exif-orientation-6-landscape.jpg')!
      expect(rotated.img!.naturalWidth).toBeGreaterThan(rotated.img!.naturalHeight)
    },
  )

  it("shows the API's message next to a file that is too large or of the wrong type", async () => {
    await page.selectOption('#upload-mode', 'auto')
    await page.setInputFiles('#photo-input', [OVERSIZED])
    await page.selectOption('#upload-mode', 'multipart')
    await page.setInputFiles('#photo-input', [OVERSIZED, WRONG_TYPE])
    await page.waitForFunction(() => document.querySelectorAll('.upload[data-state="error"]').length === 3, undefined, {
      timeout: 20_000,
    })
    const errors = await page.$$eval('.upload[data-state="error"]', (rows) =>
      rows.map((row) => [row.getAttribute('data-name'), row.querySelector('.error')?.textContent]),
    )
    expect(errors).toEqual([
      ['jpeg-panorama-equirectangular.jpg', `Body is larger than ${MAX_FILE_SIZE} bytes`],
      ['jpeg-panorama-equirectangular.jpg', `The file is larger than ${MAX_FILE_SIZE} bytes`],
      ['bmp-unsupported.bmp', 'BMP is not accepted; upload JPEG, PNG, WebP, GIF or AVIF'],
    ])
    expect(await apiPhotos()).toHaveLength(3)
  })

  it('reorders and deletes photos', async () => {
    const before = (await apiPhotos()).map((p) => p.id)
    await page.click(`li.photo[data-file-id="${before[0]}"] button[title="Move later"]`)
    await expect.poll(async () => (await apiPhotos()).map((p) => p.id)).toEqual([before[1], before[0], before[2]])
    await expect
      .poll(() => page.$$eval('li.photo', (lis) => lis.map((li) => li.getAttribute('data-file-id'))))
      .toEqual([before[1], before[0], before[2]])

    await page.click(`li.photo[data-file-id="${before[2]}"] button[title="Delete this photo"]`)
    await expect.poll(() => page.$$eval('li.photo', (lis) => lis.length)).toBe(2)
    expect((await apiPhotos()).map((p) => p.id)).toEqual([before[1], before[0]])
  })

  it('sets a profile photo', async () => {
    await page.selectOption('#upload-mode', 'auto')
    await page.setInputFiles('#profile-input', PHOTOS.p3)
    await page.waitForSelector('.avatar[data-status="ready"] picture img', { timeout: 20_000 })
    await page.waitForFunction(
      () => (document.querySelector<HTMLImageElement>('.avatar picture img')?.naturalWidth ?? 0) > 0,
    )
    const res = await fetch(`${base}/v1/users/alice/profile-photo`)
    expect(res.status).toBe(200)
    expect(((await res.json()) as { id: string }).id).toBe(await page.getAttribute('.avatar', 'data-file-id'))
  })

  it('uploads a verification document that only its owner and an admin can open', async () => {
    await page.selectOption('#document-type', 'passport')
    await page.setInputFiles('#document-input', DOCUMENT)
    await page.waitForSelector('li.document[data-status="ready"]', { timeout: 20_000 })
    await page.click('li.document button.check-access')
    await page.waitForFunction(() => document.querySelectorAll('.access-results [data-outcome]').length === 4)
    const outcomes = await page.$$eval('.access-results li', (lis) =>
      lis.map((li) => [li.getAttribute('data-who'), li.getAttribute('data-outcome'), li.textContent]),
    )
    expect(outcomes.map(([who, outcome]) => [who, outcome])).toEqual([
      ['owner', 'allowed'],
      ['other', 'refused'],
      ['admin', 'allowed'],
      ['anonymous', 'refused'],
    ])
    expect(outcomes[1]?.[2]).toMatch(/^mallory \(another user\): ✗ 404 /)

    await page.click('li.document button.open')
    const href = await (await page.waitForSelector('li.document a.download')).getAttribute('href')
    const download = await fetch(href!)
    expect(download.status).toBe(200)
    expect(download.headers.get('content-disposition')).toMatch(/^attachment/)
    // Without the signature the same object is refused.
    expect((await fetch(href!.split('?')[0]!)).status).toBe(403)
  })

  it('falls back to multipart when the store is on another origin than the page (no CORS)', async () => {
    // The same service under another name: PUBLIC_BASE_URL (where direct uploads go) says
    // 127.0.0.1, the page is on localhost, and the receiver sends no CORS headers.
    const other = await context.newPage()
    const consoleErrors: string[] = []
    other.on('console', (message) => void (message.type() === 'error' && consoleErrors.push(message.text())))
    try {
      await other.goto(base.replace('127.0.0.1', 'localhost') + '/')
      await other.waitForSelector('body[data-ready]')
      await other.fill('#user-id', 'bob')
      await other.click('#sign-in button[type=submit]')
      await expect.poll(() => other.textContent('#whoami')).toBe('Signed in as bob')
      await other.fill('#item-id', 'bobs-item')
      await other.dispatchEvent('#item-id', 'change')
      await other.setInputFiles('#photo-input', PHOTOS.p3)
      await other.waitForSelector('.upload[data-state="ready"]', { timeout: 20_000 })
      expect(await other.$$('.upload .error')).toHaveLength(0)
      // The direct POST was tried and blocked; the file then went through the API.
      expect(consoleErrors.some((text) => /CORS/.test(text))).toBe(true)
      const res = await fetch(`${base}/v1/items/bobs-item/photos`)
      expect(((await res.json()) as { photos: Array<{ ownerId: string; status: string }> }).photos).toMatchObject([
        { ownerId: 'bob', status: 'ready' },
      ])
    } finally {
      await other.close()
    }
  })

  it('leaves a screenshot and no script errors', async () => {
    await mkdir(OUTPUT, { recursive: true })
    await page.screenshot({ path: join(OUTPUT, 'page.png'), fullPage: true })
    expect(pageErrors).toEqual([])
  })
})
