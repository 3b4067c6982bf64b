import { mkdtemp, rm } from 'node:fs/promises'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CreateMultipartUploadCommand, GetObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig, type Config } from '../../src/config/index.js'
import { createObjectStore, isLocalexError, type GuardedObjectStore } from '../../src/storage/index.js'
import { createTestBucket, s3ConfigEnv, s3TestEnv, type TestBucket } from '../support/s3.js'
import { expectCode, objectStoreContract, type ContractSubject } from './contract.js'

const SECRET = 's3-test-signing-secret-0123456789abcdef-0123'

/** A config for `bucket` on the test server; `env` overrides any variable. */
async function s3Config(bucket: string, env: Record<string, string> = {}): Promise<{ config: Config; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'localex-s3-'))
  const config = loadConfig({
    ...s3ConfigEnv(bucket),
    DATA_DIR: dir,
    URL_SIGNING_SECRET: SECRET,
    JWT_SECRET: SECRET,
    STORAGE_RETRY_BASE_MS: '10',
    ...env,
  })
  return { config, dir }
}

async function s3Fixture(): Promise<ContractSubject> {
  const bucket = await createTestBucket('contract')
  const { config, dir } = await s3Config(bucket.bucket)
  const store = createObjectStore(config)
  return {
    store,
    driver: store.driver,
    // Every multipart upload still open in the bucket: a failed or aborted put must leave none.
    leftovers: async () => {
      const out = await bucket.client.send(new ListMultipartUploadsCommand({ Bucket: bucket.bucket }))
      return (out.Uploads ?? []).map((u) => `${u.Key ?? ''} (${u.UploadId ?? ''})`)
    },
    cleanup: async () => {
      await store.close()
      await bucket.cleanup()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

objectStoreContract('s3', s3Fixture)

/**
 * A TCP proxy in front of radosgw that destroys the first `failFirst` connections as soon as they
 * are accepted (all of them with `Infinity`), then forwards. `connections` counts what it saw:
 * with a fresh store each attempt of a request opens a new connection.
 */
async function flakyProxy(
  failFirst: number,
): Promise<{ endpoint: string; connections: () => number; close: () => Promise<void> }> {
  const target = new URL(s3TestEnv().endpoint)
  let seen = 0
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    seen++
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    if (seen <= failFirst) {
      socket.resetAndDestroy()
      return
    }
    const upstream = createConnection(Number(target.port), target.hostname)
    sockets.add(upstream)
    upstream.on('close', () => sockets.delete(upstream))
    upstream.on('error', () => socket.destroy())
    socket.on('close', () => upstream.destroy())
    upstream.on('close', () => socket.destroy())
    socket.pipe(upstream).pipe(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => seen,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

describe('s3 driver specifics', () => {
  let bucket: TestBucket
  const dirs: string[] = []
  beforeAll(async () => {
    bucket = await createTestBucket('s3-driver')
  })
  afterAll(async () => {
    await bucket?.cleanup()
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  async function storeVia(endpoint: string, env: Record<string, string> = {}): Promise<GuardedObjectStore> {
    const { config, dir } = await s3Config(bucket.bucket, { S3_ENDPOINT: endpoint, ...env })
    dirs.push(dir)
    return createObjectStore(config)
  }

  it('retries through connections that fail, then succeeds', async () => {
    const proxy = await flakyProxy(2)
    const store = await storeVia(proxy.endpoint, { STORAGE_MAX_ATTEMPTS: '4', STORAGE_RETRY_BASE_MS: '5' })
    try {
      await store.put('retry/put.txt', Buffer.from('made it'), { contentType: 'text/plain' })
      expect(proxy.connections()).toBeGreaterThanOrEqual(3)
      expect((await store.getBuffer('retry/put.txt')).toString()).toBe('made it')
    } finally {
      await store.close()
      await proxy.close()
    }
  })

  it('gives up with STORE_UNAVAILABLE after exactly maxAttempts when the store never answers', async () => {
    const proxy = await flakyProxy(Infinity)
    const store = await storeVia(proxy.endpoint, { STORAGE_MAX_ATTEMPTS: '3', STORAGE_RETRY_BASE_MS: '5' })
    try {
      const error = await store.head('retry/anything').catch((e: unknown) => e)
      expect(error).toMatchObject({
        code: 'STORE_UNAVAILABLE',
        retryable: true,
        details: { key: 'retry/anything', attempts: 3 },
      })
      expect(proxy.connections()).toBe(3)
      const putError = await store.put('retry/put', Buffer.from('x')).catch((e: unknown) => e)
      expect(putError).toMatchObject({ code: 'STORE_UNAVAILABLE', details: { attempts: 3 } })
      expect(proxy.connections()).toBe(6)
      await expectCode(store.ping(), 'STORE_UNAVAILABLE')
      expect(proxy.connections()).toBe(9)
    } finally {
      await store.close()
      await proxy.close()
    }
  })

  it('stops retrying when aborted during the backoff', async () => {
    const proxy = await flakyProxy(Infinity)
    const store = await storeVia(proxy.endpoint, { STORAGE_MAX_ATTEMPTS: '10', STORAGE_RETRY_BASE_MS: '2000' })
    try {
      // Stopped short of its ten attempts; that the backoff sleep itself ends on the abort is
      // pinned on a still clock in retry.test.ts.
      await expectCode(store.head('retry/x', { signal: AbortSignal.timeout(300) }), 'ABORTED')
      expect(proxy.connections()).toBeLessThan(10)
    } finally {
      await store.close()
      await proxy.close()
    }
  })

  it('never retries a refusal (4xx), and keeps secrets out of the error', async () => {
    const proxy = await flakyProxy(0)
    const wrongSecret = 'wrong-secret-key-that-must-not-leak-0123456789'
    const store = await storeVia(proxy.endpoint, { AWS_SECRET_ACCESS_KEY: wrongSecret, STORAGE_MAX_ATTEMPTS: '4' })
    try {
      const error = await store.put('denied/x', Buffer.from('x')).catch((e: unknown) => e)
      expect(error).toMatchObject({ code: 'STORE_ACCESS_DENIED', details: { key: 'denied/x' } })
      expect(proxy.connections()).toBe(1)
      const shown = isLocalexError(error) ? `${error.message} ${JSON.stringify(error.toJSON())}` : ''
      expect(shown).not.toContain(wrongSecret)
      expect(shown).not.toContain(s3TestEnv().accessKeyId)
    } finally {
      await store.close()
      await proxy.close()
    }
  })

  it('ping reports a missing bucket as STORE_ERROR', async () => {
    const { config, dir } = await s3Config('no-such-bucket-localex-test')
    dirs.push(dir)
    const store = createObjectStore(config)
    try {
      await expectCode(store.ping(), 'STORE_ERROR')
      await expectCode(store.put('x', Buffer.from('x')), 'STORE_ERROR')
    } finally {
      await store.close()
    }
  })

  it('works on an injected client and leaves it open on close', async () => {
    const { config, dir } = await s3Config(bucket.bucket)
    dirs.push(dir)
    const store = createObjectStore(config, { s3Client: bucket.client })
    await store.put('injected/a.txt', Buffer.from('via the caller’s client'))
    await store.close()
    const out = await bucket.client.send(new GetObjectCommand({ Bucket: bucket.bucket, Key: 'injected/a.txt' }))
    expect(await out.Body?.transformToString()).toBe('via the caller’s client')
  })

  it('uploads a buffer above the multipart threshold in parts, with the ETag HeadObject reports', async () => {
    const store = await storeVia(s3TestEnv().endpoint)
    try {
      const bytes = Buffer.alloc(11 * 1024 * 1024, 7)
      const events: number[] = []
      const put = await store.put('multipart/buffer.bin', bytes, { onProgress: (e) => events.push(e.loaded) })
      // A multipart ETag is the MD5 of the part MD5s, with the part count.
      expect(put.etag).toMatch(/^"[0-9a-f]{32}-3"$/)
      expect((await store.head('multipart/buffer.bin')).etag).toBe(put.etag)
      expect(events.at(-1)).toBe(bytes.length)
      expect(
        (await store.getBuffer('multipart/buffer.bin', { range: { start: 11 * 1024 * 1024 - 3 } })).equals(
          Buffer.alloc(3, 7),
        ),
      ).toBe(true)
    } finally {
      await store.close()
    }
  })
})

describe('s3 driver: BucketAdmin on radosgw', () => {
  let bucket: TestBucket
  let store: GuardedObjectStore
  const dirs: string[] = []
  beforeAll(async () => {
    bucket = await createTestBucket('s3-admin')
    const { config, dir } = await s3Config(bucket.bucket)
    dirs.push(dir)
    store = createObjectStore(config)
  })
  afterAll(async () => {
    await store?.close()
    await bucket?.cleanup()
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it('tells whether the bucket exists, and describes its creation without sending it', async () => {
    expect(store.admin).toMatchObject({ driver: 's3', location: bucket.bucket })
    expect(store.admin.settings).toEqual(['public_access_block', 'encryption', 'versioning', 'cors', 'lifecycle'])
    expect(await store.admin.exists()).toBe(true)
    const { config, dir } = await s3Config(`${bucket.bucket.slice(0, 40)}-absent`)
    dirs.push(dir)
    const absent = createObjectStore(config)
    try {
      expect(await absent.admin.exists()).toBe(false)
      // An endpoint (an S3-compatible store) takes no LocationConstraint.
      const create = { operation: 'CreateBucket', input: { Bucket: config.storage.s3.bucket } }
      expect(absent.admin.describe({ name: 'bucket' })).toEqual(create)
      expect(await absent.admin.exists()).toBe(false)
    } finally {
      await absent.close()
    }
  })

  it('reads a setting never set as its "none", applies a wanted state, reads it back, and removes it', async () => {
    const admin = store.admin
    expect(await admin.read('cors')).toEqual({ rules: [] })
    expect(await admin.read('lifecycle')).toEqual({ rules: [] })
    expect(await admin.read('versioning')).toEqual({ status: 'unversioned' })

    const cors = {
      id: 'pages',
      allowedOrigins: ['https://a.example'],
      allowedMethods: ['GET', 'PUT'],
      allowedHeaders: ['*'],
      exposeHeaders: ['ETag'],
      maxAgeSeconds: 60,
    }
    expect(admin.describe({ name: 'cors', value: { rules: [cors] } })).toEqual({
      operation: 'PutBucketCors',
      input: {
        Bucket: bucket.bucket,
        CORSConfiguration: {
          CORSRules: [
            {
              ID: 'pages',
              AllowedOrigins: ['https://a.example'],
              AllowedMethods: ['GET', 'PUT'],
              AllowedHeaders: ['*'],
              ExposeHeaders: ['ETag'],
              MaxAgeSeconds: 60,
            },
          ],
        },
      },
    })
    expect(await admin.apply({ name: 'cors', value: { rules: [cors] } })).toEqual({ status: 'applied' })
    expect(await admin.read('cors')).toEqual({ rules: [cors] })

    const rule = { id: 'expire-temp', prefix: 'temp/', enabled: true, expirationDays: 2 }
    expect(await admin.apply({ name: 'lifecycle', value: { rules: [rule] } })).toEqual({ status: 'applied' })
    expect(await admin.read('lifecycle')).toEqual({ rules: [rule] })

    expect(await admin.apply({ name: 'versioning', value: { status: 'enabled' } })).toEqual({ status: 'applied' })
    expect(await admin.read('versioning')).toEqual({ status: 'enabled' })
    const invalid = expect.objectContaining({ code: 'VALIDATION_FAILED' })
    expect(() => admin.describe({ name: 'versioning', value: { status: 'unversioned' } })).toThrow(invalid)

    // "None" is a removal: S3 refuses an empty rule set.
    const deletion = { operation: 'DeleteBucketCors', input: { Bucket: bucket.bucket } }
    expect(admin.describe({ name: 'cors', value: { rules: [] } })).toEqual(deletion)
    expect(await admin.apply({ name: 'cors', value: { rules: [] } })).toEqual({ status: 'applied' })
    expect(await admin.read('cors')).toEqual({ rules: [] })
    expect(await admin.apply({ name: 'lifecycle', value: { rules: [] } })).toEqual({ status: 'applied' })
    expect(await admin.read('lifecycle')).toEqual({ rules: [] })
  })

  it('reports what the store refuses as an outcome with its code, and an auth failure as an error', async () => {
    // radosgw 16 has no SSE-S3: PutBucketEncryption is answered 400 InvalidArgument.
    const outcome = await store.admin.apply({ name: 'encryption', value: { algorithm: 'AES256' } })
    expect(outcome).toMatchObject({ status: 'refused', code: 'InvalidArgument' })
    const wrongSecret = 'wrong-secret-key-0123456789abcdef'
    const { config, dir } = await s3Config(bucket.bucket, { AWS_SECRET_ACCESS_KEY: wrongSecret })
    dirs.push(dir)
    const denied = createObjectStore(config)
    try {
      await expectCode(denied.admin.apply({ name: 'cors', value: { rules: [] } }), 'STORE_ACCESS_DENIED')
      await expectCode(denied.admin.exists(), 'STORE_ACCESS_DENIED')
    } finally {
      await denied.close()
    }
  })

  it('lists open multipart uploads with their start, and aborts one', async () => {
    const key = 'admin/multipart.bin'
    const started = await bucket.client.send(new CreateMultipartUploadCommand({ Bucket: bucket.bucket, Key: key }))
    const open = []
    for await (const upload of store.admin.multipartUploads()) open.push(upload)
    expect(open).toEqual([{ key, uploadId: started.UploadId, initiated: expect.any(Date) }])
    await store.admin.abortMultipartUpload(open[0] as (typeof open)[number])
    const after = []
    for await (const upload of store.admin.multipartUploads()) after.push(upload)
    expect(after).toEqual([])
  })

  it('takes its inventory from the listing: objects only, in key order', async () => {
    await store.put('inventory/b/1', Buffer.from('bb'))
    await store.put('inventory/a', Buffer.from('a'))
    const seen = []
    for await (const entry of store.admin.inventory('inventory/', { pageSize: 1 })) seen.push(entry)
    expect(seen).toEqual([
      { key: 'inventory/a', size: 1, lastModified: expect.any(Date) },
      { key: 'inventory/b/1', size: 2, lastModified: expect.any(Date) },
    ])
  })

  it('sends its requests under the driver’s retry policy', async () => {
    const proxy = await flakyProxy(2)
    const env = { S3_ENDPOINT: proxy.endpoint, STORAGE_MAX_ATTEMPTS: '4', STORAGE_RETRY_BASE_MS: '5' }
    const { config, dir } = await s3Config(bucket.bucket, env)
    dirs.push(dir)
    const flaky = createObjectStore(config)
    try {
      expect(await flaky.admin.exists()).toBe(true)
      expect(proxy.connections()).toBeGreaterThanOrEqual(3)
    } finally {
      await flaky.close()
      await proxy.close()
    }
  })
})
