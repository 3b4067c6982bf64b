import type { Progress } from '../ops/types.js'

/**
 * Progress of a long command on stderr: a bar redrawn in place on a terminal (at most 10 times a
 * second), plain lines otherwise (when the phase changes and every few seconds), so logs of a
 * scheduled or piped run stay readable. stdout is left to the result (text or `--json`).
 */
export function progressReporter(
  stderr: NodeJS.WritableStream & { isTTY?: boolean },
  options: { intervalMs?: number } = {},
): { onProgress: (p: Progress) => void; done: () => void } {
  const tty = Boolean(stderr.isTTY)
  const interval = options.intervalMs ?? (tty ? 100 : 5000)
  let last = 0
  let phase = ''
  let drawn = false
  const render = (p: Progress) => {
    const counter = p.total !== undefined ? `${p.done}/${p.total}` : `${p.done}`
    if (!tty) return `${p.phase}: ${counter}${p.detail ? ` (${p.detail})` : ''}\n`
    const width = 24
    const bar = p.total
      ? `[${'#'.repeat(Math.round((Math.min(p.done, p.total) / p.total) * width)).padEnd(width, '-')}] ` +
        `${Math.floor((Math.min(p.done, p.total) / p.total) * 100)}% `
      : ''
    const line = `${p.phase} ${bar}${counter}${p.detail ? ` ${p.detail}` : ''}`
    const columns = (stderr as { columns?: number }).columns ?? 100
    return `\r\x1b[K${line.slice(0, columns - 1)}`
  }
  return {
    onProgress(p) {
      const now = Date.now()
      const final = p.total !== undefined && p.done >= p.total
      if (p.phase === phase && now - last < interval && !final) return
      phase = p.phase
      last = now
      stderr.write(render(p))
      drawn = tty
    },
    done() {
      if (drawn) stderr.write('\r\x1b[K')
      drawn = false
    },
  }
}

/** Bytes as people read them (binary units, as the storage bills count them). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let value = bytes
  let unit = 0
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)} ${units[unit]}`
}

/** A plain text table: columns padded to their widest cell; numbers right-aligned. */
export function table(head: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cells = [head, ...rows.map((r) => r.map(String))]
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  const numeric = head.map(
    (_, i) =>
      rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || /^[\d.,$-]+( [KMGTP]?i?B)?$/.test(String(r[i]))),
  )
  return (
    cells
      .map(
        (r) =>
          '  ' +
          r
            .map((c, i) => (numeric[i] && cells.indexOf(r) > 0 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
            .join('  ')
            .trimEnd(),
      )
      .join('\n') + '\n'
  )
}
