import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildHttpApp, signToken } from '../../src/http/index.js'
import { openTestStorage } from '../support/storage.js'
import { PDF, expectProblemShape, jpeg, makeTestApp, multipart, photoForm, type TestApp } from './support/app.js'

let t: TestApp
beforeEach(async () => {
  t = await makeTestApp()
})
afterEach(async () => {
  await t.close()
})

describe('problem+json', () => {
  it('answers an unknown route with a NOT_FOUND problem', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/nope?sig=secret' })
    expect(res.statusCode).toBe(404)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    const body = res.json()
    expectProblemShape(body)
    expect(body).toMatchObject({
      type: 'urn:localex-storage:error:NOT_FOUND',
      title: 'Not found',
      status: 404,
      code: 'NOT_FOUND',
    })
    expect(body.detail).not.toContain('secret')
    expect(body.requestId).toEqual(expect.any(String))
  })

  it('maps schema validation failures to VALIDATION_FAILED', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/items/..%2Fetc/photos' })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', status: 400 })
    const body = await t.app.inject({
      method: 'PUT',
      url: '/v1/items/item-1/photos/order',
      headers: await t.bearer('alice'),
      payload: { fileIds: 'x', extra: 1 },
    })
    expect(body.statusCode).toBe(400)
    expectProblemShape(body.json())
  })

  it('passes LocalexErrors through with code, detail and safe details', async () => {
    const full = await makeTestApp({ env: { MAX_PHOTOS_PER_ITEM: '1' } })
    try {
      const alice = await full.bearer('alice')
      const upload = () => {
        const form = photoForm()
        const headers = { ...alice, ...form.headers }
        return full.app.inject({ method: 'POST', url: '/v1/items/i1/photos', headers, payload: form.payload })
      }
      expect((await upload()).statusCode).toBe(201)
      const res = await upload()
      expect(res.statusCode).toBe(409)
      const detail = 'An item may have at most 1 photos'
      expect(res.json()).toMatchObject({ code: 'TOO_MANY_PHOTOS', detail, details: { max: 1 } })
    } finally {
      await full.close()
    }
  })

  it('turns unknown errors into a bare 500 INTERNAL: no message, no stack, no path', async () => {
    // An error no layer knows: the database lost the table under the files layer.
    await t.storage.db.schema.dropTable('files').execute()
    const res = await t.app.inject({ method: 'GET', url: '/v1/items/i1/photos' })
    expect(res.statusCode).toBe(500)
    const body = res.json()
    expect(body).toMatchObject({ code: 'INTERNAL', status: 500, title: 'Internal error' })
    expect(body.detail).toBeUndefined()
    expect(res.body).not.toMatch(/no such table|files/)
    expect(res.body).not.toContain(t.dir)
    expectProblemShape(body)
  })

  it('answers infrastructure failures 503 with Retry-After and without their message', async () => {
    // The production shape, with the S3 server and PostgreSQL behind proxies the test takes down.
    const proxied = { workers: false, proxyDatabase: true, proxyStore: true }
    const prod = await openTestStorage('production', { STORAGE_MAX_ATTEMPTS: '1' }, proxied)
    const { config, files, store, health } = prod
    const app = buildHttpApp({ config, files, store, health, logger: false })
    try {
      const token = await signToken(config, { sub: 'alice', admin: false, ttlSeconds: 600 })
      const alice = { authorization: `Bearer ${token}` }
      await prod.proxies.store?.stop()
      const form = photoForm()
      const headers = { ...alice, ...form.headers }
      const res = await app.inject({ method: 'POST', url: '/v1/items/i1/photos', headers, payload: form.payload })
      expect(res.statusCode, res.body).toBe(503)
      expect(res.headers['retry-after']).toBe('5')
      expect(res.json()).toMatchObject({ code: 'STORE_UNAVAILABLE', detail: 'Store unavailable' })
      // Neither the address that refused nor the key.
      expect(res.body).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|items\//)
      await prod.proxies.db?.stop()
      const db = await app.inject({ method: 'GET', url: '/v1/items/i1/photos' })
      expect([db.statusCode, db.headers['retry-after'], db.json().code]).toEqual([503, '5', 'DATABASE_UNAVAILABLE'])
      expect(db.body).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|localex_test_/)
    } finally {
      await app.close()
      await prod.close()
    }
  })

  it('sets nosniff everywhere and no-store on the API', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/items/i1/photos' })
    expect(res.headers['x-content-type-options']).toBe('nosniff')
    expect(res.headers['cache-control']).toBe('no-store')
  })
})

