import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { JWT_SECRET, expectProblemShape, makeTestApp, type TestApp } from './support/app.js'

const now = () => Math.floor(Date.now() / 1000)
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const hs = new TextEncoder().encode(JWT_SECRET)

interface Claims {
  sub?: unknown
  iss?: string
  aud?: string
  exp?: number
  nbf?: number
  role?: string
}

/** Builds a token claim by claim, so each test can leave one out or get one wrong. */
async function sign(claims: Claims, key: Uint8Array | CryptoKey = hs, alg = 'HS256', kid?: string): Promise<string> {
  const payload: Record<string, unknown> = {
    iss: 'localex',
    aud: 'localex-storage',
    exp: now() + 600,
    sub: 'alice',
    ...claims,
  }
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k]
  return new SignJWT(payload)
    .setProtectedHeader({ alg, typ: 'JWT', ...(kid ? { kid } : {}) })
    .setIssuedAt()
    .sign(key)
}

async function expectInvalid(t: TestApp, authorization: string, url = '/v1/verification-documents'): Promise<string> {
  const res = await t.app.inject({ method: 'GET', url, headers: { authorization } })
  expect(res.statusCode, res.body).toBe(401)
  expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="localex-storage", error="invalid_token"/)
  const body = res.json()
  expectProblemShape(body)
  expect(body.code).toBe('UNAUTHENTICATED')
  expect(t.files.calls).toHaveLength(0)
  return body.detail as string
}

describe('HS256 (the embedded default)', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await makeTestApp()
  })
  afterAll(async () => {
    await t.close()
  })

  it('accepts a valid token; role "admin" marks admins', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/v1/verification-documents',
      headers: { authorization: `Bearer ${await sign({})}` },
    })
    expect(res.statusCode).toBe(200)
    const admin = await t.app.inject({
      method: 'GET',
      url: '/v1/verification-documents?userId=bob',
      headers: { authorization: `Bearer ${await sign({ sub: 'root', role: 'admin' })}` },
    })
    expect(admin.statusCode).toBe(200)
    expect(t.files.calls.map((c) => c.actor)).toEqual([
      { id: 'alice', role: 'user' },
      { id: 'root', role: 'admin' },
    ])
    t.files.calls.length = 0
  })

  const cases: [string, () => Promise<string>, RegExp][] = [
    [
      'alg none',
      async () =>
        `${b64({ alg: 'none', typ: 'JWT' })}.` +
        `${b64({ iss: 'localex', aud: 'localex-storage', sub: 'alice', exp: now() + 600 })}.`,
      /algorithm|malformed/,
    ],
    ['another HS algorithm than the pinned one', () => sign({}, hs, 'HS512'), /algorithm/],
    [
      'tampered payload',
      async () => {
        const [h, , s] = (await sign({ sub: 'alice' })).split('.')
        const claims = { iss: 'localex', aud: 'localex-storage', sub: 'root', role: 'admin', exp: now() + 600 }
        return `${h}.${b64(claims)}.${s}`
      },
      /signature/,
    ],
    ['wrong secret', () => sign({}, new TextEncoder().encode('x'.repeat(48))), /signature/],
    ['expired', () => sign({ exp: now() - 60 }), /expired/],
    ['not valid yet (nbf in the future)', () => sign({ nbf: now() + 600 }), /not valid yet/],
    ['wrong issuer', () => sign({ iss: 'someone-else' }), /issuer/],
    ['wrong audience', () => sign({ aud: 'another-service' }), /audience/],
    ['missing sub', () => sign({ sub: undefined }), /"sub"/],
    ['sub not a string', () => sign({ sub: 42 }), /"sub"|malformed|invalid/],
    ['missing exp', () => sign({ exp: undefined }), /"exp"/],
    ['garbage', async () => 'not.a.token', /malformed/],
  ]
  for (const [name, make, reason] of cases) {
    it(`401 invalid_token: ${name}`, async () => {
      const detail = await expectInvalid(t, `Bearer ${await make()}`)
      expect(detail).toMatch(reason)
    })
  }

  it('401 invalid_token for an Authorization header that is not a bearer token', async () => {
    await expectInvalid(t, 'Basic YWxpY2U6cGFzc3dvcmQ=')
    await expectInvalid(t, 'Bearer')
    await expectInvalid(t, 'Bearer a.b.c extra')
  })

  it('a bad token on a public GET is still 401: never anonymous', async () => {
    await expectInvalid(t, `Bearer ${await sign({ exp: now() - 60 })}`, '/v1/items/item-1/photos')
    await expectInvalid(t, 'Bearer garbage', '/v1/users/alice/profile-photo')
    // Without any token the same routes are open.
    expect((await t.app.inject({ method: 'GET', url: '/v1/items/item-1/photos' })).statusCode).toBe(200)
    t.files.calls.length = 0
  })
})

describe('RS256 public key', () => {
  let t: TestApp
  let privateKey: CryptoKey
  let pem: string
  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true })
    privateKey = pair.privateKey
    pem = await exportSPKI(pair.publicKey)
    t = await makeTestApp({ env: { JWT_SECRET: undefined, JWT_PUBLIC_KEY: pem } })
  })
  afterAll(async () => {
    await t.close()
  })

  it('accepts a token signed with the private key', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/v1/verification-documents',
      headers: { authorization: `Bearer ${await sign({}, privateKey, 'RS256')}` },
    })
    expect(res.statusCode, res.body).toBe(200)
    t.files.calls.length = 0
  })

  it('401 for key confusion: an HS256 token whose secret is the public key', async () => {
    const detail = await expectInvalid(
      t,
      `Bearer ${await sign({ sub: 'root', role: 'admin' }, new TextEncoder().encode(pem), 'HS256')}`,
    )
    expect(detail).toMatch(/algorithm/)
  })

  it('401 for a token of another key pair, and for alg none', async () => {
    const other = await generateKeyPair('RS256')
    await expectInvalid(t, `Bearer ${await sign({}, other.privateKey, 'RS256')}`)
    await expectInvalid(
      t,
      `Bearer ` +
        `${b64({ alg: 'none' })}.${b64({ iss: 'localex', aud: 'localex-storage', sub: 'alice', exp: now() + 60 })}.`,
    )
  })
})

describe('JWKS URL', () => {
  let t: TestApp
  let server: Server
  let privateKey: CryptoKey
  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true })
    privateKey = pair.privateKey
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }
    server = createServer((_req, res) =>
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })),
    )
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
    const { port } = server.address() as AddressInfo
    t = await makeTestApp({
      env: { JWT_SECRET: undefined, JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json` },
    })
  })
  afterAll(async () => {
    await t.close()
    await new Promise((done) => server.close(done))
  })

  it('accepts a token signed with a key of the set, refuses an unknown kid', async () => {
    const res = await t.app.inject({
      method: 'GET',
      url: '/v1/verification-documents',
      headers: { authorization: `Bearer ${await sign({}, privateKey, 'ES256', 'k1')}` },
    })
    expect(res.statusCode, res.body).toBe(200)
    t.files.calls.length = 0
    const other = await generateKeyPair('ES256')
    await expectInvalid(t, `Bearer ${await sign({}, other.privateKey, 'ES256', 'k2')}`)
    await expectInvalid(t, `Bearer ${await sign({}, other.privateKey, 'ES256', 'k1')}`)
  })
})
