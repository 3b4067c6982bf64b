import { describe, expect, it } from 'vitest'
import { asciiFallback, contentDisposition } from '../../src/storage/content-disposition.js'
import { redactUrl } from '../../src/http/log.js'
import { makeTestApp } from './support/app.js'

describe('contentDisposition (RFC 6266 / 8187)', () => {
  it('ASCII names stay as they are', () => {
    expect(contentDisposition('scan.pdf')).toBe(`attachment; filename="scan.pdf"; filename*=UTF-8''scan.pdf`)
  })

  it('non-ASCII names get an ASCII fallback and the exact name percent-encoded', () => {
    expect(contentDisposition('Pässport «scan» ✓.pdf')).toBe(
      `attachment; filename="Passport _scan_ _.pdf"; filename*=UTF-8''P%C3%A4ssport%20%C2%ABscan%C2%BB%20%E2%9C%93.pdf`,
    )
    expect(contentDisposition('日本語.jpg', 'inline')).toMatch(
      /^inline; filename="___.jpg"; filename\*=UTF-8''%E6%97%A5/,
    )
  })

  it('cannot be broken out of: quotes, backslashes, CR/LF, bidi overrides, paths', () => {
    const header = contentDisposition('a"b\\c\r\nSet-Cookie: x=1\u202egpj.exe')
    expect(header).not.toMatch(/[\r\n]/)
    expect(header).not.toContain('\u202e')
    // The backslash counts as a path separator: only the last segment is a name.
    expect(header).toBe(
      `attachment; filename="cSet-Cookie: x=1gpj.exe"; filename*=UTF-8''cSet-Cookie%3A%20x%3D1gpj.exe`,
    )
    expect(contentDisposition('say "hi".pdf')).toBe(
      `attachment; filename="say _hi_.pdf"; filename*=UTF-8''say%20%22hi%22.pdf`,
    )
    expect(contentDisposition('../../etc/passwd')).toBe(`attachment; filename="passwd"; filename*=UTF-8''passwd`)
    expect(contentDisposition("it's (1)*.pdf")).toContain(`filename*=UTF-8''it%27s%20%281%29%2A.pdf`)
    expect(contentDisposition('100%.pdf')).toContain('filename="100_.pdf"')
    expect(asciiFallback('...')).toBe('file')
    expect(contentDisposition('', 'attachment', 'document')).toBe(
      `attachment; filename="document"; filename*=UTF-8''document`,
    )
  })
})

describe('logging', () => {
  it('redactUrl hides signatures and tokens, keeps the rest', () => {
    expect(redactUrl('/files/verification/a/b.pdf?expires=1&sig=abc&x=1')).toBe(
      '/files/verification/a/b.pdf?expires=1&sig=[redacted]&x=1',
    )
    expect(redactUrl('/x?X-Amz-Signature=s&X-Amz-Credential=c&token=t&signature=q')).toBe(
      '/x?X-Amz-Signature=[redacted]&X-Amz-Credential=[redacted]&token=[redacted]&signature=[redacted]',
    )
    expect(redactUrl('/x?%73ig=abc')).toBe('/x?%73ig=[redacted]')
    expect(redactUrl('/plain')).toBe('/plain')
  })

  it('never writes the Authorization header or a URL signature to the log', async () => {
    const lines: string[] = []
    const t = await makeTestApp({
      env: { LOG_LEVEL: 'trace' },
      deps: { logger: { level: 'trace', stream: { write: (line: string) => void lines.push(line) } } },
    })
    try {
      const token = await t.token('alice')
      await t.app.inject({
        method: 'GET',
        url: '/files/verification/alice/passport/d/x.pdf?expires=1&sig=SECRETSIG',
        headers: { authorization: `Bearer ${token}` },
      })
      await t.app.inject({
        method: 'GET',
        url: '/v1/verification-documents',
        headers: { authorization: `Bearer ${token}` },
      })
      await t.app.inject({
        method: 'GET',
        url: '/v1/verification-documents',
        headers: { authorization: 'Bearer broken.token.here' },
      })
      const log = lines.join('')
      expect(log).toContain('incoming request')
      expect(log).toContain('sig=[redacted]')
      expect(log).not.toContain('SECRETSIG')
      expect(log).not.toContain(token)
      expect(log).not.toContain('broken.token.here')
    } finally {
      await t.close()
    }
  })
})
