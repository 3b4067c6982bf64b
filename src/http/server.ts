import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../config/index.js'
import { serverTimeouts } from './app.js'

export interface RunningHttpServer {
  /** `http://host:port` actually bound (port 0 resolved). */
  url: string
  address: AddressInfo
  /**
   * Graceful stop: no new connections, 503 for new requests on kept-alive ones, idle connections
   * closed, in-flight requests finish; whatever is still open after `shutdownTimeoutMs` is cut.
   */
  close(): Promise<void>
}

export interface StartOptions {
  /** How long in-flight requests get to finish on close (default 10 s). */
  shutdownTimeoutMs?: number
  /** Where to listen (default `config.http.host:port`). */
  address?: { host: string; port: number }
}

/** Listens on `config.http.host:port` (or `options.address`). */
export async function startHttpServer(
  app: FastifyInstance,
  config: Config,
  options: StartOptions = {},
): Promise<RunningHttpServer> {
  const { host, port } = options.address ?? config.http
  await app.listen({ host, port })
  const server = app.server
  // The same values were given to http.createServer; set again in case a serverFactory or a
  // plugin replaced them (connectionsCheckingInterval can only be given at creation).
  const timeouts = serverTimeouts(config)
  server.headersTimeout = timeouts.headersTimeout
  server.requestTimeout = timeouts.requestTimeout
  const address = server.address() as AddressInfo
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
  let closing: Promise<void> | undefined
  return {
    url: `http://${shown}:${address.port}`,
    address,
    close() {
      closing ??= (async () => {
        const timer = setTimeout(() => server.closeAllConnections(), options.shutdownTimeoutMs ?? 10_000)
        timer.unref()
        try {
          await app.close()
        } finally {
          clearTimeout(timer)
        }
      })()
      return closing
    },
  }
}
