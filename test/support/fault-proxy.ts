import { connect, createServer, type Server, type Socket } from 'node:net'

/**
 * A TCP proxy in front of a real dependency (radosgw, PostgreSQL, Redis) whose behaviour a test
 * changes while traffic flows, to see every fault as the service's client libraries see it:
 *
 * - `pass`: bytes flow both ways (optionally with `responseDelayMs`, see below);
 * - `refuse`: the listener is closed, so new connections get ECONNREFUSED (the dependency is down);
 * - `blackhole`: new connections are accepted and whatever is sent is read and dropped; nothing
 *   ever comes back (a hung server, or a half-open connection after a network partition);
 * - `reset`: new connections are accepted and reset at once (RST).
 *
 * Changing the mode does not touch open connections; `cut()` closes them (FIN) and `reset()`
 * resets them (RST), as a restarting server or a dropped network would.
 *
 * `responseDelayMs` holds back the first bytes of every answer by that long: a server that takes
 * N seconds per request. The proxy notices a new request when the client sends after the server
 * has answered, which matches HTTP/1.1, the PostgreSQL protocol and RESP alike.
 */
export type FaultMode = 'pass' | 'refuse' | 'blackhole' | 'reset'

export class FaultProxy {
  #server: Server | undefined
  #mode: FaultMode = 'pass'
  readonly #pairs = new Set<{ client: Socket; upstream: Socket | undefined }>()
  port = 0
  responseDelayMs = 0
  /** Connections accepted since the start (each mode counts). */
  connections = 0

  constructor(
    readonly targetHost: string,
    readonly targetPort: number,
  ) {}

  static for(url: string, defaultPort: number): FaultProxy {
    const target = new URL(url)
    return new FaultProxy(
      target.hostname === 'localhost' ? '127.0.0.1' : target.hostname,
      Number(target.port || defaultPort),
    )
  }

  get mode(): FaultMode {
    return this.#mode
  }

  async start(): Promise<void> {
    await this.#listen()
  }

  /** Switches mode; `refuse` closes the listener (open connections stay), the others reopen it. */
  async set(mode: FaultMode, options: { responseDelayMs?: number } = {}): Promise<void> {
    if (options.responseDelayMs !== undefined) this.responseDelayMs = options.responseDelayMs
    this.#mode = mode
    if (mode === 'refuse') await this.#close()
    else if (!this.#server) await this.#listen()
  }

  /** Closes every open connection (FIN both ways), as a server restart does. */
  cut(): void {
    for (const pair of this.#pairs) {
      pair.client.end()
      pair.upstream?.end()
      pair.client.destroy()
      pair.upstream?.destroy()
    }
    this.#pairs.clear()
  }

  /** Resets every open connection (RST), as a dropped network or a killed peer does. */
  reset(): void {
    for (const pair of this.#pairs) {
      pair.client.resetAndDestroy()
      pair.upstream?.resetAndDestroy()
    }
    this.#pairs.clear()
  }

  async stop(): Promise<void> {
    this.cut()
    await this.#close()
  }

  /** The URL with host and port replaced by the proxy's. */
  wrap(url: string): string {
    const u = new URL(url)
    u.hostname = '127.0.0.1'
    u.port = String(this.port)
    return u.toString()
  }

  async #listen(): Promise<void> {
    const server = createServer((client) => this.#accept(client))
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.port, '127.0.0.1', () => resolve())
    })
    this.#server = server
    const address = server.address()
    if (address && typeof address !== 'string') this.port = address.port
  }

  async #close(): Promise<void> {
    const server = this.#server
    this.#server = undefined
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  #accept(client: Socket): void {
    this.connections += 1
    client.on('error', () => undefined)
    if (this.#mode === 'reset') {
      client.resetAndDestroy()
      return
    }
    const pair: { client: Socket; upstream: Socket | undefined } = { client, upstream: undefined }
    this.#pairs.add(pair)
    client.on('close', () => {
      pair.upstream?.destroy()
      this.#pairs.delete(pair)
    })
    if (this.#mode === 'blackhole') {
      client.resume()
      return
    }
    const upstream = connect(this.targetPort, this.targetHost)
    pair.upstream = upstream
    // A new request starts when the client writes after the server answered: its answer is held.
    let answered = true
    let held: Buffer[] | undefined
    let flushed: Promise<void> = Promise.resolve()
    const afterFlush = (fn: () => void) => void flushed.then(fn)
    upstream.on('error', () => afterFlush(() => client.destroy()))
    upstream.on('close', () => afterFlush(() => client.destroy()))
    client.on('data', (chunk: Buffer) => {
      if (this.#mode === 'blackhole') return
      if (answered) {
        answered = false
        if (this.responseDelayMs > 0) held = []
      }
      upstream.write(chunk)
    })
    client.on('end', () => upstream.end())
    upstream.on('data', (chunk: Buffer) => {
      if (this.#mode === 'blackhole') return
      answered = true
      if (!held) {
        client.write(chunk)
        return
      }
      if (held.length === 0) {
        const delay = this.responseDelayMs
        flushed = new Promise<void>((resolve) => {
          setTimeout(() => {
            for (const c of held ?? []) client.write(c)
            held = undefined
            resolve()
          }, delay).unref()
        })
      }
      held.push(chunk)
    })
    upstream.on('end', () => afterFlush(() => client.end()))
  }
}
