import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config/index.js'
import { createDiskDeliveryHandler, createDiskUploadHandler } from '../../src/http/index.js'
import { createObjectStore, verifySignedUrl, type GuardedObjectStore } from '../../src/storage/index.js'
import { DiskObjectStore } from '../../src/storage/drivers/disk/driver.js'
import { collect, expectCode, objectStoreContract, type ContractSubject } from './contract.js'

const SECRET = 'disk-test-secret-0123456789abcdef-0123456789'

interface DiskFixture extends ContractSubject {
  store: GuardedObjectStore
  dir: string
  root: string
  baseUrl: string
}

/**
 * A disk store in a fresh temp folder, with the delivery and upload handlers mounted on a bare
 * node:http server on loopback, which its publicBaseUrl points at.
 */
async function diskFixture(options: { basePath?: string } = {}): Promise<DiskFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'localex-disk-'))
  let handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> = async (_req, res) => {
    res.writeHead(503).end()
  }
  const server: Server = createServer((req, res) => void handle(req, res))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}${options.basePath ?? ''}`
  const config = loadConfig({ DATA_DIR: dir, STORAGE_DRIVER: 'disk', URL_SIGNING_SECRET: SECRET, JWT_SECRET: SECRET })
  const store = createObjectStore(config, { publicBaseUrl: baseUrl })
  const delivery = createDiskDeliveryHandler(store)
  const upload = createDiskUploadHandler(store)
  handle = async (req, res) => {
    if (await delivery(req, res)) return
    if (await upload(req, res)) return
    res.writeHead(404).end()
  }
  const root = config.storage.disk.root
  const outsideBefore = await readdir(dir)
  return {
    store,
    driver: store.driver,
    dir,
    root,
    baseUrl,
    leftovers: async () => await readdir(join(root, '.tmp')).catch(() => []),
    // The root is <dir>/storage: anything new in <dir> (or above it) escaped.
    writtenOutside: async () => (await readdir(dir)).filter((f) => !outsideBefore.includes(f) && f !== 'storage'),
    cleanup: async () => {
      await store.close()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await rm(dir, { recursive: true, force: true })
    },
  }
}

objectStoreContract('disk', diskFixture)

describe('disk driver specifics', () => {
  let f: DiskFixture
  beforeAll(async () => {
    f = await diskFixture({ basePath: '/storage' })
  })
  afterAll(async () => {
    await f?.cleanup()
  })

  it('keeps each object in one file under objects/: the bytes first, then the metadata', async () => {
    const bytes = Buffer.from('hello, disk')
    await f.store.put('items/a/photos/b/original.jpg', bytes, { contentType: 'image/jpeg', metadata: { k: 'v' } })
    const file = await readFile(join(f.root, 'objects/items/a/photos/b/original.jpg'))
    expect(file.subarray(0, bytes.length).equals(bytes)).toBe(true)
    expect(file.subarray(-4).toString()).toBe('LXO1')
    expect(file.subarray(bytes.length).toString()).toContain('"contentType":"image/jpeg"')
    expect(await readdir(join(f.root, '.tmp'))).toEqual([])
  })

  it('removes folders left empty by deletes, so listing and later writes are unaffected', async () => {
    await f.store.put('prune/x/y/z.txt', Buffer.from('z'))
    await f.store.delete('prune/x/y/z.txt')
    expect(await readdir(join(f.root, 'objects')).then((names) => names.includes('prune'))).toBe(false)
    // The key that was a folder can now be an object.
    await f.store.put('prune/x', Buffer.from('now a file'))
    expect((await f.store.getBuffer('prune/x')).toString()).toBe('now a file')
  })

  it('refuses a key that would be both an object and a folder with CONFLICT', async () => {
    await f.store.put('clash/a', Buffer.from('a'))
    await expectCode(f.store.put('clash/a/b', Buffer.from('b')), 'CONFLICT')
    await f.store.put('clash2/a/b', Buffer.from('b'))
    await expectCode(f.store.put('clash2/a', Buffer.from('a')), 'CONFLICT')
    await expectCode(f.store.put('clash2/a', Buffer.from('a'), { ifNoneMatch: true }), 'CONFLICT')
    await expectCode(f.store.copy('clash/a', 'clash2/a'), 'CONFLICT')
    expect((await f.store.getBuffer('clash2/a/b')).toString()).toBe('b')
    expect(await readdir(join(f.root, '.tmp'))).toEqual([])
  })

  it('never moves a folder of keys when asked to move a prefix', async () => {
    await f.store.put('tree/sub/file', Buffer.from('f'))
    await expectCode(f.store.move('tree/sub', 'elsewhere'), 'OBJECT_NOT_FOUND')
    expect(await f.store.exists('tree/sub/file')).toBe(true)
  })

  it('signs URLs under the base path and verifies them without a store', async () => {
    await f.store.put('docs/a b.pdf', Buffer.from('%PDF'), { contentType: 'application/pdf' })
    const url = await f.store.signedUrl('docs/a b.pdf', { expiresIn: 60, responseContentDisposition: 'attachment' })
    expect(url.startsWith(`${f.baseUrl}/files/docs/a%20b.pdf?`)).toBe(true)
    expect(verifySignedUrl(url, SECRET)).toMatchObject({
      key: 'docs/a b.pdf',
      responseContentDisposition: 'attachment',
    })
    expect(() => verifySignedUrl(url, `${SECRET}-other`)).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_INVALID' }),
    )
    expect(() => verifySignedUrl(url, SECRET, Date.now() + 120_000)).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_EXPIRED' }),
    )
  })

  it('delivery answers problem+json codes, HEAD, suffix ranges, 416 and 304', async () => {
    await f.store.put('deliver/file.txt', Buffer.from('0123456789'), {
      contentType: 'text/plain',
      cacheControl: 'private, max-age=5',
    })
    const url = await f.store.signedUrl('deliver/file.txt', { expiresIn: 60 })
    const head = await fetch(url, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers.get('content-length')).toBe('10')
    expect(head.headers.get('cache-control')).toBe('private, max-age=5')
    const suffix = await fetch(url, { headers: { Range: 'bytes=-3' } })
    expect(suffix.status).toBe(206)
    expect(suffix.headers.get('content-range')).toBe('bytes 7-9/10')
    expect(await suffix.text()).toBe('789')
    const past = await fetch(url, { headers: { Range: 'bytes=10-' } })
    expect(past.status).toBe(416)
    expect(past.headers.get('content-range')).toBe('bytes */10')
    await past.arrayBuffer()
    const etag = head.headers.get('etag') ?? ''
    const cached = await fetch(url, { headers: { 'If-None-Match': etag } })
    expect(cached.status).toBe(304)
    const bad = await fetch(url.replace(/sig=[^&]+/, 'sig=AAAA'))
    expect(bad.status).toBe(403)
    expect(bad.headers.get('content-type')).toBe('application/problem+json')
    expect(await bad.json()).toMatchObject({ status: 403, code: 'SIGNATURE_INVALID' })
    const gone = await f.store.signedUrl('deliver/missing.txt', { expiresIn: 60 })
    const missing = await fetch(gone)
    expect(missing.status).toBe(404)
    expect(await missing.json()).toMatchObject({ code: 'OBJECT_NOT_FOUND' })
    const post = await fetch(url, { method: 'POST' })
    expect(post.status).toBe(405)
    await post.arrayBuffer()
  })

  it('a presigned POST over its limit is cut off while streaming, before the body ends', async () => {
    const post = await f.store.presignedPost('direct/big.bin', {
      expiresIn: 60,
      contentLengthRange: { min: 1, max: 64 * 1024 },
    })
    const data = new FormData()
    for (const [k, v] of Object.entries(post.fields)) data.append(k, v)
    data.append('file', new Blob([randomBytes(8 * 1024 * 1024)]), 'big.bin')
    const res = await fetch(post.url, { method: 'POST', body: data })
    expect(res.status).toBe(413)
    expect(await res.json()).toMatchObject({ code: 'FILE_TOO_LARGE' })
    expect(await f.store.exists('direct/big.bin')).toBe(false)
    expect(await readdir(join(f.root, '.tmp'))).toEqual([])
  })

  it('a presigned POST under its minimum, expired, or without a file stores nothing', async () => {
    const post = await f.store.presignedPost('direct/small.bin', {
      expiresIn: 60,
      contentLengthRange: { min: 100, max: 1000 },
    })
    const send = async (fields: Record<string, string>, file?: Buffer) => {
      const data = new FormData()
      for (const [k, v] of Object.entries(fields)) data.append(k, v)
      if (file) data.append('file', new Blob([file]), 'f.bin')
      const res = await fetch(post.url, { method: 'POST', body: data })
      return { status: res.status, body: (await res.json()) as { code: string } }
    }
    expect(await send(post.fields, randomBytes(10))).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } })
    expect(await send(post.fields)).toMatchObject({ status: 400 })
    expect(await send({ ...post.fields, extra: 'x' }, randomBytes(200))).toMatchObject({
      status: 403,
      body: { code: 'SIGNATURE_INVALID' },
    })
    const expired = await f.store.presignedPost('direct/small.bin', {
      expiresIn: 1,
      contentLengthRange: { min: 0, max: 1000 },
    })
    const disk = f.store.driver as DiskObjectStore
    expect(() => disk.signer.verifyPost(expired.fields, Date.now() + 5000)).toThrow(
      expect.objectContaining({ code: 'SIGNATURE_EXPIRED' }),
    )
    expect(await f.store.exists('direct/small.bin')).toBe(false)
  })

  it('lists lazily without reading the whole tree first', async () => {
    for (let i = 0; i < 30; i++) await f.store.put(`lazy/${String(i).padStart(2, '0')}/x`, Buffer.from('x'))
    const iterator = f.store.list('lazy/')[Symbol.asyncIterator]()
    const first = await iterator.next()
    expect(first.value).toMatchObject({ key: 'lazy/00/x' })
    // A folder is read when the walk reaches it: a key written meanwhile further on shows up.
    await f.store.put('lazy/29/y', Buffer.from('y'))
    const rest: string[] = []
    for (let next = await iterator.next(); !next.done; next = await iterator.next())
      rest.push((next.value as { key: string }).key)
    expect(rest.at(-1)).toBe('lazy/29/y')
    expect(rest).toHaveLength(30)
    expect((await collect(f.store.list('lazy/', { delimiter: '/' }))).length).toBe(30)
  })

  it('ping creates and checks the root', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'localex-disk-ping-'))
    const store = new DiskObjectStore({
      root: join(dir, 'nested/root'),
      signingSecret: SECRET,
      publicBaseUrl: 'http://localhost:3000',
    })
    await store.ping()
    expect((await readdir(join(dir, 'nested/root'))).sort()).toEqual(['.tmp', 'objects'])
    await rm(dir, { recursive: true, force: true })
  })
})

describe('disk driver: BucketAdmin', () => {
  it('has only its root folder: creates it, lists no multipart uploads, refuses bucket settings', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'localex-disk-admin-'))
    const root = join(dir, 'nested/root')
    const secrets = { URL_SIGNING_SECRET: SECRET, JWT_SECRET: SECRET }
    const config = loadConfig({ DATA_DIR: dir, STORAGE_DRIVER: 'disk', STORAGE_DISK_ROOT: root, ...secrets })
    const store = createObjectStore(config)
    try {
      const admin = store.admin
      expect(admin).toMatchObject({ driver: 'disk', location: root, settings: [] })
      expect(await admin.exists()).toBe(false)
      expect(admin.describe({ name: 'bucket' })).toEqual({ operation: 'mkdir', input: { path: root, recursive: true } })
      expect(await admin.apply({ name: 'bucket' })).toEqual({ status: 'applied' })
      expect(await admin.exists()).toBe(true)
      const invalid = expect.objectContaining({ code: 'VALIDATION_FAILED' })
      expect(() => admin.describe({ name: 'cors', value: { rules: [] } })).toThrow(invalid)
      await expectCode(admin.read('versioning'), 'VALIDATION_FAILED')
      const uploads = []
      for await (const upload of admin.multipartUploads()) uploads.push(upload)
      expect(uploads).toEqual([])
      await store.put('inv/b', Buffer.from('bb'))
      await store.put('inv/a/1', Buffer.from('a'))
      expect(await collect(admin.inventory('inv/'))).toEqual([
        { key: 'inv/a/1', size: 1, lastModified: expect.any(Date) },
        { key: 'inv/b', size: 2, lastModified: expect.any(Date) },
      ])
    } finally {
      await store.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
