import type { TestProject } from 'vitest/node'
import type { S3TestEnv } from '../support/s3.js'
import { leaseS3Server } from '../support/s3-server.js'

/**
 * Makes sure a real S3 server (radosgw) answers before any test runs: uses the one that is
 * already up, else starts one with scripts/s3-server.sh and stops it again afterwards (unless
 * another run still uses it). Tests never skip for lack of S3; if it cannot be started, the run
 * fails here, with the reason.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await leaseS3Server({ log: (message) => console.log(message) })
  const s3: S3TestEnv = {
    endpoint: required(server.vars, 'S3_ENDPOINT'),
    accessKeyId: required(server.vars, 'AWS_ACCESS_KEY_ID'),
    secretAccessKey: required(server.vars, 'AWS_SECRET_ACCESS_KEY'),
    region: required(server.vars, 'AWS_REGION'),
  }

  project.provide('s3', s3)
  // Forked workers inherit the environment of this process (verified by
  // test/setup/s3-server.test.ts); scripts and child processes of tests see it too.
  process.env.LOCALEX_TEST_S3_ENDPOINT = s3.endpoint
  process.env.LOCALEX_TEST_S3_ACCESS_KEY = s3.accessKeyId
  process.env.LOCALEX_TEST_S3_SECRET_KEY = s3.secretAccessKey

  return () => server.release()
}

function required(vars: Readonly<Record<string, string>>, name: string): string {
  const value = vars[name]
  if (!value) throw new Error(`scripts/s3-server.sh env printed no ${name}`)
  return value
}
