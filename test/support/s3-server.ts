import { execFile, spawn } from 'node:child_process'
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

/**
 * The local S3 server (radosgw, scripts/s3-server.sh) shared by the test run's globalSetup and the
 * benchmarks. Several runs (another engineer's tests, a benchmark) may use one server at once, so
 * each holds a lease file named after its pid; the run that started the server stops it only when
 * no other live run holds a lease.
 */
const SCRIPT = fileURLToPath(new URL('../../scripts/s3-server.sh', import.meta.url))
const LEASES = `${process.env.LOCALEX_RGW_DIR ?? '/tmp/localex-rgw'}.leases`
const run = promisify(execFile)

export interface S3ServerLease {
  /** What `scripts/s3-server.sh env` prints: S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, … */
  readonly vars: Readonly<Record<string, string>>
  /** Whether this lease started the server. */
  readonly started: boolean
  /** Drops the lease; stops the server if this lease started it and nobody else still uses it. */
  release(): Promise<void>
}

/** Makes sure radosgw answers (starting it when it does not) and holds a lease on it. */
export async function leaseS3Server(options: { log?: (message: string) => void } = {}): Promise<S3ServerLease> {
  // The script is the single source of ports, keys and the run directory (LOCALEX_RGW_* vars).
  const vars = parseEnv((await run('bash', [SCRIPT, 'env'])).stdout)
  // Registered before looking at the server, so a run that started it does not stop it under a
  // concurrent run that is still using it.
  const lease = `${LEASES}/${process.pid}`
  mkdirSync(LEASES, { recursive: true })
  writeFileSync(lease, '')
  let started = false
  try {
    if (!(await answers())) {
      await script('start')
      started = true
    }
  } catch (error) {
    rmSync(lease, { force: true })
    throw error
  }
  return {
    vars,
    started,
    async release() {
      rmSync(lease, { force: true })
      if (!started) return
      const others = liveLeases()
      if (others.length) {
        options.log?.(`s3-server: left running, still in use by the runs of pids ${others.join(', ')}`)
        return
      }
      await script('stop')
    },
  }
}

async function answers(): Promise<boolean> {
  try {
    await run('bash', [SCRIPT, 'status'])
    return true
  } catch {
    return false
  }
}

// Output goes straight to the terminal: starting can take a while (and install packages).
function script(command: 'start' | 'stop'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SCRIPT, command], { stdio: ['ignore', 'inherit', 'inherit'] })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (code === 0) resolve()
      else
        reject(
          new Error(`scripts/s3-server.sh ${command} failed (${signal ?? `exit code ${code}`}); see its output above`),
        )
    })
  })
}

function liveLeases(): number[] {
  const live: number[] = []
  for (const name of readdirSync(LEASES)) {
    const pid = Number(name)
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue
    try {
      process.kill(pid, 0)
      live.push(pid)
    } catch {
      // Left by a run that was killed before its teardown.
      rmSync(`${LEASES}/${name}`, { force: true })
    }
  }
  return live
}

function parseEnv(text: string): Record<string, string> {
  const vars: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=')
    if (eq > 0) vars[line.slice(0, eq)] = line.slice(eq + 1)
  }
  return vars
}