describe('routes', () => {
  it('uploads, lists, reorders item photos; owner is the first uploader', async () => {
    const alice = await t.bearer('alice')
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      const form = photoForm(jpeg(6000 + i), `p${i}.jpg`)
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/items/item-1/photos',
        headers: { ...alice, ...form.headers },
        payload: form.payload,
      })
      expect(res.statusCode, res.body).toBe(201)
      const view = res.json()
      expect(view).toMatchObject({ entityId: 'item-1', ownerId: 'alice', status: 'processing', bytes: 6000 + i })
      expect(view).toMatchObject({ originalName: `p${i}.jpg`, position: i })
      expect(res.headers.location).toBe(`/v1/files/${view.id}`)
      ids.push(view.id)
    }
    const list = await t.app.inject({ method: 'GET', url: '/v1/items/item-1/photos' })
    expect(list.statusCode).toBe(200)
    expect(list.json().photos.map((p: { id: string }) => p.id)).toEqual(ids)

    const reversed = [...ids].reverse()
    const bob = await t.bearer('bob')
    expect(
      (
        await t.app.inject({
          method: 'PUT',
          url: '/v1/items/item-1/photos/order',
          headers: bob,
          payload: { fileIds: reversed },
        })
      ).statusCode,
    ).toBe(403)
    const reorder = await t.app.inject({
      method: 'PUT',
      url: '/v1/items/item-1/photos/order',
      headers: alice,
      payload: { fileIds: reversed },
    })
    expect(reorder.statusCode).toBe(200)
    expect(reorder.json().photos.map((p: { id: string }) => p.id)).toEqual(reversed)

    const form = photoForm()
    const other = await t.app.inject({
      method: 'POST',
      url: '/v1/items/item-1/photos',
      headers: { ...bob, ...form.headers },
      payload: form.payload,
    })
    expect(other.statusCode).toBe(403)
    expect(other.json().code).toBe('FORBIDDEN')
  })

  it('passes wait, Idempotency-Key and the request context to the files layer', async () => {
    await t.storage.startWorkers()
    const form = photoForm()
    const headers = {
      ...(await t.bearer('alice')),
      ...form.headers,
      'idempotency-key': 'k-1',
      'user-agent': 'tests/1.0',
    }
    const first = await t.app.inject({
      method: 'POST',
      url: '/v1/items/item-1/photos?wait=true',
      headers,
      payload: form.payload,
    })
    expect(first.statusCode).toBe(201)
    expect(first.json().status).toBe('ready')
    const call = t.files.calls.find((c) => c.method === 'uploadItemPhoto')
    expect(call?.actor).toEqual({ id: 'alice', role: 'user' })
    expect(call?.args[1]).toMatchObject({ idempotencyKey: 'k-1', wait: true, fileName: 'photo.jpg' })
    expect(call?.ctx).toMatchObject({ ip: '127.0.0.1', userAgent: 'tests/1.0' })
    expect(call?.ctx?.signal).toBeInstanceOf(AbortSignal)
    // A replay answers the same file.
    const again = await t.app.inject({
      method: 'POST',
      url: '/v1/items/item-1/photos?wait=true',
      headers,
      payload: form.payload,
    })
    expect(again.statusCode).toBe(201)
    expect(again.json().id).toBe(first.json().id)
  })

  it('rejects a malformed Idempotency-Key', async () => {
    const form = photoForm()
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/items/item-1/photos',
      headers: { ...(await t.bearer('alice')), ...form.headers, 'idempotency-key': 'x'.repeat(300) },
      payload: form.payload,
    })
    expect(res.statusCode).toBe(400)
  })

  it('refuses anonymous uploads before reading the body', async () => {
    const form = photoForm()
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/items/item-1/photos',
      headers: form.headers,
      payload: form.payload,
    })
    expect(res.statusCode).toBe(401)
    expect(res.headers['www-authenticate']).toBe('Bearer realm="localex-storage"')
    expect(t.files.calls).toHaveLength(0)
    expect(await t.stored()).toEqual({ rows: 0, objects: [] })
  })

  it('profile photo: me, replace, public read, delete by self or admin', async () => {
    const alice = await t.bearer('alice')
    const up = async () => {
      const form = photoForm()
      return t.app.inject({
        method: 'PUT',
        url: '/v1/users/me/profile-photo',
        headers: { ...alice, ...form.headers },
        payload: form.payload,
      })
    }
    const first = await up()
    expect(first.statusCode, first.body).toBe(201)
    const second = await up()
    expect(second.json().id).not.toBe(first.json().id)
    const pub = await t.app.inject({ method: 'GET', url: '/v1/users/alice/profile-photo' })
    expect(pub.statusCode).toBe(200)
    expect(pub.json().id).toBe(second.json().id)
    expect((await t.app.inject({ method: 'GET', url: '/v1/users/me/profile-photo', headers: alice })).json().id).toBe(
      second.json().id,
    )
    expect((await t.app.inject({ method: 'GET', url: '/v1/users/me/profile-photo' })).statusCode).toBe(401)
    expect(
      (await t.app.inject({ method: 'DELETE', url: '/v1/users/alice/profile-photo', headers: await t.bearer('bob') }))
        .statusCode,
    ).toBe(403)
    const del = await t.app.inject({
      method: 'DELETE',
      url: '/v1/users/alice/profile-photo',
      headers: await t.bearer('root', { admin: true }),
    })
    expect(del.statusCode).toBe(204)
    expect(del.body).toBe('')
    expect((await t.app.inject({ method: 'GET', url: '/v1/users/alice/profile-photo' })).statusCode).toBe(404)
  })

  it('verification documents: type first, private, listed for self and admins', async () => {
    const alice = await t.bearer('alice')
    const form = multipart([
      { name: 'type', data: 'passport' },
      { name: 'file', filename: 'pässport scan.pdf', contentType: 'application/pdf', data: PDF },
    ])
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/verification-documents',
      headers: { ...alice, ...form.headers },
      payload: form.payload,
    })
    expect(res.statusCode, res.body).toBe(201)
    expect(res.json()).toMatchObject({
      documentType: 'passport',
      accessLevel: 'private',
      url: null,
      originalName: 'pässport scan.pdf',
    })
    const id = res.json().id

    expect(
      (await t.app.inject({ method: 'GET', url: '/v1/verification-documents', headers: alice })).json().documents,
    ).toHaveLength(1)
    expect(
      (
        await t.app.inject({
          method: 'GET',
          url: '/v1/verification-documents?userId=alice',
          headers: await t.bearer('bob'),
        })
      ).statusCode,
    ).toBe(403)
    expect(
      (
        await t.app.inject({
          method: 'GET',
          url: '/v1/verification-documents?userId=alice',
          headers: await t.bearer('root', { admin: true }),
        })
      ).json().documents,
    ).toHaveLength(1)
    expect((await t.app.inject({ method: 'GET', url: '/v1/verification-documents' })).statusCode).toBe(401)
    // Others cannot tell it exists.
    expect(
      (await t.app.inject({ method: 'GET', url: `/v1/files/${id}`, headers: await t.bearer('bob') })).statusCode,
    ).toBe(404)
    expect((await t.app.inject({ method: 'GET', url: `/v1/files/${id}` })).statusCode).toBe(404)

    const wrongType = multipart([
      { name: 'type', data: 'selfie' },
      { name: 'file', filename: 'a.pdf', data: Buffer.from('%PDF-1.7') },
    ])
    const bad = await t.app.inject({
      method: 'POST',
      url: '/v1/verification-documents',
      headers: { ...alice, ...wrongType.headers },
      payload: wrongType.payload,
    })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().details).toEqual({ field: 'type' })
    const noType = multipart([{ name: 'file', filename: 'a.pdf', data: Buffer.from('%PDF-1.7') }])
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/v1/verification-documents',
          headers: { ...alice, ...noType.headers },
          payload: noType.payload,
        })
      ).statusCode,
    ).toBe(400)
  })

  it('files: metadata, URL (signed for private), delete', async () => {
    const alice = await t.bearer('alice')
    const form = photoForm()
    const up = await t.app.inject({
      method: 'POST',
      url: '/v1/items/item-9/photos',
      headers: { ...alice, ...form.headers },
      payload: form.payload,
    })
    const id = up.json().id
    const meta = await t.app.inject({ method: 'GET', url: `/v1/files/${id}` })
    expect(meta.statusCode).toBe(200)
    expect(meta.json()).toEqual(up.json())
    const url = await t.app.inject({ method: 'GET', url: `/v1/files/${id}/url?variant=original` })
    expect(url.statusCode).toBe(200)
    expect(url.json()).toMatchObject({
      variant: 'original',
      format: 'jpeg',
      url: expect.stringContaining(`/files/items/item-9/photos/${id}/original.jpg`),
    })
    expect((await t.app.inject({ method: 'GET', url: `/v1/files/${id}/url?format=tiff` })).statusCode).toBe(400)
    expect(
      (await t.app.inject({ method: 'DELETE', url: `/v1/files/${id}`, headers: await t.bearer('bob') })).statusCode,
    ).toBe(403)
    expect((await t.app.inject({ method: 'DELETE', url: `/v1/files/${id}` })).statusCode).toBe(401)
    expect((await t.app.inject({ method: 'DELETE', url: `/v1/files/${id}`, headers: alice })).statusCode).toBe(204)
    expect((await t.app.inject({ method: 'GET', url: `/v1/files/${id}` })).statusCode).toBe(404)
  })

  it('direct uploads: create (validated), POST to the disk receiver, complete', async () => {
    await t.storage.startWorkers()
    const alice = await t.bearer('alice')
    expect(
      (
        await t.app.inject({ method: 'POST', url: '/v1/uploads', headers: alice, payload: { purpose: 'item_photo' } })
      ).json(),
    ).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'itemId' } })
    expect(
      (
        await t.app.inject({
          method: 'POST',
          url: '/v1/uploads',
          headers: alice,
          payload: { purpose: 'banner', itemId: 'x' },
        })
      ).statusCode,
    ).toBe(400)
    expect(
      (await t.app.inject({ method: 'POST', url: '/v1/uploads', payload: { purpose: 'profile_photo' } })).statusCode,
    ).toBe(401)

    const created = await t.app.inject({
      method: 'POST',
      url: '/v1/uploads',
      headers: alice,
      payload: { purpose: 'item_photo', itemId: 'item-2', fileName: 'big.jpg', contentType: 'image/jpeg' },
    })
    expect(created.statusCode, created.body).toBe(201)
    const upload = created.json()
    expect(upload).toMatchObject({
      id: expect.any(String),
      url: 'http://localhost:3000/uploads/direct',
      maxBytes: t.config.images.maxBytes,
    })

    // The client's presigned POST, received by the disk store's handler mounted in the app.
    const form = multipart([
      ...Object.entries(upload.fields as Record<string, string>).map(([name, data]) => ({ name, data })),
      { name: 'file', filename: 'big.jpg', contentType: 'image/jpeg', data: jpeg(7000) },
    ])
    const posted = await t.app.inject({
      method: 'POST',
      url: '/uploads/direct',
      headers: form.headers,
      payload: form.payload,
    })
    expect(posted.statusCode, posted.body).toBe(204)

    const done = await t.app.inject({
      method: 'POST',
      url: `/v1/uploads/${upload.id}/complete?wait=true`,
      headers: alice,
    })
    expect(done.statusCode, done.body).toBe(201)
    expect(done.json()).toMatchObject({ entityId: 'item-2', bytes: 7000, status: 'ready' })
    // Someone else's upload id is answered like a missing one; completing twice gives the same file.
    const complete = `/v1/uploads/${upload.id}/complete`
    expect((await t.app.inject({ method: 'POST', url: complete, headers: await t.bearer('bob') })).statusCode).toBe(404)
    const again = await t.app.inject({ method: 'POST', url: complete, headers: alice })
    expect([again.statusCode, again.json().id]).toEqual([201, done.json().id])
  })

  it('item owner: admins only', async () => {
    const payload = { ownerId: 'carol' }
    expect(
      (await t.app.inject({ method: 'PUT', url: '/v1/items/item-3/owner', headers: await t.bearer('bob'), payload }))
        .statusCode,
    ).toBe(403)
    expect((await t.app.inject({ method: 'PUT', url: '/v1/items/item-3/owner', payload })).statusCode).toBe(401)
    const res = await t.app.inject({
      method: 'PUT',
      url: '/v1/items/item-3/owner',
      headers: await t.bearer('root', { admin: true }),
      payload,
    })
    expect(res.statusCode).toBe(204)
    // Carol owns the item now: she may add photos, the first other uploader may not.
    const upload = async (who: string) => {
      const form = photoForm()
      const headers = { ...(await t.bearer(who)), ...form.headers }
      const res = await t.app.inject({ method: 'POST', url: '/v1/items/item-3/photos', headers, payload: form.payload })
      return res.statusCode
    }
    expect([await upload('alice'), await upload('carol')]).toEqual([403, 201])
  })
})

