import { execFile, spawn } from 'node:child_process'
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { TestProject } from 'vitest/node'
import type { S3TestEnv } from '../support/s3.js'

const SCRIPT = fileURLToPath(new URL('../../scripts/s3-server.sh', import.meta.url))
const run = promisify(execFile)

/**
 * Makes sure a real S3 server (radosgw) answers before any test runs: uses the one that is
 * already up, else starts one with scripts/s3-server.sh and stops it again afterwards. Tests
 * never skip for lack of S3; if it cannot be started, the run fails here, with the reason.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The script is the single source of ports, keys and the run directory (LOCALEX_RGW_* vars).
  const vars = parseEnv((await run('bash', [SCRIPT, 'env'])).stdout)
  const s3: S3TestEnv = {
    endpoint: required(vars, 'S3_ENDPOINT'),
    accessKeyId: required(vars, 'AWS_ACCESS_KEY_ID'),
    secretAccessKey: required(vars, 'AWS_SECRET_ACCESS_KEY'),
    region: required(vars, 'AWS_REGION'),
  }

  // Registered before looking at the server, so a run that started it does not stop it under
  // a concurrent run (another engineer's, in the same checkout) that is still using it.
  const leases = `${process.env.LOCALEX_RGW_DIR ?? '/tmp/localex-rgw'}.leases`
  const lease = `${leases}/${process.pid}`
  mkdirSync(leases, { recursive: true })
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

  project.provide('s3', s3)
  // Forked workers inherit the environment of this process (verified by
  // test/setup/s3-server.test.ts); scripts and child processes of tests see it too.
  process.env.LOCALEX_TEST_S3_ENDPOINT = s3.endpoint
  process.env.LOCALEX_TEST_S3_ACCESS_KEY = s3.accessKeyId
  process.env.LOCALEX_TEST_S3_SECRET_KEY = s3.secretAccessKey

  return async () => {
    rmSync(lease, { force: true })
    if (!started) return
    const others = liveLeases(leases)
    if (others.length) {
      console.log(`s3-server: left running, still in use by the test runs of pids ${others.join(', ')}`)
      return
    }
    await script('stop')
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
      else reject(new Error(`scripts/s3-server.sh ${command} failed (${signal ?? `exit code ${code}`}); see its output above`))
    })
  })
}

function liveLeases(dir: string): number[] {
  const live: number[] = []
  for (const name of readdirSync(dir)) {
    const pid = Number(name)
    if (!Number.isInteger(pid) || pid <= 0) continue
    try {
      process.kill(pid, 0)
      live.push(pid)
    } catch {
      // Left by a run that was killed before its teardown.
      rmSync(`${dir}/${name}`, { force: true })
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

function required(vars: Record<string, string>, name: string): string {
  const value = vars[name]
  if (!value) throw new Error(`scripts/s3-server.sh env printed no ${name}`)
  return value
}
