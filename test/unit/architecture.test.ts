import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

/**
 * The layering of docs/architecture.md, checked on the import statements of src/: a folder imports
 * only folders below it (never its own row or above), and vendor SDKs stay inside the adapters that
 * wrap them.
 */
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src')

/** Rows of the diagram, bottom first. Folders on one row may not import each other. */
const ROWS: readonly (readonly string[])[] = [
  ['errors'],
  ['domain', 'lib'],
  ['config'],
  ['images', 'storage', 'db'],
  ['cdn', 'jobs'],
  ['files', 'ops'],
  ['http'],
  ['app.ts'],
  ['index.ts', 'cli'],
]
const rowOf = (unit: string): number => ROWS.findIndex((row) => row.includes(unit))

/** Vendor packages and the only places that may import them. */
const VENDORS: readonly { pkg: RegExp; allowed: RegExp }[] = [
  {
    pkg: /^@aws-sdk\/(client-s3|lib-storage|s3-request-presigner|s3-presigned-post)$/,
    allowed: /^storage\/drivers\/s3\//,
  },
  { pkg: /^@aws-sdk\/(client-cloudfront|cloudfront-signer)$/, allowed: /^cdn\/cloudfront\.ts$/ },
  { pkg: /^fastify$|^@fastify\//, allowed: /^http\// },
  { pkg: /^busboy$/, allowed: /^http\// },
  { pkg: /^bullmq$|^ioredis$/, allowed: /^jobs\/|^http\// },
  { pkg: /^kysely$|^pg$|^better-sqlite3$/, allowed: /^db\// },
  { pkg: /^sharp$|^pdf-lib$|^libheif-js/, allowed: /^images\// },
]

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

/** `files/upload.ts` → `files`; `app.ts` → `app.ts`. */
const unitOf = (path: string): string => (relative(SRC, path).split('/')[0] as string).replace(/\.js$/, '.ts')

const IMPORT = /^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'/gm

const imports = sourceFiles(SRC).flatMap((file) => {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(IMPORT)].map((m) => ({ file, spec: m[1] as string }))
})

describe('architecture', () => {
  it('every import points down the layers, never sideways or up', () => {
    const wrong: string[] = []
    for (const { file, spec } of imports) {
      if (!spec.startsWith('.')) continue
      const from = unitOf(file)
      const to = unitOf(resolve(dirname(file), spec))
      if (from === to) continue
      const [a, b] = [rowOf(from), rowOf(to)]
      expect(a, `${from} is not on the diagram`).toBeGreaterThanOrEqual(0)
      expect(b, `${to} is not on the diagram`).toBeGreaterThanOrEqual(0)
      if (b >= a) wrong.push(`${relative(SRC, file)} imports ${spec}`)
    }
    expect(wrong).toEqual([])
  })

  it('vendor SDKs are imported only inside the adapters that wrap them', () => {
    const wrong: string[] = []
    for (const { file, spec } of imports) {
      const rule = VENDORS.find((v) => v.pkg.test(spec))
      if (rule && !rule.allowed.test(relative(SRC, file))) wrong.push(`${relative(SRC, file)} imports ${spec}`)
    }
    expect(wrong).toEqual([])
  })
})
