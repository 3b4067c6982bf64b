import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { token } from '../../src/cli/commands/token.js'
import { makeTestApp, type TestApp } from './support/app.js'

function capture(): { stream: Writable; text: () => string } {
  let out = ''
  return {
    stream: new Writable({
      write(chunk, _enc, done) {
        out += String(chunk)
        done()
      },
    }),
    text: () => out,
  }
}

async function runToken(
  env: Record<string, string | undefined>,
  values: Record<string, string | boolean | undefined>,
): Promise<{ code: number; stdout: string }> {
  const stdout = capture()
  const stderr = capture()
  const code = await token.run({
    env,
    values,
    positionals: [],
    stdout: stdout.stream,
    stderr: stderr.stream,
    signal: new AbortController().signal,
  })
  return { code, stdout: stdout.text() }
}

describe('localex-storage token', () => {
  let t: TestApp
  let env: Record<string, string>
  beforeAll(async () => {
    // As in the embedded default: no JWT_SECRET configured, one is generated into DATA_DIR.
    t = await makeTestApp({ env: { JWT_SECRET: undefined } })
    env = { DATA_DIR: t.dir, URL_SIGNING_SECRET: 'test-url-signing-secret-long-enough-0123456789' }
  })
  afterAll(async () => {
    await t.close()
  })

  it('prints only the token, and the service (same DATA_DIR) accepts it', async () => {
    const { code, stdout } = await runToken(env, { user: 'alice', ttl: '1h' })
    expect(code).toBe(0)
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/)
    const res = await t.app.inject({
      method: 'GET',
      url: '/v1/verification-documents',
      headers: { authorization: `Bearer ${stdout.trim()}` },
    })
    expect(res.statusCode, res.body).toBe(200)
    expect(t.files.calls.at(-1)?.actor).toEqual({ id: 'alice', role: 'user' })
  })

  it('--admin marks the token as an admin one; --ttl sets exp', async () => {
    const { stdout } = await runToken(env, { user: 'root', admin: true, ttl: '90s' })
    const payload = JSON.parse(Buffer.from(stdout.trim().split('.')[1] ?? '', 'base64url').toString()) as Record<
      string,
      unknown
    >
    expect(payload).toMatchObject({ sub: 'root', role: 'admin', iss: 'localex', aud: 'localex-storage' })
    expect(Number(payload.exp) - Number(payload.iat)).toBe(90)
    await t.app.inject({
      method: 'GET',
      url: '/v1/verification-documents?userId=bob',
      headers: { authorization: `Bearer ${stdout.trim()}` },
    })
    expect(t.files.calls.at(-1)?.actor).toEqual({ id: 'root', role: 'admin' })
  })

  it('refuses a missing or unsafe --user and a bad --ttl', async () => {
    await expect(runToken(env, { ttl: '1h' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
    await expect(runToken(env, { user: '../x', ttl: '1h' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
    await expect(runToken(env, { user: 'alice', ttl: 'soon' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' })
  })

  it('explains that a public-key deployment cannot mint tokens', async () => {
    await expect(
      runToken(
        { ...env, JWT_PUBLIC_KEY: '-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----' },
        { user: 'alice', ttl: '1h' },
      ),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID' })
  })
})
