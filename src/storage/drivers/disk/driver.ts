import { createHash, randomUUID } from 'node:crypto'
import {
  copyFile,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  rmdir,
  unlink,
  type FileHandle,
} from 'node:fs/promises'
import { dirname, join, resolve, sep } from 'node:path'
import { Readable, Transform, Writable, addAbortSignal } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { LocalexError, isLocalexError, type ErrorCode } from '../../../errors/index.js'
import { abortedError, mapLimit, throwIfAborted } from '../../../lib/index.js'
import type { BucketAdmin } from '../../bucket-admin.js'
import { assertSafeKey, assertSafePrefix } from '../../keys.js'
import { presignSeconds, validateLengthRange, validateRange } from '../../options.js'
import { ByteCounter, compareKeys } from '../../streams.js'
import type {
  DeleteManyResult,
  GetOptions,
  GetStreamResult,
  IoOptions,
  ListEntry,
  ListOptions,
  ObjectHead,
  ObjectStore,
  PresignedPost,
  PresignedPostOptions,
  PresignedPutOptions,
  PresignedPutResult,
  PutResult,
  SignedUrlOptions,
  StoreCapabilities,
} from '../../types.js'
import { DiskBucketAdmin } from './admin.js'
import { encodeTrailer, readTrailer, type StoredMeta } from './format.js'
import { DiskUrlSigner } from './signing.js'
import type { DiskDriverOptions, DiskPutOptions } from './types.js'

export type { DiskDriverOptions, DiskPutOptions } from './types.js'

/** Files one deleteMany removes at once. */
const DELETE_CONCURRENCY = 16
/** Commits retried when a concurrent delete removed the parent folder between mkdir and rename. */
const COMMIT_ATTEMPTS = 5
/** Progress is reported at most once per this many bytes (and at the end). */
const PROGRESS_STEP = 1024 * 1024

/**
 * The embedded `disk` driver. Layout under `root`:
 *
 *     objects/<key>    one file per object: its bytes, then its metadata (see format.ts)
 *     .tmp/<uuid>      writes in progress; renamed into objects/ when complete, removed on failure
 *
 * A key is a path below objects/, checked twice: by the key module (no `..`, no absolute path, no
 * NUL or control characters, no backslash) and by resolving it and requiring the result to stay
 * under objects/. Folders are created on write and removed when their last object goes. Unlike
 * S3, one key cannot be both an object and a folder of other keys (`a` and `a/b`): such a write
 * fails with CONFLICT. Listing walks objects/ only, so temp files are never seen.
 */
export class DiskObjectStore implements ObjectStore {
  readonly name = 'disk' as const
  readonly capabilities: StoreCapabilities = { conditionalPut: true, directUpload: false }
  readonly root: string
  readonly signer: DiskUrlSigner
  readonly admin: BucketAdmin

  readonly #objects: string
  readonly #tmp: string
  readonly #durable: boolean
  #ready: Promise<void> | undefined

  constructor(options: DiskDriverOptions) {
    this.root = resolve(options.root)
    this.#objects = join(this.root, 'objects')
    this.#tmp = join(this.root, '.tmp')
    this.#durable = options.durable ?? true
    this.signer = new DiskUrlSigner(options.signingSecret, options.publicBaseUrl)
    this.admin = new DiskBucketAdmin({
      root: this.root,
      list: (prefix, listOptions) => this.list(prefix, listOptions),
      mapError: (error, op, signal) => this.#map(error, op, undefined, signal),
    })
  }

