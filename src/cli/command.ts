import type { ParseArgsConfig } from 'node:util'

export type OptionSpec = NonNullable<ParseArgsConfig['options']>[string] & { description: string; valueName?: string }

/** One operator command: its flags are declared once, for both parsing and `--help`. */
export interface Command {
  name: string
  summary: string
  usage?: string
  /** Extra paragraphs for `--help`. */
  description?: string
  options: Record<string, OptionSpec>
  allowPositionals?: boolean
  run(ctx: CommandContext): Promise<number>
}

export interface CommandContext {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>
  positionals: string[]
  env: Record<string, string | undefined>
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
  /** Fires on SIGINT/SIGTERM so long commands stop cleanly and can be run again. */
  signal: AbortSignal
}

export const JSON_OPTION: OptionSpec = { type: 'boolean', description: 'Print machine-readable JSON instead of text.' }

export function formatHelp(program: string, command: Command): string {
  const lines = [
    `Usage: ${program} ` +
      `${command.name}${command.usage ? ` ${command.usage}` : Object.keys(command.options).length ? ' [options]' : ''}`,
    '',
    command.summary,
  ]
  if (command.description) lines.push('', command.description)
  const entries = Object.entries({
    ...command.options,
    help: { type: 'boolean', short: 'h', description: 'Show this help.' } as OptionSpec,
  })
  if (entries.length) {
    lines.push('', 'Options:')
    const rows = entries.map(
      ([name, o]) =>
        [
          `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` <${o.valueName ?? 'value'}>` : ''}`,
          `${o.description}${o.default !== undefined ? ` (default: ${String(o.default)})` : ''}`,
        ] as const,
    )
    const width = Math.max(...rows.map(([l]) => l.length))
    for (const [left, right] of rows) lines.push(`  ${left.padEnd(width)}  ${right}`)
  }
  return lines.join('\n') + '\n'
}
