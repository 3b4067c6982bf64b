import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig, redactConfig, SETTINGS } from '../../src/config/index.js'
import { isLocalexError } from '../../src/errors/index.js'

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'localex-config-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

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
    expect(config.storage.s3).toMatchObject({ bucket: 'localex-storage', region: 'us-east-1', multipartThreshold: 5 * 1024 * 1024, partSize: 5 * 1024 * 1024 })
    expect(config.images).toMatchObject({ maxBytes: 10 * 1024 * 1024, quality: 85, webp: true, stripMetadata: true, maxSide: 4000 })
    expect(config.images.variants.map((v) => [v.name, v.size])).toEqual([['thumbnail', 300], ['medium', 800], ['large', 1200]])
  })

  it('selects the s3 driver when a bucket is configured, and takes sizes and durations with units', () => {
    const config = loadConfig({ DATA_DIR: dir, S3_BUCKET: 'photos-prod', S3_ENDPOINT: 'http://127.0.0.1:9000', S3_FORCE_PATH_STYLE: 'true', MAX_FILE_SIZE: '2MB', PRIVATE_URL_TTL: '90s' })
    expect(config.storage.driver).toBe('s3')
    expect(config.storage.s3).toMatchObject({ bucket: 'photos-prod', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true })
    expect(config.storage.s3.credentials).toBeUndefined() // the SDK's default chain decides
    expect(config.images.maxBytes).toBe(2_000_000)
    expect(config.files.privateUrlTtlMs).toBe(90_000)
  })

  it('names every invalid variable and what was expected', () => {
    const message = configError({ MAX_FILE_SIZE: 'ten', PORT: '70000', S3_BUCKET: 'Not_A_Bucket', S3_FORCE_PATH_STYLE: 'maybe' })
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
    const config = loadConfig({ DATA_DIR: dir, S3_BUCKET: 'b-ucket', AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEY', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', DATABASE_URL: 'postgres://app:hunter2-pw@db.internal:5432/localex' })
    const printed = JSON.stringify(redactConfig(config))
    for (const secret of ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'hunter2-pw', config.storage.signingSecret, config.auth.secret as string]) {
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
    expect(() => { (config.images as { quality: number }).quality = 10 }).toThrow(TypeError)
  })

  it('generates missing secrets once under DATA_DIR (mode 0600) so every process agrees', async () => {
    const first = loadConfig({ DATA_DIR: dir })
    const second = loadConfig({ DATA_DIR: dir })
    expect(first.storage.signingSecret).toHaveLength(43)
    expect(second.storage.signingSecret).toBe(first.storage.signingSecret)
    expect(second.auth.secret).toBe(first.auth.secret)
    expect((await stat(join(dir, 'secrets.json'))).mode & 0o777).toBe(0o600)
    expect(JSON.parse(await readFile(join(dir, 'secrets.json'), 'utf8'))).toHaveProperty('JWT_SECRET', first.auth.secret)
    expect(() => loadConfig({ DATA_DIR: join(dir, 'fresh') }, { secrets: 'require' })).toThrow(/URL_SIGNING_SECRET: required/)
  })

  it('is documented: every variable appears in the README configuration table', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8')
    for (const name of Object.keys(SETTINGS)) expect(readme, name).toContain(`| \`${name}\` |`)
  })
})
