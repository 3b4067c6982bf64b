import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeJwt } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureGeneratedSecrets, loadConfig } from '../../src/config/index.js'
import { pageCsp } from '../../src/http/web.js'
import { makeTestApp, type TestApp } from './support/app.js'

describe('DEV_TOKENS setting', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'localex-devtokens-'))
    // The embedded default: secrets generated, none configured.
    ensureGeneratedSecrets({ DATA_DIR: dir })
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))
  const secret = 'a-configured-jwt-secret-that-is-long-enough-012345'

  it('auto: on with the embedded default (generated secret, loopback HOST) only', () => {
    expect(loadConfig({ DATA_DIR: dir }).auth.devTokens).toBe(true)
    expect(loadConfig({ DATA_DIR: dir, HOST: '::1' }).auth.devTokens).toBe(true)
    expect(loadConfig({ DATA_DIR: dir, JWT_SECRET: secret }).auth.devTokens).toBe(false)
    expect(loadConfig({ DATA_DIR: dir, HOST: '0.0.0.0' }).auth.devTokens).toBe(false)
    expect(loadConfig({ DATA_DIR: dir, JWKS_URL: 'https://idp.example/.well-known/jwks.json' }).auth.devTokens).toBe(
      false,
    )
  })

  it('auto: off under NODE_ENV=production, whatever else holds; the reason is given in words', () => {
    const local = loadConfig({ DATA_DIR: dir })
    expect(local.auth.devTokensReason).toMatch(
      /NODE_ENV is not production, the JWT secret was generated, HOST=127\.0\.0\.1 is loopback/,
    )
    const prod = loadConfig({ DATA_DIR: dir, NODE_ENV: 'production' })
    expect(prod.auth.devTokens).toBe(false)
    expect(prod.auth.devTokensReason).toBe('DEV_TOKENS=auto and NODE_ENV=production')
    expect(loadConfig({ DATA_DIR: dir, NODE_ENV: 'Production', HOST: '::1' }).auth.devTokens).toBe(false)
    expect(loadConfig({ DATA_DIR: dir, JWT_SECRET: secret }).auth.devTokensReason).toMatch(/auth is configured/)
    expect(loadConfig({ DATA_DIR: dir, HOST: '0.0.0.0' }).auth.devTokensReason).toMatch(
      /HOST=0\.0\.0\.0 is not a loopback address/,
    )
  })

  it('DEV_TOKENS=true with NODE_ENV=production is a configuration error naming the setting', () => {
    expect(() => loadConfig({ DATA_DIR: dir, JWT_SECRET: secret, NODE_ENV: 'production', DEV_TOKENS: 'true' })).toThrow(
      /DEV_TOKENS: "true" is not allowed with NODE_ENV=production/,
    )
    expect(() => loadConfig({ DATA_DIR: dir, NODE_ENV: 'production', DEV_TOKENS: 'true' })).toThrow(
      /CONFIG_INVALID|Invalid configuration/,
    )
    expect(loadConfig({ DATA_DIR: dir, NODE_ENV: 'production', DEV_TOKENS: 'false' }).auth.devTokens).toBe(false)
  })

  it('true and false override auto; true needs an HS secret', () => {
    expect(loadConfig({ DATA_DIR: dir, JWT_SECRET: secret, DEV_TOKENS: 'true' }).auth.devTokens).toBe(true)
    expect(loadConfig({ DATA_DIR: dir, DEV_TOKENS: 'false' }).auth.devTokens).toBe(false)
    expect(() => loadConfig({ DATA_DIR: dir, JWKS_URL: 'https://idp.example/jwks', DEV_TOKENS: 'true' })).toThrow(
      /DEV_TOKENS: needs an HS secret/,
    )
    expect(() => loadConfig({ DATA_DIR: dir, DEV_TOKENS: 'yes' })).toThrow(/DEV_TOKENS/)
  })
})