describe('upload rate limit', () => {
  it(
    'allows UPLOAD_RATE_LIMIT uploads per user per minute across upload routes, then 429 with ' + 'Retry-After',
    async () => {
      const limited = await makeTestApp({ env: { UPLOAD_RATE_LIMIT: '3' } })
      try {
        const alice = await limited.bearer('alice')
        const codes: number[] = []
        for (let i = 0; i < 2; i++) {
          const form = photoForm()
          codes.push(
            (
              await limited.app.inject({
                method: 'POST',
                url: '/v1/items/item-1/photos',
                headers: { ...alice, ...form.headers },
                payload: form.payload,
              })
            ).statusCode,
          )
        }
        codes.push(
          (
            await limited.app.inject({
              method: 'POST',
              url: '/v1/uploads',
              headers: alice,
              payload: { purpose: 'profile_photo' },
            })
          ).statusCode,
        )
        const form = photoForm()
        const over = await limited.app.inject({
          method: 'PUT',
          url: '/v1/users/me/profile-photo',
          headers: { ...alice, ...form.headers },
          payload: form.payload,
        })
        expect(codes).toEqual([201, 201, 201])
        expect(over.statusCode).toBe(429)
        expect(over.json()).toMatchObject({ code: 'RATE_LIMITED', status: 429 })
        expect(Number(over.headers['retry-after'])).toBeGreaterThan(0)
        // Another user has a counter of their own; reads are not limited.
        const bobForm = photoForm()
        expect(
          (
            await limited.app.inject({
              method: 'POST',
              url: '/v1/items/item-2/photos',
              headers: { ...(await limited.bearer('bob')), ...bobForm.headers },
              payload: bobForm.payload,
            })
          ).statusCode,
        ).toBe(201)
        for (let i = 0; i < 5; i++)
          expect(
            (await limited.app.inject({ method: 'GET', url: '/v1/items/item-1/photos', headers: alice })).statusCode,
          ).toBe(200)
      } finally {
        await limited.close()
      }
    },
  )
})
