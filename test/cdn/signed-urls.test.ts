import { generateKeyPairSync, verify, type KeyObject } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createCdn, signCloudFrontUrl } from '../../src/cdn/index.js'
import type { Actor } from '../../src/files/types.js'
import { testConfig } from '../support/db.js'
import { fixture } from '../support/fixtures.js'
import { openTestStorage, type TestStorage } from '../support/storage.js'

/**
 * Signed CloudFront URLs checked the way the edge checks them: rebuild the canned policy from the
 * URL, verify the RSA-SHA1 signature with the public key of the pair, then compare the expiry with
 * the clock. No string comparison with an expected URL.
 */

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const other = generateKeyPairSync('rsa', { modulusLength: 2048 })
const PEM = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()
const KEY_PAIR_ID = 'K2JCJMDEHXQW5F'
const CDN = 'https://d111111abcdef8.cloudfront.net'

type Verdict = 'ok' | 'bad-signature' | 'expired' | 'wrong-key-pair' | 'missing'

/** CloudFront's check of a canned-policy URL. */
function edgeVerify(signedUrl: string, key: KeyObject = publicKey, now = Date.now()): Verdict {
  const url = new URL(signedUrl)
  const expires = url.searchParams.get('Expires')
  const signature = url.searchParams.get('Signature')
  const keyPairId = url.searchParams.get('Key-Pair-Id')
  if (!expires || !signature || !keyPairId) return 'missing'
  if (keyPairId !== KEY_PAIR_ID) return 'wrong-key-pair'
  for (const p of ['Expires', 'Signature', 'Key-Pair-Id']) url.searchParams.delete(p)
  const resource = url.toString().replace(/\?$/, '')
  const policy = JSON.stringify({
    Statement: [{ Resource: resource, Condition: { DateLessThan: { 'AWS:EpochTime': Number(expires) } } }],
  })
  const raw = Buffer.from(signature.replace(/-/g, '+').replace(/_/g, '=').replace(/~/g, '/'), 'base64')
  if (!verify('RSA-SHA1', Buffer.from(policy), key, raw)) return 'bad-signature'
  if (Number(expires) * 1000 <= now) return 'expired'
  return 'ok'
}

describe('signed CloudFront URLs (canned policy)', () => {
  const cdn = createCdn(
    testConfig({
      CDN_URL: CDN,
      CLOUDFRONT_KEY_PAIR_ID: KEY_PAIR_ID,
      CLOUDFRONT_PRIVATE_KEY: PEM.replace(/\n/g, '\\n'),
    }),
  )

  it('verifies with the matching public key and expires when asked', () => {
    const before = Date.now()
    const url = cdn.signedUrl('items/a/photos/p/original.jpg', { expiresIn: 600 }) as string
    expect(url.startsWith(`${CDN}/items/a/photos/p/original.jpg?`)).toBe(true)
    expect(edgeVerify(url)).toBe('ok')
    const expires = Number(new URL(url).searchParams.get('Expires'))
    expect(expires).toBeGreaterThanOrEqual(Math.floor(before / 1000) + 599)
    expect(expires).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 601)
    // Valid until the last second, refused from then on.
    expect(edgeVerify(url, publicKey, expires * 1000 - 1000)).toBe('ok')
    expect(edgeVerify(url, publicKey, expires * 1000)).toBe('expired')
  })

  it("refuses a tampered expiry, path or key, and another key pair's public key", () => {
    const url = cdn.signedUrl('items/a/photos/p/original.jpg', { expiresIn: 60 }) as string
    const later = new URL(url)
    later.searchParams.set('Expires', String(Number(later.searchParams.get('Expires')) + 86_400))
    expect(edgeVerify(later.toString())).toBe('bad-signature')
    const moved = new URL(url)
    moved.pathname = '/items/a/photos/p/large.jpg'
    expect(edgeVerify(moved.toString())).toBe('bad-signature')
    const flipped = new URL(url)
    const sig = flipped.searchParams.get('Signature') as string
    flipped.searchParams.set('Signature', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1))
    expect(edgeVerify(flipped.toString())).toBe('bad-signature')
    expect(edgeVerify(url, other.publicKey)).toBe('bad-signature')
  })

  it('binds the signature to its resource: a signature for one object does not open another', () => {
    const a = new URL(cdn.signedUrl('items/a/photos/p/original.jpg', { expiresIn: 60 }) as string)
    const b = new URL(cdn.publicUrl('items/b/photos/q/original.jpg'))
    for (const p of ['Expires', 'Signature', 'Key-Pair-Id']) b.searchParams.set(p, a.searchParams.get(p) as string)
    expect(edgeVerify(b.toString())).toBe('bad-signature')
    // And odd keys are signed as the encoded URL the client will request.
    const odd = cdn.signedUrl('items/a b/photos/ü/x?.jpg', { expiresIn: 60 }) as string
    expect(new URL(odd).pathname).toBe('/items/a%20b/photos/%C3%BC/x%3F.jpg')
    expect(edgeVerify(odd)).toBe('ok')
  })

  it('is null without a key pair (the caller signs a bucket URL instead)', () => {
    expect(createCdn(testConfig({ CDN_URL: CDN })).signedUrl('items/a/x.jpg', { expiresIn: 60 })).toBeNull()
    expect(() =>
      signCloudFrontUrl(`${CDN}/x`, new Date(Date.now() + 1000), { keyPairId: KEY_PAIR_ID, privateKey: 'not a key' }),
    ).toThrow()
  })
})

