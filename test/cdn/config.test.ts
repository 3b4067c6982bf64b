import { describe, expect, it } from 'vitest'
import { createCdn, publicBaseFor } from '../../src/cdn/index.js'
import { testConfig } from '../support/db.js'

describe('CDN settings', () => {
  it('needs CDN_URL for every provider but none, and for signed CDN URLs', () => {
    expect(() => testConfig({ CDN_PROVIDER: 'http-purge', CDN_PURGE_URLS: 'http://127.0.0.1:6081' })).toThrow(
      /CDN_URL: required when CDN_PROVIDER is http-purge/,
    )
    expect(() => testConfig({ CDN_PROVIDER: 'cloudfront', CLOUDFRONT_DISTRIBUTION_ID: 'E1' })).toThrow(
      /CDN_URL: required when CDN_PROVIDER is cloudfront/,
    )
    expect(() => testConfig({ CLOUDFRONT_KEY_PAIR_ID: 'K1', CLOUDFRONT_PRIVATE_KEY: 'pem' })).toThrow(
      /CDN_URL: required when CLOUDFRONT_KEY_PAIR_ID is set/,
    )
    expect(() => testConfig({ CDN_PROVIDER: 'none' })).not.toThrow()
  })

  it("builds public URLs from CDN_URL, else the bucket URL, else the service's delivery route", () => {
    expect(createCdn(testConfig({ CDN_URL: 'https://cdn.example.com/media/' })).publicUrl('items/a/x y.jpg')).toBe(
      'https://cdn.example.com/media/items/a/x%20y.jpg',
    )
    expect(publicBaseFor(testConfig({ S3_PUBLIC_URL: 'https://bucket.example.com/' }))).toBe(
      'https://bucket.example.com',
    )
    expect(
      createCdn(testConfig({ PUBLIC_BASE_URL: 'https://api.example.com/storage' })).publicUrl('items/a/x.jpg'),
    ).toBe('https://api.example.com/storage/files/items/a/x.jpg')
  })

  it('does nothing to invalidate with provider none', async () => {
    const cdn = createCdn(testConfig())
    expect(cdn.provider).toBe('none')
    await expect(cdn.invalidate(['/items/a/*'])).resolves.toBeUndefined()
    expect(cdn.signedUrl('items/a/x.jpg', { expiresIn: 60 })).toBeNull()
  })
})
