import { connect, createServer, type Server, type Socket } from 'node:net'

/**
 * A TCP proxy in front of a real local server (PostgreSQL, Redis) that a test can take down and
 * bring back on the same port: the dependency "going away" and "returning" as a client sees it,
 * connections cut mid-use included.
 */
export class TcpProxy {
  #server: Server | undefined
  readonly #sockets = new Set<Socket>()
  port = 0

  constructor(
    readonly targetHost: string,
    readonly targetPort: number,
  ) {}

  static for(url: string, defaultPort: number): TcpProxy {
    const target = new URL(url)
    return new TcpProxy(target.hostname, Number(target.port || defaultPort))
  }

  async start(): Promise<void> {
    this.#server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost)
      for (const s of [client, upstream]) {
        this.#sockets.add(s)
        s.on('close', () => this.#sockets.delete(s))
        s.on('error', () => undefined)
      }
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>((resolve) => this.#server?.listen(this.port, '127.0.0.1', resolve))
    const address = this.#server.address()
    if (address && typeof address !== 'string') this.port = address.port
  }

  /** Cuts every open connection and refuses new ones (ECONNREFUSED) until `start()`. */
  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy()
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()))
    this.#server = undefined
  }

  /** The URL with host and port replaced by the proxy's. */
  wrap(url: string): string {
    const u = new URL(url)
    u.hostname = '127.0.0.1'
    u.port = String(this.port)
    return u.toString()
  }
}