  async put(key: string, body: Buffer | Uint8Array | Readable, options: DiskPutOptions = {}): Promise<PutResult> {
    const path = this.#path(key)
    throwIfAborted(options.signal)
    await this.#ensureDirs()
    const tmp = join(this.#tmp, randomUUID())
    let handle: FileHandle | undefined
    try {
      handle = await open(tmp, 'wx', 0o644)
      const hash = createHash('md5')
      const total = Buffer.isBuffer(body) || body instanceof Uint8Array ? body.byteLength : options.contentLength
      let reported = 0
      const counter = new ByteCounter({
        expected: total,
        max: options.limits?.max,
        min: options.limits?.min,
        onBytes: (loaded) => {
          if (options.onProgress && loaded - reported >= PROGRESS_STEP) {
            reported = loaded
            options.onProgress({ loaded, total })
          }
        },
      })
      const hasher = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          hash.update(chunk)
          callback(null, chunk)
        },
      })
      const source =
        body instanceof Readable
          ? body
          : Readable.from([Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength)])
      const sink = fileSink(handle)
      await pipeline(source, counter, hasher, sink, ...(options.signal ? [{ signal: options.signal }] : []))
      const meta: StoredMeta = {
        v: 1,
        size: counter.bytes,
        etag: `"${hash.digest('hex')}"`,
        contentType: options.contentType ?? 'application/octet-stream',
        cacheControl: options.cacheControl,
        contentDisposition: options.contentDisposition,
        metadata: { ...(options.metadata ?? {}) },
        lastModified: new Date().toISOString(),
      }
      const trailer = encodeTrailer(meta)
      await handle.write(trailer, 0, trailer.length, meta.size)
      if (this.#durable) await handle.sync()
      await handle.close()
      handle = undefined
      throwIfAborted(options.signal)
      await this.#commit(tmp, path, key, options.ifNoneMatch ?? false)
      if (options.onProgress && (reported !== meta.size || total === undefined))
        options.onProgress({ loaded: meta.size, total: meta.size })
      return { key, size: meta.size, etag: meta.etag }
    } catch (error) {
      await handle?.close().catch(() => undefined)
      // Best effort: the temp file is garbage either way, and the original failure matters more.
      await rm(tmp, { force: true }).catch(() => undefined)
      throw this.#map(error, 'put', key, options.signal)
    }
  }

  async getStream(key: string, options: GetOptions = {}): Promise<GetStreamResult> {
    const path = this.#path(key)
    throwIfAborted(options.signal)
    const { range } = options
    if (range) validateRange(range)
    const handle = await this.#open(path, key, 'get')
    try {
      const meta = await readTrailer(handle)
      const head = toHead(key, meta)
      if (meta.size === 0 && !range) {
        await handle.close()
        return { ...head, body: Readable.from([]) }
      }
      let start = 0
      let end = meta.size - 1
      if (range) {
        if (range.start >= meta.size) {
          throw new LocalexError(
            'RANGE_NOT_SATISFIABLE',
            `Range starts at ${range.start}, past the end of "${key}" (${meta.size} bytes)`,
            { details: { key, size: meta.size } },
          )
        }
        start = range.start
        end = Math.min(range.end ?? end, end)
      }
      const body = handle.createReadStream({ start, end, autoClose: true })
      if (options.signal) addAbortSignal(options.signal, body)
      return { ...head, body, ...(range ? { range: { start, end, total: meta.size } } : {}) }
    } catch (error) {
      await handle.close().catch(() => undefined)
      throw this.#map(error, 'get', key, options.signal)
    }
  }

  async getBuffer(key: string, options: GetOptions = {}): Promise<Buffer> {
    const { body } = await this.getStream(key, options)
    const chunks: Buffer[] = []
    try {
      for await (const chunk of body) chunks.push(chunk as Buffer)
    } catch (error) {
      throw this.#map(error, 'get', key, options.signal)
    }
    return Buffer.concat(chunks)
  }

  async head(key: string, options: IoOptions = {}): Promise<ObjectHead> {
    const path = this.#path(key)
    throwIfAborted(options.signal)
    const handle = await this.#open(path, key, 'head')
    try {
      return toHead(key, await readTrailer(handle))
    } catch (error) {
      throw this.#map(error, 'head', key, options.signal)
    } finally {
      await handle.close()
    }
  }

  async exists(key: string, options: IoOptions = {}): Promise<boolean> {
    try {
      await this.head(key, options)
      return true
    } catch (error) {
      if (isLocalexError(error, 'OBJECT_NOT_FOUND')) return false
      throw error
    }
  }

  async delete(key: string, options: IoOptions = {}): Promise<void> {
    const path = this.#path(key)
    throwIfAborted(options.signal)
    try {
      await unlink(path)
    } catch (error) {
      const code = errnoOf(error)
      // Missing, or a folder of other keys (EISDIR on Linux, EPERM on macOS): no such object.
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return
      if (code === 'EPERM' && (await isDirectory(path))) return
      throw this.#map(error, 'delete', key, options.signal)
    }
    await this.#prune(dirname(path))
  }

  async deleteMany(keys: readonly string[], options: IoOptions = {}): Promise<DeleteManyResult> {
    for (const key of keys) this.#path(key)
    const result: DeleteManyResult = { deleted: [], failed: [] }
    await mapLimit([...new Set(keys)], DELETE_CONCURRENCY, async (key) => {
      try {
        await this.delete(key, options)
        result.deleted.push(key)
      } catch (error) {
        if (isLocalexError(error, 'ABORTED')) throw error
        const mapped = this.#map(error, 'delete', key, options.signal)
        result.failed.push({ key, code: mapped.code, message: mapped.message })
      }
    })
    return result
  }

  /** Copies the file (reflink where the filesystem can), then stamps a new lastModified. */
  async copy(from: string, to: string, options: IoOptions = {}): Promise<void> {
    const source = this.#path(from)
    const target = this.#path(to)
    throwIfAborted(options.signal)
    await this.#ensureDirs()
    const tmp = join(this.#tmp, randomUUID())
    try {
      try {
        await copyFile(source, tmp)
      } catch (error) {
        const code = errnoOf(error)
        if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') throw notFound(from, error)
        throw error
      }
      const handle = await open(tmp, 'r+')
      try {
        const meta = await readTrailer(handle)
        const trailer = encodeTrailer({ ...meta, lastModified: new Date().toISOString() })
        await handle.truncate(meta.size)
        await handle.write(trailer, 0, trailer.length, meta.size)
        if (this.#durable) await handle.sync()
      } finally {
        await handle.close()
      }
      throwIfAborted(options.signal)
      await this.#commit(tmp, target, to, false)
    } catch (error) {
      await rm(tmp, { force: true }).catch(() => undefined)
      throw this.#map(error, 'copy', from, options.signal)
    }
  }

  /** One rename: atomic, and the bytes never move through this process. */
  async move(from: string, to: string, options: IoOptions = {}): Promise<void> {
    const source = this.#path(from)
    const target = this.#path(to)
    throwIfAborted(options.signal)
    if (source === target) {
      await this.head(from, options)
      return
    }
    try {
      if (await isDirectory(source)) throw notFound(from)
      await this.#commit(source, target, to, false, from)
    } catch (error) {
      throw this.#map(error, 'move', from, options.signal)
    }
    await this.#prune(dirname(source))
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncGenerator<ListEntry> {
    assertSafePrefix(prefix)
    const { delimiter, startAfter, signal } = options
    // Start at the deepest folder the prefix names in full.
    const start = prefix.slice(0, prefix.lastIndexOf('/') + 1)
    if (start) this.#path(start.slice(0, -1))
    const walk: Walk = { prefix, startAfter, delimiter: delimiter || undefined, signal }
    let lastGroup: string | undefined
    for await (const entry of this.#walk(start, walk)) {
      if (walk.delimiter) {
        const rest = entry.key.slice(prefix.length)
        const at = rest.indexOf(walk.delimiter)
        if (at >= 0) {
          const group = prefix + rest.slice(0, at + walk.delimiter.length)
          // S3: a startAfter that is a common prefix (how ListObjects v1 pages) skips that group.
          if (group !== lastGroup && group !== startAfter) {
            lastGroup = group
            yield { type: 'prefix', prefix: group }
          }
          continue
        }
      }
      yield entry
    }
  }

  async signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    assertSafeKey(key)
    throwIfAborted(options.signal)
    const expiresAt = new Date(Date.now() + presignSeconds(options.expiresIn) * 1000)
    return this.signer.signGet(key, expiresAt, {
      responseContentDisposition: options.responseContentDisposition,
      responseContentType: options.responseContentType,
    })
  }

  async presignedPut(key: string, options: PresignedPutOptions): Promise<PresignedPutResult> {
    assertSafeKey(key)
    throwIfAborted(options.signal)
    const expiresAt = new Date(Date.now() + presignSeconds(options.expiresIn) * 1000)
    const headers: Record<string, string> = {}
    if (options.contentType) headers['Content-Type'] = options.contentType
    if (options.cacheControl) headers['Cache-Control'] = options.cacheControl
    const url = this.signer.signPut(key, expiresAt, {
      contentType: options.contentType,
      cacheControl: options.cacheControl,
    })
    return { url, method: 'PUT', headers, expiresAt }
  }

  async presignedPost(key: string, options: PresignedPostOptions): Promise<PresignedPost> {
    assertSafeKey(key)
    throwIfAborted(options.signal)
    const { min, max } = validateLengthRange(options.contentLengthRange)
    const expiresAt = new Date(Date.now() + presignSeconds(options.expiresIn) * 1000)
    const { url, fields } = this.signer.signPost({
      key,
      expires: Math.ceil(expiresAt.getTime() / 1000),
      min,
      max,
      contentType: options.contentType,
      cacheControl: options.cacheControl,
    })
    return { url, fields, expiresAt }
  }

  async ping(options: IoOptions = {}): Promise<void> {
    throwIfAborted(options.signal)
    try {
      await this.#ensureDirs(true)
      // Proves the root is writable, on the same filesystem as the temp folder.
      const probe = join(this.#tmp, `ping-${randomUUID()}`)
      const handle = await open(probe, 'wx')
      await handle.close()
      await unlink(probe)
    } catch (error) {
      throw this.#map(error, 'ping', undefined, options.signal)
    }
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }

  /** The file of `key`, guaranteed to be inside objects/. */
  #path(key: string): string {
    assertSafeKey(key)
    const path = resolve(this.#objects, key)
    if (!path.startsWith(this.#objects + sep)) {
      throw new LocalexError('UNSAFE_KEY', 'Object key refused: resolves outside the store', {
        details: { reason: 'outside the root' },
      })
    }
    return path
  }

  #ensureDirs(force = false): Promise<void> {
    if (!this.#ready || force) {
      this.#ready = Promise.all([
        mkdir(this.#objects, { recursive: true }),
        mkdir(this.#tmp, { recursive: true }),
      ]).then(() => undefined)
      this.#ready.catch(() => {
        this.#ready = undefined
      })
    }
    return this.#ready
  }

  async #open(path: string, key: string, op: string): Promise<FileHandle> {
    try {
      return await open(path, 'r')
    } catch (error) {
      const code = errnoOf(error)
      if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound(key, error)
      throw this.#map(error, op, key, undefined)
    }
    // EISDIR surfaces on the first read instead (Linux opens folders read-only): see #map.
  }

  /**
   * Moves a complete file to its key. With `exclusive`, `link` fails if the key exists, so of
   * two concurrent writers exactly one wins; otherwise `rename` replaces atomically. Parent
   * folders are created first; a concurrent delete may remove them again before the rename,
   * hence the retries.
   */
  async #commit(from: string, to: string, key: string, exclusive: boolean, sourceKey?: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await mkdir(dirname(to), { recursive: true })
      } catch (error) {
        const code = errnoOf(error)
        if (code === 'ENOTDIR' || code === 'EEXIST') throw conflict(key, error)
        throw error
      }
      try {
        if (exclusive) {
          await link(from, to)
          await unlink(from)
        } else {
          await rename(from, to)
        }
        break
      } catch (error) {
        const code = errnoOf(error)
        if (code === 'EEXIST' && exclusive) {
          if (await isDirectory(to)) throw conflict(key, error)
          throw new LocalexError('PRECONDITION_FAILED', `Object "${key}" already exists`, {
            cause: error,
            details: { key },
          })
        }
        if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'ENOTDIR' || (code === 'EEXIST' && !exclusive))
          throw conflict(key, error)
        if (code === 'ENOENT' && sourceKey !== undefined && !(await exists(from))) throw notFound(sourceKey, error)
        if (code === 'ENOENT' && attempt < COMMIT_ATTEMPTS) continue
        throw error
      }
    }
    if (this.#durable) await syncDir(dirname(to))
  }

  /** Removes folders left empty, up to objects/; stops at the first one still in use. */
  async #prune(dir: string): Promise<void> {
    while (dir.startsWith(this.#objects + sep)) {
      try {
        await rmdir(dir)
      } catch {
        // Not empty (or already gone, or re-created by a writer): nothing more to prune.
        return
      }
      dir = dirname(dir)
    }
  }

  /** Yields the objects below `dirKey` (a folder key ending in `/`, or '' for the root) in key order. */
  async *#walk(dirKey: string, walk: Walk): AsyncGenerator<Extract<ListEntry, { type: 'object' }>> {
    if (walk.signal?.aborted) throw abortedError(walk.signal)
    let dirents
    try {
      dirents = await readdir(join(this.#objects, dirKey), { withFileTypes: true })
    } catch (error) {
      const code = errnoOf(error)
      if (code === 'ENOENT' || code === 'ENOTDIR') return
      throw this.#map(error, 'list', undefined, walk.signal)
    }
    // A folder sorts as its name plus '/', which is where its keys fall among the files' keys.
    const entries = dirents
      .filter((d) => d.isDirectory() || d.isFile())
      .map((d) => ({ key: dirKey + d.name + (d.isDirectory() ? '/' : ''), dir: d.isDirectory() }))
      .sort((a, b) => compareKeys(a.key, b.key))
    const { prefix, startAfter, delimiter } = walk
    for (const entry of entries) {
      if (walk.signal?.aborted) throw abortedError(walk.signal)
      if (entry.dir) {
        if (!entry.key.startsWith(prefix) && !prefix.startsWith(entry.key)) continue
        // Every key below sorts before startAfter: skip the folder unread.
        if (startAfter !== undefined && compareKeys(entry.key, startAfter) < 0 && !startAfter.startsWith(entry.key))
          continue
        // Every key below falls into one delimiter group: its first key stands for the group.
        const grouped =
          delimiter !== undefined && entry.key.startsWith(prefix) && entry.key.slice(prefix.length).includes(delimiter)
        for await (const object of this.#walk(entry.key, walk)) {
          yield object
          if (grouped) break
        }
        continue
      }
      if (!entry.key.startsWith(prefix)) continue
      if (startAfter !== undefined && compareKeys(entry.key, startAfter) <= 0) continue
      let handle: FileHandle
      try {
        handle = await open(join(this.#objects, entry.key), 'r')
      } catch (error) {
        // Deleted since the folder was read.
        if (errnoOf(error) === 'ENOENT') continue
        throw this.#map(error, 'list', entry.key, walk.signal)
      }
      let meta: StoredMeta
      try {
        meta = await readTrailer(handle)
      } finally {
        await handle.close()
      }
      yield {
        type: 'object',
        key: entry.key,
        size: meta.size,
        etag: meta.etag,
        lastModified: new Date(meta.lastModified),
      }
    }
  }

  #map(error: unknown, op: string, key: string | undefined, signal: AbortSignal | undefined): LocalexError {
    if (signal?.aborted)
      return isLocalexError(error, 'ABORTED')
        ? error
        : new LocalexError('ABORTED', `Disk ${op} aborted`, { cause: error, details: details(op, key) })
    if (isLocalexError(error)) return error
    const errno = errnoOf(error)
    if (errno === 'EISDIR' && key !== undefined && (op === 'get' || op === 'head')) return notFound(key, error)
    const code: ErrorCode =
      (errno && ERRNO_CODES[errno]) || ((error as Error | undefined)?.name === 'AbortError' ? 'ABORTED' : 'STORE_ERROR')
    const what = key === undefined ? `Disk ${op}` : `Disk ${op} of "${key}"`
    // The message names the errno, not the path: paths are not for clients.
    return new LocalexError(
      code,
      code === 'UNSAFE_KEY'
        ? 'Object key refused: a segment is too long for the disk store'
        : `${what} failed (${errno ?? 'error'})`,
      {
        cause: error,
        details: { ...details(op, key), errno },
      },
    )
  }
}

interface Walk {
  prefix: string
  startAfter: string | undefined
  delimiter: string | undefined
  signal: AbortSignal | undefined
}

const ERRNO_CODES: Record<string, ErrorCode> = {
  ENAMETOOLONG: 'UNSAFE_KEY',
  EACCES: 'STORE_ACCESS_DENIED',
  EPERM: 'STORE_ACCESS_DENIED',
  EROFS: 'STORE_ACCESS_DENIED',
  ENOSPC: 'STORE_UNAVAILABLE',
  EDQUOT: 'STORE_UNAVAILABLE',
  EMFILE: 'STORE_UNAVAILABLE',
  ENFILE: 'STORE_UNAVAILABLE',
  EIO: 'STORE_UNAVAILABLE',
  EBUSY: 'STORE_UNAVAILABLE',
}

function toHead(key: string, meta: StoredMeta): ObjectHead {
  return {
    key,
    size: meta.size,
    contentType: meta.contentType,
    cacheControl: meta.cacheControl,
    contentDisposition: meta.contentDisposition,
    metadata: { ...meta.metadata },
    etag: meta.etag,
    lastModified: new Date(meta.lastModified),
  }
}

function details(op: string, key: string | undefined): Record<string, unknown> {
  return { operation: op, ...(key === undefined ? {} : { key }) }
}

function notFound(key: string, cause?: unknown): LocalexError {
  return new LocalexError('OBJECT_NOT_FOUND', `Object "${key}" does not exist`, { cause, details: { key } })
}

function conflict(key: string, cause: unknown): LocalexError {
  return new LocalexError(
    'CONFLICT',
    `The disk store cannot hold "${key}": it would be both an object and a folder of other keys`,
    { cause, details: { key } },
  )
}

function errnoOf(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return typeof code === 'string' ? code : undefined
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory()
  } catch {
    return false
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path)
    return true
  } catch {
    return false
  }
}

/**
 * Writes to an open handle from position 0 and leaves it open (the trailer follows). A plain
 * fs.WriteStream with autoClose off never emits 'close', so `pipeline` would wait on it forever.
 */
function fileSink(handle: FileHandle): Writable {
  let position = 0
  return new Writable({
    highWaterMark: 256 * 1024,
    writev(chunks, callback) {
      const buffers = chunks.map((c) => c.chunk as Buffer)
      handle
        .writev(buffers, position)
        .then(({ bytesWritten }) => {
          const expected = buffers.reduce((n, b) => n + b.length, 0)
          if (bytesWritten !== expected) throw new Error(`short write (${bytesWritten} of ${expected} bytes)`)
          position += bytesWritten
          callback()
        }, callback)
        .catch(callback)
    },
  })
}

/** Makes a rename durable: the folder entry is on disk, not only the file. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
