import { inspect } from 'node:util'
import { redactConfig } from '../../config/index.js'
import { createObjectStore } from '../../storage/index.js'
import { JSON_OPTION, type Command } from '../command.js'
import { loadCommandConfig } from '../config.js'

export const check: Command = {
  name: 'check',
  summary: 'Print the loaded configuration (secrets redacted) and test the connection to the object store.',
  description: 'Exits 0 when the store answers and the bucket (or disk root) is usable, 1 otherwise.',
  options: { json: JSON_OPTION },
  async run({ env, values, stdout, signal }) {
    const config = loadCommandConfig(env)
    const store = createObjectStore(config)
    const started = performance.now()
    let storeResult: { ok: true; ms: number } | { ok: false; code: string; message: string }
    try {
      await store.ping({ signal })
      storeResult = { ok: true, ms: Math.round(performance.now() - started) }
    } catch (error) {
      const e = error as { code?: string; message?: string }
      storeResult = { ok: false, code: e.code ?? 'INTERNAL', message: e.message ?? String(error) }
    } finally {
      await store.close()
    }
    const target =
      config.storage.driver === 's3'
        ? `s3://${config.storage.s3.bucket}` +
          (config.storage.s3.endpoint ? ` at ${config.storage.s3.endpoint}` : ` in ${config.storage.s3.region}`)
        : `disk at ${config.storage.disk.root}`
    if (values.json) {
      stdout.write(JSON.stringify({ config: redactConfig(config), store: { target, ...storeResult } }, null, 2) + '\n')
    } else {
      stdout.write(
        `Configuration:\n` +
          inspect(redactConfig(config), { depth: 5, colors: Boolean(stdout.isTTY), breakLength: 100 }) +
          '\n\n',
      )
      stdout.write(
        storeResult.ok
          ? `Store: ${target}: OK (${storeResult.ms} ms)\n`
          : `Store: ${target}: FAILED ${storeResult.code}: ${storeResult.message}\n`,
      )
    }
    return storeResult.ok ? 0 : 1
  },
}
