import { createServer, type AddressInfo } from 'node:net'
import { ensureGeneratedSecrets, loadConfig } from '../../config/index.js'
import { buildHttpApp, buildInternalApp, createMetrics, startHttpServer } from '../../http/index.js'
import { startSchedules } from '../../ops/index.js'
import type { Command } from '../command.js'

/**
 * `PORT=0` (any free port) with no PUBLIC_BASE_URL: the URLs handed out must name the port the
 * service will have, and the store is built before listening, so pick a free one first.
 */
async function concretePort(env: Record<string, string | undefined>): Promise<Record<string, string | undefined>> {
  if (env.PORT?.trim() !== '0' || env.PUBLIC_BASE_URL?.trim()) return env
  const probe = createServer()
  await new Promise<void>((resolve, reject) =>
    probe.once('error', reject).listen(0, env.HOST?.trim() || '127.0.0.1', resolve),
  )
  const { port } = probe.address() as AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return { ...env, PORT: String(port) }
}

export const serve: Command = {
  name: 'serve',
  summary: 'Run the HTTP service (API, delivery of stored files, health, metrics, docs at /docs).',
  description:
    'With no configuration: disk store and SQLite under ./var, in-process queue and workers, files\n' +
    'delivered by the service through signed URLs. PORT and HOST choose the address. Stops\n' +
    'gracefully on SIGINT/SIGTERM (in-flight requests finish, new ones get 503).',
  options: {},
  async run({ env: given, stderr, signal }) {
    const env = await concretePort(given)
    // What loadCommandConfig does, keeping the outcome for the start-up message.
    const secrets = ensureGeneratedSecrets(env)
    const config = loadConfig(env)
    // The composition root (src/app.ts) is loaded only when serving, so that the other commands
    // do not pay for (or depend on) everything it builds.
    const { createStorage } = await import('../../app.js')
    // One registry for every layer: the pipeline stages, queue depth and failed jobs are recorded
    // by the storage, requests and uploads by the app.
    const metrics = createMetrics({ defaultMetrics: true })
    const storage = await createStorage(config, { metrics })
    let server: Awaited<ReturnType<typeof startHttpServer>> | undefined
    let internal: Awaited<ReturnType<typeof startHttpServer>> | undefined
    // A serve that runs workers (the embedded default) also runs the maintenance schedules, since no
    // separate worker process will; with SERVE_WORKERS=0 the `worker` processes do.
    const scheduler = config.queue.serveWorkers > 0 ? await startSchedules(storage) : undefined
    try {
      const app = buildHttpApp({ config, files: storage.files, store: storage.store, health: storage.health, metrics })
      server = await startHttpServer(app, config)
      if (config.http.internal) {
        internal = await startHttpServer(
          buildInternalApp({ config, health: storage.health, metrics, source: app }),
          config,
          { address: config.http.internal },
        )
      }
      const docsAt = internal ?? server
      stderr.write(
        `localex-storage listening on ${server.url} (store: ${config.storage.driver}; API docs: ${docsAt.url}/docs)\n`,
      )
      if (internal) stderr.write(`Internal listener (metrics, docs, health) on ${internal.url}\n`)
      stderr.write(`Development sign-in is ${config.auth.devTokens ? 'on' : 'off'} (${config.auth.devTokensReason})\n`)
      if (config.auth.devTokens) stderr.write(`Try it in a browser: ${server.url}/\n`)
      if (secrets.generated.length > 0) {
        stderr.write(`Generated development secrets in ${secrets.file} (keep it private).\n`)
        stderr.write('Get a token with: localex-storage token --user alice   (add --admin for an admin)\n')
      }
      if (!signal.aborted)
        await new Promise<void>((done) => signal.addEventListener('abort', () => done(), { once: true }))
      stderr.write('Shutting down: finishing requests in flight...\n')
      return 0
    } finally {
      await server?.close()
      await internal?.close()
      await scheduler?.close()
      await storage.close()
    }
  },
}