describe('FileManager: which URL each access level gets', () => {
  const alice: Actor = { id: 'alice', role: 'user' }
  const bob: Actor = { id: 'bob', role: 'user' }
  let t: TestStorage

  beforeAll(async () => {
    t = await openTestStorage('embedded', {
      CDN_URL: CDN,
      CLOUDFRONT_KEY_PAIR_ID: KEY_PAIR_ID,
      CLOUDFRONT_PRIVATE_KEY: PEM,
    })
  })
  afterAll(async () => {
    await t?.close()
  })

  it(
    'public: the CDN URL; authenticated: a signed CloudFront URL; private: a signed store URL, never the ' + 'CDN',
    async () => {
      const png = await readFile(fixture('images/png-rgba-alpha.png'))
      const pub = await t.files.uploadItemPhoto(alice, 'item-sig', { body: png, wait: true })
      expect(pub.url).toBe(`${CDN}/items/item-sig/photos/${pub.id}/original.png`)

      const auth = await t.makeAuthenticated(
        await t.files.uploadItemPhoto(alice, 'item-sig', { body: png, wait: true }),
      )
      const granted = await t.files.getUrl(bob, auth.id, { variant: 'thumbnail', format: 'webp' })
      expect(granted.url.startsWith(`${CDN}/items/item-sig/photos/${auth.id}/thumbnail.webp?`)).toBe(true)
      expect(edgeVerify(granted.url)).toBe('ok')
      const ttl = t.config.files.signedUrlTtlMs
      expect(Date.parse(granted.expiresAt as string)).toBeGreaterThan(Date.now() + ttl - 5000)
      expect(Number(new URL(granted.url).searchParams.get('Expires')) * 1000).toBeLessThanOrEqual(
        Date.now() + ttl + 1000,
      )

      const pdf = await readFile(fixture('docs/pdf-1-page-libreoffice.pdf'))
      const doc = await t.files.uploadVerificationDocument(alice, 'passport', { body: pdf, fileName: 'passport.pdf' })
      const docUrl = await t.files.getUrl(alice, doc.id)
      expect(docUrl.url.startsWith(CDN)).toBe(false)
      expect(docUrl.url.startsWith(t.config.storage.publicBaseUrl)).toBe(true)
      expect(new URL(docUrl.url).searchParams.has('Key-Pair-Id')).toBe(false)
      const res = await t.fetch(docUrl.url)
      expect(res.status).toBe(200)
      expect(res.headers.get('cache-control')).toMatch(/^private/)
      await res.arrayBuffer()
    },
  )
})
