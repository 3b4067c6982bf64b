import { describe, expect, it } from 'vitest'
import {
  assertSafeKey,
  keys,
  newId,
  safeFileName,
  sanitizeDisplayName,
  unsafeKeyReason,
} from '../../src/storage/keys.js'

describe('keys', () => {
  it('lays out keys as DESIGN.md says', () => {
    expect(keys.itemPhoto('item-42', 'p1', 'original.jpg')).toBe('items/item-42/photos/p1/original.jpg')
    expect(keys.profilePhoto('u1', 'p2', 'thumbnail.webp')).toBe('profiles/u1/photo/p2/thumbnail.webp')
    expect(keys.verification('u1', 'passport', 'f1', '../../Pässe scan.PDF')).toBe(
      'verification/u1/passport/f1/Passe-scan.pdf',
    )
    expect(keys.tempUpload('up1', 'IMG 0001.HEIC')).toBe('temp/uploads/up1/IMG-0001.heic')
  })

  it('refuses ids that would become odd path segments', () => {
    for (const id of ['..', 'a/b', '', 'a b', 'x'.repeat(129), 'é']) {
      expect(() => keys.itemPhotoFolder(id, 'p'), id).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }))
    }
  })

  it('refuses keys that could escape a root', () => {
    for (const key of [
      '../x',
      'a/../../b',
      '/etc/passwd',
      'a\u0000b',
      'a\\b',
      'a\nb',
      './a',
      'a//b',
      'C:/x',
      '',
      'x'.repeat(1025),
      'e\u0301',
    ]) {
      expect(unsafeKeyReason(key), JSON.stringify(key)).toBeDefined()
      expect(() => assertSafeKey(key)).toThrow(expect.objectContaining({ code: 'UNSAFE_KEY' }))
    }
    expect(assertSafeKey('items/1/photos/2/original.jpg')).toBe('items/1/photos/2/original.jpg')
  })

  it('normalises display names: NFC, no controls or bidi overrides, no path, at most 255 bytes', () => {
    expect(sanitizeDisplayName('e\u0301te\u0301.jpg')).toBe('\u00e9t\u00e9.jpg')
    expect(sanitizeDisplayName('invoice\u202egpj.exe')).toBe('invoicegpj.exe')
    expect(sanitizeDisplayName('C:\\Users\\me\\pic\u0000.jpg')).toBe('pic.jpg')
    expect(sanitizeDisplayName('../../etc/passwd')).toBe('passwd')
    expect(sanitizeDisplayName('   ')).toBe('file')
    const long = sanitizeDisplayName('ü'.repeat(300) + '.jpeg')
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(255)
    expect(long.endsWith('ü.jpeg')).toBe(true)
    expect(safeFileName('<script>alert(1)</script>.html')).toBe('script.html')
    expect(safeFileName('a<b>c?d*e  "x".JPG')).toBe('a-b-c-d-e-x.jpg')
  })

  it('makes time-ordered, unique ids', () => {
    const a = newId(1_700_000_000_000)
    const b = newId(1_700_000_000_001)
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(a < b).toBe(true)
    expect(new Set(Array.from({ length: 1000 }, () => newId())).size).toBe(1000)
  })
})
