import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { ERROR_CATALOGUE, ERROR_CODES, LocalexError } from '../../src/errors/index.js'

describe('error catalogue', () => {
  it('documents every code with its status in docs/errors.md, and nothing more', async () => {
    const md = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8')
    const documented = [...md.matchAll(/^### ([A-Z_]+)\n(\d{3})\./gm)].map((m) => [m[1], Number(m[2])])
    expect(Object.fromEntries(documented)).toEqual(
      Object.fromEntries(ERROR_CODES.map((c) => [c, ERROR_CATALOGUE[c].status])),
    )
  })

  it('carries code, status, cause and safe details', () => {
    const cause = new Error('socket hang up')
    const error = new LocalexError('STORE_UNAVAILABLE', 'Store did not answer', { cause, details: { key: 'a/b' } })
    expect(error).toBeInstanceOf(Error)
    expect(error).toMatchObject({
      code: 'STORE_UNAVAILABLE',
      status: 503,
      retryable: true,
      cause,
      details: { key: 'a/b' },
    })
    expect(error.toJSON()).toEqual({
      code: 'STORE_UNAVAILABLE',
      status: 503,
      title: 'Store unavailable',
      detail: 'Store did not answer',
      details: { key: 'a/b' },
    })
  })
})
