import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { createServer, request, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const SCRIPT = fileURLToPath(new URL('../../scripts/varnish.sh', import.meta.url))

/** Whether varnishd is installed (Debian: `apt-get install varnish`; .ci/run installs it). */
export function hasVarnish(): boolean {
  return ['/usr/sbin/varnishd', '/usr/bin/varnishd', '/usr/local/sbin/varnishd'].some((p) => existsSync(p))
}

/** A port that was free a moment ago (the OS picks it; a race with another process is unlikely). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

export interface VarnishEdge {
  port: number
  /** `http://127.0.0.1:<port>` */
  url: string
  stop(): Promise<void>
}

/** Starts Varnish with the project's VCL (scripts/varnish.sh) on `port`, in front of `backend` (host:port). */
export async function startVarnish(port: number, backend: string): Promise<VarnishEdge> {
  const work = mkdtempSync(join(tmpdir(), 'localex-varnish-'))
  try {
    await run(SCRIPT, ['start', work, String(port), backend], { timeout: 30_000 })
  } catch (error) {
    await run(SCRIPT, ['stop', work]).catch(() => undefined)
    const e = error as { stderr?: string; message: string }
    throw new Error(`Varnish did not start: ${e.stderr || e.message}`)
  }
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      await run(SCRIPT, ['stop', work], { timeout: 30_000 })
    },
  }
}

export interface RawResponse {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

/** One HTTP request with full control (method PURGE, source address); the body read to the end. */
export function rawRequest(
  url: string,
  options: { method?: string; localAddress?: string; headers?: Record<string, string> } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end()
  })
}