describe('POST /v1/dev/token', () => {
  it('does not exist when DEV_TOKENS is off (a configured JWT_SECRET)', async () => {
    const t = await makeTestApp()
    try {
      expect(t.config.auth.devTokens).toBe(false)
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/dev/token',
        payload: { userId: 'alice', admin: true },
      })
      expect(res.statusCode).toBe(404)
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/)
      const docs = await t.app.inject({ url: '/docs/json' })
      expect(docs.body).not.toContain('/v1/dev/token')
    } finally {
      await t.close()
    }
  })

  describe('with DEV_TOKENS=true', () => {
    let t: TestApp
    beforeAll(async () => {
      t = await makeTestApp({ env: { DEV_TOKENS: 'true' } })
    })
    afterAll(() => t.close())

    it('mints a token the API accepts, for a user or an admin', async () => {
      const res = await t.app.inject({ method: 'POST', url: '/v1/dev/token', payload: { userId: 'alice' } })
      expect(res.statusCode).toBe(201)
      expect(res.headers['cache-control']).toBe('no-store')
      const body = res.json<{ token: string; userId: string; admin: boolean; expiresAt: string }>()
      expect(body).toMatchObject({ userId: 'alice', admin: false })
      expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now())
      expect(decodeJwt(body.token)).toMatchObject({
        sub: 'alice',
        iss: t.config.auth.issuer,
        aud: t.config.auth.audience,
      })
      const list = await t.app.inject({
        url: '/v1/verification-documents',
        headers: { authorization: `Bearer ${body.token}` },
      })
      expect(list.statusCode).toBe(200)

      const admin = (
        await t.app.inject({ method: 'POST', url: '/v1/dev/token', payload: { userId: 'root', admin: true } })
      ).json<{ token: string }>()
      expect(decodeJwt(admin.token)).toMatchObject({ sub: 'root', role: 'admin' })
    })

    it(
      'answers only local requests: proxy headers, a foreign Host or Origin, or a remote peer get the 404 of an ' +
        'absent route',
      async () => {
        const off = await makeTestApp()
        const absent = await off.app.inject({
          method: 'POST',
          url: '/v1/dev/token',
          payload: { userId: 'attacker', admin: true },
        })
        await off.close()
        expect(absent.statusCode).toBe(404)
        const sameAsAbsent = (
          res: { statusCode: number; headers: Record<string, unknown>; json: () => unknown },
          what: string,
        ) => {
          expect(res.statusCode, what).toBe(404)
          expect(res.headers['content-type'], what).toBe(absent.headers['content-type'])
          const { requestId: _a, ...body } = res.json() as Record<string, unknown>
          const { requestId: _b, ...expected } = absent.json() as Record<string, unknown>
          expect(body, what).toEqual(expected)
        }
        const attempt = (headers: Record<string, string>, remoteAddress?: string) =>
          t.app.inject({
            method: 'POST',
            url: '/v1/dev/token',
            payload: { userId: 'attacker', admin: true },
            headers,
            ...(remoteAddress ? { remoteAddress } : {}),
          })
        // What nginx or Caddy in front of a loopback listener sends.
        sameAsAbsent(
          await attempt({
            host: 'media.localex.example',
            'x-forwarded-for': '203.0.113.9',
            'x-forwarded-proto': 'https',
          }),
          'behind a proxy',
        )
        sameAsAbsent(
          await attempt({ host: 'localhost:3000', 'x-forwarded-for': '203.0.113.9' }),
          'X-Forwarded-For with a local Host',
        )
        sameAsAbsent(await attempt({ host: 'localhost:3000', 'x-forwarded-host': 'localhost' }), 'X-Forwarded-Host')
        sameAsAbsent(await attempt({ host: 'localhost:3000', forwarded: 'for=203.0.113.9;proto=https' }), 'Forwarded')
        sameAsAbsent(await attempt({ host: 'localhost:3000', 'x-real-ip': '203.0.113.9' }), 'X-Real-IP')
        sameAsAbsent(await attempt({ host: 'localhost:3000', via: '1.1 caddy' }), 'Via')
        // DNS rebinding: a page on another name that resolves to 127.0.0.1 sends its own name.
        sameAsAbsent(await attempt({ host: 'rebind.attacker.example:3000' }), 'a foreign Host')
        sameAsAbsent(await attempt({ host: '127.0.0.2:3000' }), 'another loopback address as Host')
        sameAsAbsent(await attempt({ host: 'localhost:3000', origin: 'http://evil.example' }), 'a foreign Origin')
        sameAsAbsent(await attempt({ host: 'localhost:3000' }, '203.0.113.9'), 'a remote peer')
        sameAsAbsent(await attempt({ host: 'localhost:3000' }, '::ffff:10.0.0.1'), 'a remote IPv4-mapped peer')

        for (const host of ['localhost', 'localhost:3000', '127.0.0.1:8080', '[::1]:3000', '[::1]']) {
          const ok = await attempt({ host, origin: `http://${host}` })
          expect(ok.statusCode, host).toBe(201)
        }
        expect((await attempt({ host: 'localhost:3000' }, '::1')).statusCode).toBe(201)
        expect((await attempt({ host: 'localhost:3000' }, '::ffff:127.0.0.1')).statusCode).toBe(201)
      },
    )

    it('validates the user id like every id', async () => {
      for (const userId of ['../etc', '', 'a b']) {
        const res = await t.app.inject({ method: 'POST', url: '/v1/dev/token', payload: { userId } })
        expect(res.statusCode, userId).toBe(400)
      }
      expect(
        (await t.app.inject({ method: 'POST', url: '/v1/dev/token', payload: { userId: 'a', extra: 1 } })).statusCode,
      ).toBe(400)
    })
  })
})

