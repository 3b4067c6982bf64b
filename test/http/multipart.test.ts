import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BOUNDARY, expectProblemShape, jpeg, makeTestApp, multipart, photoForm, type TestApp } from './support/app.js'

let t: TestApp
let auth: { authorization: string }
beforeEach(async () => {
  t = await makeTestApp()
  auth = await t.bearer('alice')
})
afterEach(async () => {
  await t.close()
})

const post = (payload: Buffer | string, headers: Record<string, string>, url = '/v1/items/item-1/photos') =>
  t.app.inject({ method: 'POST', url, headers: { ...auth, ...headers }, payload })

type Problem = Record<string, unknown>

/** The answer is a problem with this code, and nothing was stored: no row, no object. */
async function refused(res: Awaited<ReturnType<typeof post>>, status: number, code: string): Promise<Problem> {
  expect(res.statusCode, res.body).toBe(status)
  const body = res.json()
  expectProblemShape(body)
  expect(body.code).toBe(code)
  expect(await t.stored()).toEqual({ rows: 0, objects: [] })
  return body
}

describe('multipart uploads', () => {
  it('accepts a file of exactly the size limit', async () => {
    const form = photoForm(jpeg(t.config.images.maxBytes))
    expect((await post(form.payload, form.headers)).statusCode).toBe(201)
  })

  it('413 FILE_TOO_LARGE one byte over the limit; the files layer never sees more than the limit', async () => {
    const form = photoForm(jpeg(t.config.images.maxBytes + 1))
    const body = await refused(await post(form.payload, form.headers), 413, 'FILE_TOO_LARGE')
    expect(body.details).toEqual({ maxBytes: t.config.images.maxBytes })
    expect(t.files.received).toHaveLength(1)
    expect(Math.max(...t.files.received)).toBeLessThanOrEqual(t.config.images.maxBytes)
  })

  it('400 for two files, and the first is not stored', async () => {
    const form = multipart([
      { name: 'file', filename: 'a.jpg', data: jpeg() },
      { name: 'file', filename: 'b.jpg', data: jpeg() },
    ])
    expect((await refused(await post(form.payload, form.headers), 400, 'VALIDATION_FAILED')).detail).toMatch(/one file/)
  })

  it('400 for 10,000 parts before the file and for 10,000 parts after it', async () => {
    const many = Array.from({ length: 10_000 }, (_, i) => ({ name: `f${i}`, data: 'x' }))
    const before = multipart([...many, { name: 'file', filename: 'a.jpg', data: jpeg() }])
    await refused(await post(before.payload, before.headers), 400, 'VALIDATION_FAILED')
    const after = multipart([{ name: 'file', filename: 'a.jpg', data: jpeg() }, ...many])
    await refused(await post(after.payload, after.headers), 400, 'VALIDATION_FAILED')
    const tiny = jpeg().subarray(0, 10)
    const manyFiles = multipart(
      Array.from({ length: 10_000 }, (_, i) => ({ name: 'file', filename: `${i}.jpg`, data: tiny })),
    )
    await refused(await post(manyFiles.payload, manyFiles.headers), 400, 'VALIDATION_FAILED')
  })

  it('400 for an unterminated body (no closing boundary, or cut inside the file)', async () => {
    const open = multipart([{ name: 'file', filename: 'a.jpg', data: jpeg() }], { terminate: false })
    await refused(await post(open.payload, open.headers), 400, 'VALIDATION_FAILED')
    const cut = photoForm(jpeg(50_000))
    await refused(await post(cut.payload.subarray(0, 20_000), cut.headers), 400, 'VALIDATION_FAILED')
  })

  it('400 for a malformed or missing boundary', async () => {
    const form = photoForm()
    await refused(await post(form.payload, { 'content-type': 'multipart/form-data' }), 400, 'VALIDATION_FAILED')
    const types = ['', '; boundary=', '; boundary=somethingElse'].map((rest) => `multipart/form-data${rest}`)
    for (const type of types) {
      await refused(await post(form.payload, { 'content-type': type }), 400, 'VALIDATION_FAILED')
    }
    const garbage = `--${BOUNDARY}\r\ngarbage without headers\r\n\r\n`
    await refused(await post(garbage, form.headers), 400, 'VALIDATION_FAILED')
  })

  it('400 when there is no file: empty body, fields only', async () => {
    const fields = multipart([{ name: 'type', data: 'passport' }])
    await refused(await post(fields.payload, fields.headers, '/v1/verification-documents'), 400, 'VALIDATION_FAILED')
    const empty = multipart([])
    const nothing = await refused(await post(empty.payload, empty.headers), 400, 'VALIDATION_FAILED')
    expect(nothing.detail).toMatch(/no file/)
    await refused(await post('', empty.headers), 400, 'VALIDATION_FAILED')
  })

  it('400 for a file under another name, an unexpected field, a field after the file, an over-long field', async () => {
    const wrongName = multipart([{ name: 'photo', filename: 'a.jpg', data: jpeg() }])
    await refused(await post(wrongName.payload, wrongName.headers), 400, 'VALIDATION_FAILED')
    const unexpected = multipart([
      { name: 'caption', data: 'hi' },
      { name: 'file', filename: 'a.jpg', data: jpeg() },
    ])
    await refused(await post(unexpected.payload, unexpected.headers), 400, 'VALIDATION_FAILED')
    const late = multipart([
      { name: 'file', filename: 'a.pdf', data: '%PDF-1.7' },
      { name: 'type', data: 'passport' },
    ])
    await refused(await post(late.payload, late.headers, '/v1/verification-documents'), 400, 'VALIDATION_FAILED')
    const long = multipart([
      { name: 'type', data: 'p'.repeat(5000) },
      { name: 'file', filename: 'a.pdf', data: '%PDF-1.7' },
    ])
    await refused(await post(long.payload, long.headers, '/v1/verification-documents'), 400, 'VALIDATION_FAILED')
  })

  it('415 when the body is not multipart', async () => {
    const json = { 'content-type': 'application/json' }
    await refused(await post(JSON.stringify({ file: 'x' }), json), 415, 'UNSUPPORTED_TYPE')
    await refused(await post(jpeg(), { 'content-type': 'image/jpeg' }), 415, 'UNSUPPORTED_TYPE')
  })

  it("passes the files layer's own refusals on (type decided from the bytes, empty file)", async () => {
    const text = photoForm(Buffer.from('<svg onload=alert(1)>'), 'x.jpg')
    await refused(await post(text.payload, text.headers), 415, 'UNSUPPORTED_TYPE')
    const empty = photoForm(Buffer.alloc(0))
    await refused(await post(empty.payload, empty.headers), 400, 'EMPTY_FILE')
  })

  it('keeps serving after all of the above', async () => {
    const form = photoForm()
    expect((await post(form.payload, form.headers)).statusCode).toBe(201)
  })
})

