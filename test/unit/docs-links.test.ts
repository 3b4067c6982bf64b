import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../../', import.meta.url))
const pages = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
]
// A newcomer reads the README first; past this size it stops being an introduction.
const README_MAX_BYTES = 15 * 1024

/** Links and image sources of a markdown page, outside fenced code blocks and inline code. */
function linksOf(markdown: string): string[] {
  const prose = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '')
  return [...prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!)
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const anchors = new Set<string>()
  const prose = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
  for (const [, heading] of prose.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = heading!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-')
    const n = seen.get(slug) ?? 0
    seen.set(slug, n + 1)
    anchors.add(n === 0 ? slug : `${slug}-${n}`)
  }
  return anchors
}

describe('documentation', () => {
  it(`README.md stays an introduction: at most ${README_MAX_BYTES} bytes`, () => {
    expect(statSync(join(root, 'README.md')).size).toBeLessThanOrEqual(README_MAX_BYTES)
  })

  it.each(pages)('%s: every relative link resolves inside the repository', (page) => {
    const markdown = readFileSync(join(root, page), 'utf8')
    const broken: string[] = []
    for (const link of linksOf(markdown)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue // http:, https:, mailto: …
      const [path = '', anchor] = link.split('#', 2)
      const target = path === '' ? join(root, page) : join(dirname(join(root, page)), decodeURIComponent(path))
      if (relative(root, target).startsWith('..')) broken.push(`${link} (outside the repository)`)
      else if (!existsSync(target)) broken.push(`${link} (no such file)`)
      else if (anchor && target.endsWith('.md') && !anchorsOf(readFileSync(target, 'utf8')).has(anchor))
        broken.push(`${link} (no such heading)`)
    }
    expect(broken).toEqual([])
  })

  it.each(pages)('%s: names no place outside the repository and no past issue', (page) => {
    const markdown = readFileSync(join(root, page), 'utf8')
    expect(markdown).not.toMatch(/\.\.\/shared|[Ii]ssue [0-9]+/)
  })
})
