import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { configurationDoc } from '../../scripts/config-table.js'
import { ensureGeneratedSecrets, loadConfig, redactConfig, SETTINGS } from '../../src/config/index.js'
import { isLocalexError } from '../../src/errors/index.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'localex-config-'))
  // The embedded default, as the CLI prepares it: no secret configured, both generated.
  ensureGeneratedSecrets({ DATA_DIR: dir })
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

function configError(env: Record<string, string>): string {
  try {
    loadConfig({ DATA_DIR: dir, ...env })
  } catch (error) {
    if (isLocalexError(error, 'CONFIG_INVALID')) return error.message
    throw error
  }
  throw new Error('expected CONFIG_INVALID')
}

describe('loadConfig', () => {
  it('gives the embedded default with no configuration: disk store, SQLite, in-process queue', () => {
    const config = loadConfig({ DATA_DIR: dir })
    expect(config.storage.driver).toBe('disk')
    expect(config.storage.disk.root).toBe(join(dir, 'storage'))
    expect(config.db.url).toBeUndefined()
    expect(config.db.sqlitePath).toBe(join(dir, 'meta.sqlite'))
    expect(config.queue.redisUrl).toBeUndefined()
    expect(config.queue.serveWorkers).toBe(1)
    expect(config.storage.s3).toMatchObject({
      bucket: 'localex-storage',
      region: 'us-east-1',
      multipartThreshold: 5 * 1024 * 1024,
      partSize: 5 * 1024 * 1024,
    })
    expect(config.images).toMatchObject({
      maxBytes: 10 * 1024 * 1024,
      quality: 85,
      webp: true,
      stripMetadata: true,
      maxSide: 4000,
    })
    expect(config.images.variants.map((v) => [v.name, v.size])).toEqual([
      ['thumbnail', 300],
      ['medium', 800],
      ['large', 1200],
    ])
  })

  it('selects the s3 driver when a bucket is configured, and takes sizes and durations with units', () => {
    const config = loadConfig({
      DATA_DIR: dir,
      S3_BUCKET: 'photos-prod',
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_FORCE_PATH_STYLE: 'true',
      MAX_FILE_SIZE: '2MB',
      PRIVATE_URL_TTL: '90s',
    })
    expect(config.storage.driver).toBe('s3')
    expect(config.storage.s3).toMatchObject({
      bucket: 'photos-prod',
      endpoint: 'http://127.0.0.1:9000',
      forcePathStyle: true,
    })
    expect(config.storage.s3.credentials).toBeUndefined() // the SDK's default chain decides
    expect(config.images.maxBytes).toBe(2_000_000)
    expect(config.files.privateUrlTtlMs).toBe(90_000)
  })

  it('names every invalid variable and what was expected', () => {
    const message = configError({
      MAX_FILE_SIZE: 'ten',
      PORT: '70000',
      S3_BUCKET: 'Not_A_Bucket',
      S3_FORCE_PATH_STYLE: 'maybe',
    })
    expect(message).toMatch(/MAX_FILE_SIZE: expected a byte size/)
    expect(message).toMatch(/PORT: .*65535/)
    expect(message).toMatch(/S3_BUCKET: expected an S3 bucket name/)
    expect(message).toMatch(/S3_FORCE_PATH_STYLE: expected true or false/)
  })

  it('checks settings that only make sense together', () => {
    expect(configError({ AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' })).toMatch(/AWS_SECRET_ACCESS_KEY: required/)
    expect(configError({ CDN_PROVIDER: 'cloudfront' })).toMatch(/CLOUDFRONT_DISTRIBUTION_ID: required/)
    expect(configError({ S3_PART_SIZE: '1MB' })).toMatch(/S3_PART_SIZE: expected at least 5MiB/)
    expect(configError({ PRIVATE_URL_TTL: '10m' })).toMatch(/PRIVATE_URL_TTL: private URLs live at most 5 minutes/)
  })

  it('never shows the value of a secret, in errors or in the printable config', () => {
    const message = configError({ JWT_SECRET: 'short-secret-value' })
    expect(message).toMatch(/JWT_SECRET: expected at least 32 characters/)
    expect(message).not.toContain('short-secret-value')
    const config = loadConfig({
      DATA_DIR: dir,
      S3_BUCKET: 'b-ucket',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEY',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      DATABASE_URL: 'postgres://app:hunter2-pw@db.internal:5432/localex',
    })
    const printed = JSON.stringify(redactConfig(config))
    for (const secret of [
      'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      'hunter2-pw',
      config.storage.signingSecret,
      config.auth.secret as string,
    ]) {
      expect(printed).not.toContain(secret)
    }
    expect(printed).toContain('postgres://app:[redacted]@db.internal:5432/localex')
  })

  it('redacts connection URLs by parsing them: a password without a user, and in the query', () => {
    const config = loadConfig({
      DATA_DIR: dir,
      REDIS_URL: 'redis://:r3dis-Secret@cache.internal:6379/0',
      DATABASE_URL: 'postgresql://db.internal/localex?user=app&password=pg-Secret%21&sslmode=require',
    })
    const printed = JSON.stringify(redactConfig(config))
    expect(printed).not.toContain('r3dis-Secret')
    expect(printed).not.toContain('pg-Secret')
    expect(printed).toContain('redis://:[redacted]@cache.internal:6379/0')
    expect(printed).toContain('postgresql://db.internal/localex?user=app&password=[redacted]&sslmode=require')
  })

  it('is frozen all the way down', () => {
    const config = loadConfig({ DATA_DIR: dir })
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.storage.s3)).toBe(true)
    expect(Object.isFrozen(config.images.variants[0])).toBe(true)
    expect(() => {
      ;(config.images as { quality: number }).quality = 10
    }).toThrow(TypeError)
  })

  it('generates missing secrets once under DATA_DIR (mode 0600) so every process agrees', async () => {
    const home = join(dir, 'generated')
    expect(ensureGeneratedSecrets({ DATA_DIR: home })).toEqual({
      file: join(home, 'secrets.json'),
      generated: ['URL_SIGNING_SECRET', 'JWT_SECRET'],
    })
    const written = await stat(join(home, 'secrets.json'))
    expect(ensureGeneratedSecrets({ DATA_DIR: home }).generated).toEqual([])
    expect((await stat(join(home, 'secrets.json'))).mtimeMs).toBe(written.mtimeMs)
    const first = loadConfig({ DATA_DIR: home })
    const second = loadConfig({ DATA_DIR: home })
    expect(first.storage.signingSecret).toHaveLength(43)
    expect(second.storage.signingSecret).toBe(first.storage.signingSecret)
    expect(second.auth.secret).toBe(first.auth.secret)
    expect((await stat(join(home, 'secrets.json'))).mode & 0o777).toBe(0o600)
    expect(JSON.parse(await readFile(join(home, 'secrets.json'), 'utf8'))).toHaveProperty(
      'JWT_SECRET',
      first.auth.secret,
    )
    expect(() => loadConfig({ DATA_DIR: join(dir, 'fresh') }, { secrets: 'require' })).toThrow(
      /URL_SIGNING_SECRET: required/,
    )
  })

  it('writes nothing: a secret neither configured nor generated is a CONFIG_INVALID that says how to get one', () => {
    const home = join(dir, 'untouched')
    const message = configError({ DATA_DIR: home })
    expect(message).toMatch(
      new RegExp(
        'URL_SIGNING_SECRET: required .*set it, or generate it into .*untouched/secrets\\.json ' +
          'by running `localex-storage serve`',
      ),
    )
    expect(message).toMatch(/JWT_SECRET: required .*ensureGeneratedSecrets\(env\)/)
    // With tokens verified by a public key, only the URL signing secret is needed.
    expect(configError({ DATA_DIR: home, JWKS_URL: 'https://idp.example/jwks' })).not.toMatch(/JWT_SECRET/)
    const configured = loadConfig({ DATA_DIR: home, URL_SIGNING_SECRET: 'u'.repeat(32), JWT_SECRET: 'j'.repeat(32) })
    expect(configured.auth.secret).toBe('j'.repeat(32))
    expect(existsSync(home)).toBe(false)
  })

  it('ensureGeneratedSecrets writes nothing when the secrets are configured or the configuration is invalid', () => {
    const home = join(dir, 'not-needed')
    expect(
      ensureGeneratedSecrets({ DATA_DIR: home, URL_SIGNING_SECRET: 'u'.repeat(32), JWT_SECRET: 'j'.repeat(32) })
        .generated,
    ).toEqual([])
    expect(
      ensureGeneratedSecrets({ DATA_DIR: home, URL_SIGNING_SECRET: 'u'.repeat(32), JWT_PUBLIC_KEY: 'pem' }).generated,
    ).toEqual([])
    expect(() => ensureGeneratedSecrets({ DATA_DIR: home, PORT: 'eighty' })).toThrow(/PORT: /)
    expect(() => ensureGeneratedSecrets({ DATA_DIR: home, NODE_ENV: 'production', DEV_TOKENS: 'true' })).toThrow(
      /DEV_TOKENS: "true" is not allowed/,
    )
    expect(existsSync(home)).toBe(false)
  })

  it('adds a secret the file lacks and keeps what it holds', async () => {
    const home = join(dir, 'partial')
    expect(ensureGeneratedSecrets({ DATA_DIR: home, JWKS_URL: 'https://idp.example/jwks' }).generated).toEqual([
      'URL_SIGNING_SECRET',
    ])
    const before = JSON.parse(await readFile(join(home, 'secrets.json'), 'utf8')) as Record<string, string>
    expect(ensureGeneratedSecrets({ DATA_DIR: home }).generated).toEqual(['JWT_SECRET'])
    const after = JSON.parse(await readFile(join(home, 'secrets.json'), 'utf8')) as Record<string, string>
    expect(after.URL_SIGNING_SECRET).toBe(before.URL_SIGNING_SECRET)
    expect(after.JWT_SECRET).toHaveLength(43)
    expect((await stat(join(home, 'secrets.json'))).mode & 0o777).toBe(0o600)
    expect((await readdir(home)).sort()).toEqual(['secrets.json']) // no temp file left behind
  })

  it('refuses an unreadable secrets file instead of replacing it', async () => {
    const home = join(dir, 'broken')
    ensureGeneratedSecrets({ DATA_DIR: home })
    await writeFile(join(home, 'secrets.json'), '{ not json')
    expect(() => ensureGeneratedSecrets({ DATA_DIR: home })).toThrow(
      /Cannot read generated secrets at .*broken\/secrets\.json/,
    )
    expect(() => loadConfig({ DATA_DIR: home })).toThrow(/Cannot read generated secrets/)
    expect(await readFile(join(home, 'secrets.json'), 'utf8')).toBe('{ not json')
  })

  it('processes starting together on an empty DATA_DIR generate one set of secrets', async () => {
    const home = join(dir, 'together')
    const gate = join(dir, 'together.go')
    const module = new URL('../../src/config/index.ts', import.meta.url).href
    // Each process waits at the gate, so that all of them generate at the same moment.
    const code = [
      "import { existsSync } from 'node:fs'",
      `const { ensureGeneratedSecrets, loadConfig } = await import(${JSON.stringify(module)})`,
      "process.stdout.write('ready\\n')",
      `while (!existsSync(${JSON.stringify(gate)})) await new Promise((r) => setTimeout(r, 2))`,
      `const env = { DATA_DIR: ${JSON.stringify(home)} }`,
      'ensureGeneratedSecrets(env)',
      'const config = loadConfig(env)',
      'process.stdout.write(JSON.stringify([config.storage.signingSecret, config.auth.secret]) + "\\n")',
    ].join('\n')
    const children = Array.from({ length: 4 }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      let out = ''
      const ready = new Promise<void>((resolve) =>
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString()
          if (out.startsWith('ready\n')) resolve()
        }),
      )
      const done = new Promise<string>((resolve, reject) =>
        child.once('exit', (status) =>
          status === 0 ? resolve(out.slice('ready\n'.length).trim()) : reject(new Error(`exit ${status}`)),
        ),
      )
      return { ready, done }
    })
    await Promise.all(children.map((c) => c.ready))
    await writeFile(gate, '')
    const results = await Promise.all(children.map((c) => c.done))
    expect(new Set(results).size).toBe(1)
    const stored = JSON.parse(await readFile(join(home, 'secrets.json'), 'utf8')) as Record<string, string>
    expect(JSON.parse(results[0] as string)).toEqual([stored.URL_SIGNING_SECRET, stored.JWT_SECRET])
    expect((await stat(join(home, 'secrets.json'))).mode & 0o777).toBe(0o600)
    expect(await readdir(home)).toEqual(['secrets.json'])
  }, 60_000)
})

describe('docs/configuration.md', () => {
  it('is what `npm run docs:config` generates from the section schemas', async () => {
    const page = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8')
    expect(page, 'docs/configuration.md is out of date: run npm run docs:config').toBe(configurationDoc())
  })

  it('documents every variable', async () => {
    const page = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8')
    for (const name of Object.keys(SETTINGS)) expect(page, name).toContain(`| \`${name}\` |`)
  })
})
