import { parseArgs } from 'node:util'
import { isLocalexError } from '../errors/index.js'
import { formatHelp, type Command } from './command.js'
import { commands } from './commands/index.js'

const PROGRAM = 'localex-storage'

function overview(): string {
  const width = Math.max(...commands.map((c) => c.name.length))
  return (
    [
      `Usage: ${PROGRAM} <command> [options]`,
      '',
      'Storage layer of LocalEx: photos and documents in S3 or on disk. Configuration comes from the',
      'environment (see the README); `check` shows what was loaded.',
      '',
      'Commands:',
      ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
      '',
      `Run \`${PROGRAM} <command> --help\` for a command's options.`,
    ].join('\n') + '\n'
  )
}

/** Runs the CLI and resolves to the exit code; never calls process.exit itself (testable). */
export async function runCli(
  argv: string[],
  io: {
    env?: Record<string, string | undefined>
    stdout?: NodeJS.WritableStream
    stderr?: NodeJS.WritableStream
    signal?: AbortSignal
  } = {},
): Promise<number> {
  const stdout = io.stdout ?? process.stdout
  const stderr = io.stderr ?? process.stderr
  const [name, ...rest] = argv
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const target = name === 'help' ? commands.find((c) => c.name === rest[0]) : undefined
    stdout.write(target ? formatHelp(PROGRAM, target) : overview())
    return 0
  }
  if (name === '--version' || name === '-v') {
    const { createRequire } = await import('node:module')
    stdout.write(`${(createRequire(import.meta.url)('../../package.json') as { version: string }).version}\n`)
    return 0
  }
  const command: Command | undefined = commands.find((c) => c.name === name)
  if (!command) {
    stderr.write(`Unknown command "${name}".\n\n${overview()}`)
    return 2
  }
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: command.allowPositionals ?? false,
      strict: true,
    })
  } catch (error) {
    stderr.write(`${(error as Error).message}\n\n${formatHelp(PROGRAM, command)}`)
    return 2
  }
  if (parsed.values.help) {
    stdout.write(formatHelp(PROGRAM, command))
    return 0
  }
  const controller = new AbortController()
  io.signal?.addEventListener('abort', () => controller.abort(io.signal?.reason), { once: true })
  try {
    return await command.run({
      values: parsed.values,
      positionals: parsed.positionals,
      env: io.env ?? process.env,
      stdout,
      stderr,
      signal: controller.signal,
    })
  } catch (error) {
    if (isLocalexError(error)) {
      stderr.write(`${PROGRAM} ${name}: ${error.code}: ${error.message}\n`)
      return error.code === 'CONFIG_INVALID' ? 78 : 1
    }
    stderr.write(`${PROGRAM} ${name}: ${(error as Error).stack ?? String(error)}\n`)
    return 1
  }
}