describe('busboy limits (behind the route checks)', () => {
  it('stop a body of 10,000 allowed fields, of 10,000 files, and of over-long part headers', async () => {
    const { default: fastify } = await import('fastify')
    const { default: fastifyMultipart } = await import('@fastify/multipart')
    const { installProblemHandlers } = await import('../../src/http/problem.js')
    const { MULTIPART_LIMITS, readSingleFile } = await import('../../src/http/multipart.js')
    const app = fastify()
    installProblemHandlers(app)
    await app.register(fastifyMultipart, { limits: { ...MULTIPART_LIMITS, fileSize: 1000 } })
    const names = Array.from({ length: 10_000 }, (_, i) => `f${i}`)
    app.post('/', async (request) => {
      const file = await readSingleFile(request, { maxBytes: 1000, fields: names })
      let bytes = 0
      for await (const chunk of file.body) bytes += (chunk as Buffer).length
      return { bytes, fields: Object.keys(file.fields).length }
    })
    try {
      const ok = multipart([
        { name: 'f1', data: 'x' },
        { name: 'file', filename: 'a', data: 'abc' },
      ])
      expect((await app.inject({ method: 'POST', url: '/', headers: ok.headers, payload: ok.payload })).json()).toEqual(
        { bytes: 3, fields: 1 },
      )

      const fields = multipart([
        ...names.map((name) => ({ name, data: 'x' })),
        { name: 'file', filename: 'a', data: 'abc' },
      ])
      const manyFields = await app.inject({
        method: 'POST',
        url: '/',
        headers: fields.headers,
        payload: fields.payload,
      })
      expect([manyFields.statusCode, manyFields.json().detail]).toEqual([400, 'The multipart body has too many fields'])

      const files = multipart(names.map((_, i) => ({ name: 'file', filename: `${i}`, data: 'abc' })))
      const manyFiles = await app.inject({ method: 'POST', url: '/', headers: files.headers, payload: files.payload })
      expect([manyFiles.statusCode, manyFiles.json().detail]).toEqual([400, 'Send exactly one file per request'])

      const headerLines = Array.from({ length: 50 }, (_, i) => `X-H${i}: v`).join('\r\n')
      const payload = Buffer.from(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; ` +
          `filename="a"\r\n${headerLines}\r\n\r\nabc\r\n--${BOUNDARY}--\r\n`,
      )
      const headers = await app.inject({
        method: 'POST',
        url: '/',
        headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
        payload,
      })
      // busboy drops headers past `headerPairs`: the part still parses, with at most 10 of them.
      expect(headers.statusCode).toBe(200)
    } finally {
      await app.close()
    }
  })
})
