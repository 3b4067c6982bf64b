import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Writable } from 'node:stream'
import sharp from 'sharp'
import { afterAll, describe, expect, it } from 'vitest'
import { token } from '../../src/cli/commands/token.js'
import { fixture } from '../support/fixtures.js'

/**
 * What `npm start` does on a fresh machine, minus the build: the CLI's `serve` in an empty folder
 * (no ./var, no configuration), a token from the CLI's `token` on the same ./var, an upload, the
 * variants fetched from the URLs the service handed out, and a clean stop on SIGTERM.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
// The same Node as the test runner, with tsx's loader: not node_modules/.bin/tsx, whose
// `#!/usr/bin/env node` would start whichever Node comes first on PATH. The loader by absolute
// URL, since `--import tsx` resolves from the child's cwd (an empty temporary folder here).
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
const CLI = join(ROOT, 'src/cli/run.ts')

function run(args: string[], cwd: string, env: Record<string, string> = {}): ChildProcess {
  // Only what a shell would pass on: no test-runner settings that could configure the service.
  const base = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? cwd, TMPDIR: cwd }
  return spawn(process.execPath, ['--import', TSX_LOADER, CLI, ...args], {
    cwd,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

function output(child: ChildProcess): { stdout: () => string; stderr: () => string; exit: Promise<number | null> } {
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()))
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()))
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { stdout: () => stdout, stderr: () => stderr, exit }
}

describe('localex-storage serve on a fresh embedded default', () => {
  const dir = mkdtempSync(join(tmpdir(), 'localex-serve-'))
  let server: ChildProcess | undefined

  afterAll(async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGKILL')
      await new Promise((r) => server?.once('exit', r))
    }
    rmSync(dir, { recursive: true, force: true })
  })

  it('starts with no configuration, accepts a CLI token, stores an upload and delivers its variants', async () => {
    expect(existsSync(join(dir, 'var'))).toBe(false)
    server = run(['serve'], dir, { PORT: '0', LOG_LEVEL: 'warn' })
    const out = output(server)
    const base = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start:\n${out.stderr()}`)), 20_000)
      server?.stderr?.on('data', () => {
        const m = /listening on (http:\/\/\S+) /.exec(out.stderr())
        if (m?.[1]) {
          clearTimeout(timer)
          resolve(m[1])
        }
      })
      void out.exit.then((code) => reject(new Error(`serve exited with ${code}:\n${out.stderr()}`)))
    })

    // The token command in-process (a second spawned CLI costs seconds), on the same ./var.
    let printed = ''
    const code = await token.run({
      env: { DATA_DIR: join(dir, 'var') },
      values: { user: 'alice', ttl: '1h' },
      positionals: [],
      stdout: new Writable({
        write(chunk, _enc, done) {
          printed += String(chunk)
          done()
        },
      }),
      stderr: new Writable({
        write(_chunk, _enc, done) {
          done()
        },
      }),
      signal: new AbortController().signal,
    })
    expect(code).toBe(0)
    const bearer = printed.trim()
    expect(bearer).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
    expect(out.stderr()).toMatch(/Generated development secrets in .*var\/secrets\.json/)
    // One line says whether development sign-in is on, and why.
    expect(out.stderr()).toMatch(
      new RegExp(
        '^Development sign-in is on \\(DEV_TOKENS=auto: NODE_ENV is not production, the JWT secret was generated, ' +
          'HOST=127\\.0\\.0\\.1 is loopback.*\\)$',
        'm',
      ),
    )
    // The page's sign-in works from this machine, and not through a proxy on it.
    const devToken = (headers: Record<string, string> = {}) =>
      fetch(`${base}/v1/dev/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ userId: 'attacker', admin: true }),
      })
    expect((await devToken()).status).toBe(201)
    expect((await devToken({ 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' })).status).toBe(404)

    const form = new FormData()
    form.append(
      'file',
      new Blob([await readFile(fixture('images/jpeg-exif-orientation-6-landscape.jpg'))], { type: 'image/jpeg' }),
      'bike.jpg',
    )
    const res = await fetch(`${base}/v1/items/bike-42/photos?wait=true`, {
      method: 'POST',
      body: form,
      headers: { authorization: `Bearer ${bearer}` },
    })
    expect(res.status, await res.clone().text()).toBe(201)
    const view = (await res.json()) as {
      status: string
      variants: Array<{ variant: string; format: string; width: number; url: string }>
    }
    expect(view.status).toBe('ready')
    expect(view.variants).toHaveLength(8)
    const port = new URL(base).port
    for (const v of view.variants) {
      // The URLs name the port the service actually listens on (PORT=0: the one it picked).
      expect(new URL(v.url).port).toBe(port)
      const got = await fetch(v.url)
      expect(got.status, v.url).toBe(200)
      const meta = await sharp(Buffer.from(await got.arrayBuffer())).metadata()
      expect([meta.format, meta.width]).toEqual([v.format, v.width])
    }
    expect(existsSync(join(dir, 'var', 'meta.sqlite'))).toBe(true)

    server.kill('SIGTERM')
    expect(await out.exit).toBe(0)
    expect(out.stderr()).toMatch(/Shutting down/)
  }, 60_000)
})

describe('localex-storage serve and check refuse development sign-in in production', () => {
  const dir = mkdtempSync(join(tmpdir(), 'localex-serve-prod-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  for (const command of ['serve', 'check']) {
    it(
      `${command}: DEV_TOKENS=true with NODE_ENV=production exits 78 (configuration error) naming the ` + `setting`,
      async () => {
        const child = run([command], dir, { PORT: '0', NODE_ENV: 'production', DEV_TOKENS: 'true' })
        const out = output(child)
        expect(await out.exit).toBe(78)
        expect(out.stderr()).toMatch(/DEV_TOKENS: "true" is not allowed with NODE_ENV=production/)
        expect(existsSync(join(dir, 'var', 'meta.sqlite'))).toBe(false)
      },
      30_000,
    )
  }

  it('serve under NODE_ENV=production with the embedded default says sign-in is off and has no route', async () => {
    const child = run(['serve'], dir, { PORT: '0', NODE_ENV: 'production', LOG_LEVEL: 'warn' })
    const out = output(child)
    try {
      const base = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not start:\n${out.stderr()}`)), 20_000)
        child.stderr?.on('data', () => {
          const m = /listening on (http:\/\/\S+) /.exec(out.stderr())
          if (m?.[1] && /Development sign-in/.test(out.stderr())) {
            clearTimeout(timer)
            resolve(m[1])
          }
        })
        void out.exit.then((code) => reject(new Error(`serve exited with ${code}:\n${out.stderr()}`)))
      })
      expect(out.stderr()).toMatch(/^Development sign-in is off \(DEV_TOKENS=auto and NODE_ENV=production\)$/m)
      const res = await fetch(`${base}/v1/dev/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'attacker', admin: true }),
      })
      expect(res.status).toBe(404)
    } finally {
      child.kill('SIGTERM')
      await out.exit
    }
  }, 30_000)
})