describe('the example page', () => {
  let root: string
  let t: TestApp
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'localex-web-'))
    await mkdir(join(root, 'app'))
    await writeFile(join(root, 'index.html'), '<!doctype html><title>x</title>')
    await writeFile(join(root, 'app', 'app.js'), 'console.log(1)')
    await writeFile(join(root, 'app', 'styles.css'), 'body{}')
    t = await makeTestApp({ deps: { web: root } })
  })
  afterAll(async () => {
    await t.close()
    await rm(root, { recursive: true, force: true })
  })

  it('serves index.html at / with a strict CSP, and the assets under /app/', async () => {
    const page = await t.app.inject({ url: '/' })
    expect(page.statusCode).toBe(200)
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(page.headers['content-security-policy']).toContain("script-src 'self'")
    expect(page.headers['cache-control']).toBe('no-cache')
    expect(page.body).toContain('<title>x</title>')
    const js = await t.app.inject({ url: '/app/app.js' })
    expect(js.statusCode).toBe(200)
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8')
    expect((await t.app.inject({ url: '/app/styles.css' })).headers['content-type']).toBe('text/css; charset=utf-8')
  })

  it('serves nothing outside its folder', async () => {
    for (const url of [
      '/app/..%2Findex.html',
      '/app/%2e%2e%2f%2e%2e%2fpackage.json',
      '/app/.hidden.js',
      '/app/missing.js',
      '/app/app.exe',
      '/app/../../package.json',
    ]) {
      const res = await t.app.inject({ url })
      expect(res.statusCode, url).toBe(404)
      expect(res.body).not.toContain('console.log')
    }
  })

  it('says how to build it when it is not built, and can be turned off', async () => {
    const missing = await makeTestApp({ deps: { web: join(root, 'nowhere') } })
    try {
      const res = await missing.app.inject({ url: '/' })
      expect(res.statusCode).toBe(404)
      expect(res.json()).toMatchObject({
        code: 'NOT_FOUND',
        detail: 'The example page is not built: run npm run build',
      })
    } finally {
      await missing.close()
    }
    const off = await makeTestApp({ deps: { web: false } })
    try {
      expect((await off.app.inject({ url: '/' })).statusCode).toBe(404)
    } finally {
      await off.close()
    }
  })

  it('CSP allows images and uploads from the store and CDN origins', () => {
    const dir = root
    ensureGeneratedSecrets({ DATA_DIR: dir })
    const s3 = loadConfig({
      DATA_DIR: dir,
      S3_BUCKET: 'photos',
      S3_ENDPOINT: 'http://127.0.0.1:7480',
      S3_FORCE_PATH_STYLE: 'true',
      CDN_URL: 'https://cdn.example.com/x',
    })
    const csp = pageCsp(s3)
    expect(csp).toMatch(/img-src 'self' data: blob: [^;]*https:\/\/cdn\.example\.com/)
    expect(csp).toMatch(/connect-src 'self' [^;]*http:\/\/127\.0\.0\.1:7480/)
    expect(pageCsp(loadConfig({ DATA_DIR: dir, S3_BUCKET: 'photos', S3_REGION: 'eu-west-1' }))).toContain(
      'https://photos.s3.eu-west-1.amazonaws.com',
    )
  })
})
